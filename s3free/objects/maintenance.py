"""Garbage collection and segment compaction.

GC removes what no manifest references: shard files of crashed PUTs, aborted uploads and
overwritten objects (by a reachability check against the index's data references, after
a grace period so writes in flight are never touched), the temp files (`*.heal-*`) of
shard rebuilds killed before their rename, segment files that never made it into the
index, and multipart uploads older than a configured age.

Compaction rewrites segments whose live bytes fell below a ratio: live records are
appended again (through the same group commit) and re-pointed in the index, then the old
segment files are deleted on every disk.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field

from s3free.objects import multipart
from s3free.storage import records
from s3free.storage.segments import SUFFIX, Commit, Location, refused_prefix, scan_any, segment_path, writer_alive

log = logging.getLogger("s3free.maintenance")


@dataclass
class GCStats:
    shard_files_removed: int = 0
    shard_bytes_removed: int = 0
    segments_removed: int = 0
    uploads_aborted: int = 0
    scanned_files: int = 0


async def gc(layer, grace: float = 3600.0, upload_max_age: float = 7 * 86400.0) -> GCStats:
    stats = GCStats()
    now = time.time()
    with layer.index.read() as txn:
        stale = [(v["b"], v["k"], k.hex()) for k, v in layer.index.items(txn, "uploads") if v["t"] < now - upload_max_age]
    for bucket, key, upload_id in stale:
        try:
            await multipart.abort(layer, bucket, key, upload_id)
            stats.uploads_aborted += 1
        except Exception as exc:   # raced with a completion: fine
            log.info("upload %s not aborted: %s", upload_id, exc)
    await asyncio.get_running_loop().run_in_executor(None, _sweep_files, layer, now - grace, stats)
    return stats


def _sweep_files(layer, cutoff: float, stats: GCStats) -> None:
    index = layer.index
    for d in layer.disks.online():
        disk = layer.disks.disks[d]
        for root, _dirs, files in os.walk(disk.objects):
            for name in files:
                stats.scanned_files += 1
                path = os.path.join(root, name)
                data_id = name.split(".", 1)[0]
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                if st.st_mtime > cutoff:
                    continue
                if ".heal-" in name:       # a rebuild's temp file, never renamed: its process died
                    referenced = False
                else:
                    with index.read() as txn:
                        referenced = index.get(txn, "data", data_id.encode()) is not None
                if not referenced:
                    try:
                        os.unlink(path)
                        stats.shard_files_removed += 1
                        stats.shard_bytes_removed += st.st_size
                    except OSError:
                        pass
        try:
            names = os.listdir(disk.segments)
        except OSError:
            continue
        for name in names:
            path = os.path.join(disk.segments, name)
            if SUFFIX + ".heal-" in name:        # a segment rebuild's temp file (its process died)
                known = False
            elif not name.endswith(SUFFIX):
                continue
            else:
                with index.read() as txn:
                    known = index.get(txn, "segments", name[:-len(SUFFIX)].encode()) is not None
            try:
                if not known and os.stat(path).st_mtime <= cutoff:
                    os.unlink(path)
                    stats.segments_removed += 1
            except OSError:
                pass


@dataclass
class CompactStats:
    segments: list[str] = field(default_factory=list)
    bytes_before: int = 0
    records_moved: int = 0
    bytes_moved: int = 0


def candidates(layer, max_live_ratio: float, idle: float = 600.0) -> list[str]:
    """Sealed segments (or unsealed ones of a writer that died, idle for `idle` seconds)
    whose live bytes are below the ratio; never a live writer's open segment."""
    out = []
    now = time.time()
    with layer.index.read() as txn:
        for key, info in layer.index.items(txn, "segments"):
            seg = key.decode()
            if seg == layer.log._segment or info["total"] == 0:
                continue
            if not info.get("sealed"):
                if writer_alive(layer.index, info.get("writer", "")):
                    continue        # open in a live process (maybe idle): it may append any moment
                path = next((segment_path(layer.disks, d, seg) for d in layer.disks.online()), None)
                try:
                    if path is None or now - os.stat(path).st_mtime < idle:
                        continue
                except OSError:
                    continue
            if info["live"] / info["total"] < max_live_ratio:
                out.append(seg)
    return out


