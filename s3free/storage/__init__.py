"""Disks, BeeXL shard files, coalesced segments and stripe placement. Knows nothing of
HTTP or S3 XML; the object layer drives it."""
