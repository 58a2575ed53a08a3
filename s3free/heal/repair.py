"""Repair primitives for the journal: rewrite damaged record copies from the surviving
ones (a part's shard files are rebuilt by spans.py).

- `repair_record`: a small object's or journal record's damaged copies are rewritten in
  place, byte-identical to what the disk should hold (same offset on every disk).
- `rebuild_segment`: a whole segment file is recreated on a disk (a replaced disk).
"""
from __future__ import annotations

import asyncio
import errno
import os
import uuid

from s3free.ioengine import ops
from s3free.storage import records
from s3free.storage.segments import Location, scan_any, segment_path
from s3free.storage.shards import Unrecoverable, _fsync_dir


def _record_for(layer, rec: records.Record, disk: int, body: bytes) -> bytes:
    return records.encode(rec.type, disk, rec.k, rec.m, rec.stamp, rec.meta_raw, body)


async def _intact_copies(layer, loc: Location) -> dict[int, records.Record]:
    got = await layer.log.read(loc, list(range(layer.disks.n)))
    return {d: r for d, r in got.items() if isinstance(r, records.Record)}


def _bodies(layer, rec: records.Record, good: dict[int, records.Record], want: list[int]) -> dict[int, bytes]:
    """Disk bodies for `want` (reconstructed for DATA records, empty otherwise)."""
    if rec.type != records.DATA:
        return {d: b"" for d in want}
    k = layer.k
    if len(good) < k:
        raise Unrecoverable(errno.EIO, f"record has only {len(good)} intact copies, {k} needed")
    shards = [good[d].body if d in good else None for d in range(layer.disks.n)]
    if not shards[next(iter(good))]:       # an empty object: empty bodies everywhere
        return {d: b"" for d in want}
    rebuilt = layer.small_codec.reconstruct(shards, want)
    return {d: bytes(b) for d, b in rebuilt.items()}


async def repair_record(layer, loc: Location) -> tuple[list[int], list[int]]:
    """Rewrite every damaged copy of the record at `loc`. Returns (disks repaired, disks
    still lacking it because they are offline)."""
    good = await _intact_copies(layer, loc)
    if not good:
        raise Unrecoverable(errno.EIO, f"no intact copy of the record at {loc}")
    offline = [d for d in range(layer.disks.n) if not layer.disks.disks[d].online and d not in good]
    bad = [d for d in layer.disks.online() if d not in good]
    if not bad:
        return [], offline
    template = next(iter(good.values()))
    bodies = _bodies(layer, template, good, bad)
    repaired = []
    for d in bad:
        path = segment_path(layer.disks, d, loc.segment)
        if not path.exists():     # the whole file is missing there: recreate all of it
            await rebuild_segment(layer, loc.segment, d)
            repaired.append(d)
            continue
        data = _record_for(layer, template, d, bodies[d])
        if len(data) != loc.length:
            raise Unrecoverable(errno.EIO, f"rebuilt record at {loc} has {len(data)} bytes, not {loc.length}")
        fd = os.open(path, os.O_WRONLY)
        try:
            await layer.engine.arun_checked([ops.write(fd, data, loc.offset, str(path), link=True),
                                             ops.fdatasync(fd, str(path))])
        finally:
            os.close(fd)
        repaired.append(d)
    return repaired, offline


WINDOW = 4 << 20


async def rebuild_segment(layer, segment: str, disk: int, dirs: set | None = None) -> int:
    """Create `segment` on `disk`, where it is missing, from the other disks' copies;
    returns bytes written. It reads the other disks in windows of a few MiB (one batch per
    window, not per record). It never replaces an existing file: a writer may have created
    it and be appending to it (then damaged records are repaired in place instead). With
    `dirs`, the segment's directory is added to it for the caller to sync in one batch."""
    final = segment_path(layer.disks, disk, segment)
    if final.exists():
        return 0
    found = await asyncio.get_running_loop().run_in_executor(
        None, lambda: list(scan_any(layer.disks, segment, exclude=(disk,))))
    tmp = final.with_name(final.name + f".heal-{uuid.uuid4().hex[:8]}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    written = 0
    sources = [d for d in layer.disks.online() if d != disk]
    try:
        i = 0
        while i < len(found):
            j = i
            start = found[i][0]
            while j < len(found) and found[j][0] + found[j][2] - start <= max(WINDOW, found[i][2]):
                j += 1
            window = found[i:j]
            end = window[-1][0] + window[-1][2]
            copies = await _read_window(layer, segment, sources, start, end)
            out = bytearray()
            for offset, rec, length in window:
                body = b""
                if rec.type == records.DATA:
                    good = {}
                    for d, buf in copies.items():
                        try:
                            r = records.parse(memoryview(buf)[offset - start:offset - start + length])
                        except records.RecordError:
                            continue
                        if r.shard == d:
                            good[d] = r
                    body = _bodies(layer, rec, good, [disk])[disk]
                out += _record_for(layer, rec, disk, body)
            await layer.engine.arun_checked([ops.write(fd, bytes(out), start, str(tmp))])
            written += len(out)
            i = j
        await layer.engine.arun_checked([ops.fdatasync(fd, str(tmp))])
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    try:
        os.link(tmp, final)            # create only if still absent
    except FileExistsError:
        written = 0
    finally:
        os.unlink(tmp)
    if dirs is not None:
        dirs.add(final.parent)
    else:
        _fsync_dir(final.parent)
    return written


async def _read_window(layer, segment: str, disks: list[int], start: int, end: int) -> dict[int, bytearray]:
    """Bytes [start, end) of a segment from each of `disks` that has them (one batch)."""
    batch, which, fds = [], [], []
    for d in disks:
        try:
            fd = os.open(segment_path(layer.disks, d, segment), os.O_RDONLY)
        except OSError:
            continue
        fds.append(fd)
        batch.append(ops.read(fd, bytearray(end - start), start))
        which.append(d)
    try:
        results = await layer.engine.arun(batch) if batch else []
    finally:
        for fd in fds:
            os.close(fd)
    return {d: op[2] for d, op, res in zip(which, batch, results) if res == end - start}
