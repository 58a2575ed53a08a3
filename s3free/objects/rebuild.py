"""Rebuild the LMDB index from the disks alone (the server must be stopped).

Every disk carries the segment journal: small objects (DATA records), commit records of
large objects (OBJECT, whose parts are BeeXL shard files), tombstones (DELETE) and bucket
events. Replaying it with "newest stamp wins" per bucket and per key gives back exactly
the state the index had; damaged records are read from another disk's copy.
"""
from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass

from s3free.meta.index import Index
from s3free.storage import records
from s3free.storage.disks import DiskSet
from s3free.storage.segments import list_segments, scan_any

log = logging.getLogger("s3free.rebuild")


@dataclass
class RebuildStats:
    segments: int = 0
    records: int = 0
    buckets: int = 0
    objects: int = 0
    tombstones: int = 0
    seconds: float = 0.0


class IndexExists(RuntimeError):
    pass


def rebuild_index(disk_paths: list[str], meta_dir: str, k: int, m: int, force: bool = False,
                  progress: Callable[[int, int, str], None] | None = None) -> RebuildStats:
    start = time.monotonic()
    disks = DiskSet(disk_paths, k, m, create=False)
    if os.path.exists(os.path.join(meta_dir, "data.mdb")):
        if not force:
            raise IndexExists(f"an index already exists in {meta_dir}; stop the server and pass --force "
                              "to replace it")
        shutil.rmtree(meta_dir)
    stats = RebuildStats()
    buckets: dict[str, tuple] = {}          # name -> (stamp, type, meta, loc)
    objects: dict[tuple[str, str], tuple] = {}
    seg_sizes: dict[str, int] = {}
    segs = list_segments(disks)
    for i, seg in enumerate(segs):
        if progress:
            progress(i, len(segs), seg)
        stats.segments += 1
        seg_sizes[seg] = 0          # where its records end (an open segment has a zero tail)
        for offset, rec, length in scan_any(disks, seg):
            seg_sizes[seg] = offset + length
            stats.records += 1
            loc = (seg, offset, length)
            meta = rec.meta
            if rec.type in (records.BUCKET, records.BUCKET_DELETE):
                cur = buckets.get(meta["b"])
                if cur is None or rec.stamp > cur[0]:
                    buckets[meta["b"]] = (rec.stamp, rec.type, meta, loc)
            else:
                key = (meta["b"], meta["k"])
                cur = objects.get(key)
                if cur is None or rec.stamp > cur[0]:
                    objects[key] = (rec.stamp, rec.type, meta, loc)
    if progress:
        progress(len(segs), len(segs), "")
    index = Index(meta_dir)
    live: dict[str, int] = {}
    try:
        with index.write() as txn:
            index.put(txn, "state", b"layout", {"deployment": disks.deployment_id, "k": k, "m": m,
                                                "disks": disks.n})
            for name, (stamp, rtype, meta, loc) in buckets.items():
                live[loc[0]] = live.get(loc[0], 0) + loc[2]
                if rtype != records.BUCKET:
                    continue
                info = {key: meta[key] for key in ("owner", "created", "loc", "st") if key in meta}
                index.put_bucket(txn, name, {**info, "rec": list(loc)})
                stats.buckets += 1
        batch = list(objects.items())
        for i in range(0, len(batch), 5000):
            with index.write() as txn:
                for (bucket, key), (stamp, rtype, meta, loc) in batch[i:i + 5000]:
                    live[loc[0]] = live.get(loc[0], 0) + loc[2]
                    if rtype == records.DELETE:
                        stats.tombstones += 1
                        index.put_tomb(txn, bucket, key, stamp)
                        continue
                    b = buckets.get(bucket)
                    if b is None or b[1] != records.BUCKET or b[0] > stamp:
                        continue        # its bucket is gone (or was re-created later)
                    index.put_object(txn, bucket, key, dict(meta, loc=list(loc)))
                    for p in meta.get("parts", []):
                        index.put(txn, "data", p[1].encode(), {"b": bucket, "k": key, "v": meta["v"]})
                    stats.objects += 1
        with index.write() as txn:
            for seg, size in seg_sizes.items():
                index.put(txn, "segments", seg.encode(), {"total": size, "live": live.get(seg, 0),
                                                          "sealed": True, "writer": seg.split("-")[0]})
    finally:
        index.close()
    stats.seconds = time.monotonic() - start
    log.info("rebuilt the index from %d segments: %d buckets, %d objects", stats.segments, stats.buckets,
             stats.objects)
    return stats