async def compact(layer, max_live_ratio: float = 0.5, segments: list[str] | None = None) -> CompactStats:
    stats = CompactStats()
    for seg in segments if segments is not None else candidates(layer, max_live_ratio):
        with layer.index.read() as txn:
            info = layer.index.get(txn, "segments", seg.encode())
        if info is None:
            continue
        stats.bytes_before += info["total"]
        found = await asyncio.get_running_loop().run_in_executor(None, lambda: list(scan_any(layer.disks, seg)))
        for offset, rec, length in found:
            old = Location(seg, offset, length)
            moved = await _carry(layer, rec, old)
            if moved:
                stats.records_moved += 1
                stats.bytes_moved += length
        layer.log.forget(seg)
        for d in layer.disks.online():
            try:
                os.unlink(segment_path(layer.disks, d, seg))
            except OSError:
                pass
        with layer.index.write() as txn:
            layer.index.delete(txn, "segments", seg.encode())
            for key, _ in list(layer.index.items(txn, "state", refused_prefix(seg))):
                layer.index.delete(txn, "state", key)
        stats.segments.append(seg)
        log.info("compacted segment %s", seg)
    return stats


async def _carry(layer, rec: records.Record, old: Location) -> bool:
    """Append `rec` again if it is still live; re-point the index at the copy."""
    meta = rec.meta
    index = layer.index
    if rec.type in (records.DELETE, records.BUCKET_DELETE):
        await layer.log.append(rec.type, meta, None, rec.stamp, lambda txn, loc, missing: Commit(None))
        return True
    if rec.type == records.BUCKET:
        with index.read() as txn:
            cur = index.get_bucket(txn, meta["b"])
        if not cur or cur.get("rec") != old.to_list():
            return False

        def commit_bucket(txn, loc, missing):
            cur = index.get_bucket(txn, meta["b"])
            if not cur or cur.get("rec") != old.to_list():
                return Commit(None, live=False, dead=[loc])
            cur["rec"] = loc.to_list()
            index.put_bucket(txn, meta["b"], cur)
            return Commit(None, live=True, dead=[old])

        await layer.log.append(rec.type, meta, None, rec.stamp, commit_bucket)
        return True
    with index.read() as txn:
        cur = index.get_object(txn, meta["b"], meta["k"])
    if not cur or cur.get("loc") != old.to_list():
        return False
    bodies = None
    if rec.type == records.DATA:
        bodies = await _all_bodies(layer, old)

    def commit_object(txn, loc, missing):
        cur = index.get_object(txn, meta["b"], meta["k"])
        if not cur or cur.get("loc") != old.to_list():
            return Commit(None, live=False, dead=[loc])
        cur["loc"] = loc.to_list()
        cur.pop("deg", None)
        if missing and rec.type == records.DATA:
            cur["deg"] = missing
        index.put_object(txn, meta["b"], meta["k"], cur)
        return Commit(None, live=True, dead=[old])

    await layer.log.append(rec.type, meta, bodies, rec.stamp, commit_object)
    return True


async def _all_bodies(layer, loc: Location) -> list[bytes]:
    """Every disk's shard of a small object, rebuilding damaged ones (compaction heals)."""
    n, k = layer.disks.n, layer.k
    got = await layer.log.read(loc, list(range(n)))
    good = {d: r.body for d, r in got.items() if isinstance(r, records.Record)}
    if len(good) < k:
        raise OSError(f"segment record {loc} has only {len(good)} intact shards; {k} needed")
    missing = [d for d in range(n) if d not in good]
    if missing:
        rebuilt = layer.small_codec.reconstruct([good.get(d) for d in range(n)], missing)
        good.update({d: bytes(b) for d, b in rebuilt.items()})
    return [good[d] for d in range(n)]
