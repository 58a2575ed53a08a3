"""The LMDB index: buckets, object manifests, multipart state, data references and
segment accounting. It is a cache of what the disks say (rebuild-index recreates it)."""
