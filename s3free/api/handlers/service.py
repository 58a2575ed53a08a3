"""ListBuckets: the caller's buckets (the root user sees all)."""
from __future__ import annotations

from .. import s3xml
from ..http import Request, Response, xml
from .common import owner


async def list_buckets(req: Request) -> Response:
    buckets = req.layer.list_buckets(None if req.is_root else req.access_key)
    entries = [s3xml.BucketEntry(b.name, b.created) for b in sorted(buckets, key=lambda b: b.name)]
    return xml(s3xml.list_buckets_xml(owner(req.access_key), entries))
