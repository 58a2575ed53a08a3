"""Repair primitives: rewrite damaged shards from the surviving ones.

- `rebuild_part_shards`: a part's chosen shard files are rebuilt block by block from any
  k verified shards and replaced atomically (write to a temp name, sync, rename) with a
  higher generation.
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
from s3free.native import AlignedBuffer, crc32c
from s3free.storage import beexl, records
from s3free.storage.geometry import Geometry
from s3free.storage.segments import Location, scan_any, segment_path
from s3free.storage.shards import PartInfo, PartReader, Unrecoverable, _fsync_dir, _open_for_write, shard_path


async def _read_header(layer, info: PartInfo, reader: PartReader, exclude: set[int]) -> beexl.ShardHeader:
    """The header of any intact shard of the part (the template for rebuilt ones)."""
    for s in range(layer.k + layer.m):
        if s in exclude or s in reader.bad:
            continue
        fd = reader._fd(s)
        if fd is None:
            continue
        buf = bytearray(info.header_len)
        res = await layer.engine.arun([ops.read(fd, buf, 0, str(reader.paths[s]))])
        if res[0] != info.header_len:
            continue
        try:
            return beexl.parse_header(bytes(buf))
        except beexl.FormatError:
            continue
    raise Unrecoverable(errno.EIO, f"no intact header among the shards of {info.data_id} part {info.number}")


async def rebuild_part_shards(layer, info: PartInfo, targets: list[int]) -> int:
    """Rebuild shards `targets` of a part; returns bytes written. Targets on offline disks
    are skipped (left for later)."""
    targets = [t for t in targets if layer.disks.disks[info.placement[t]].online]
    if not targets:
        return 0
    reader = PartReader(layer.disks, layer.engine, layer.codec, info)
    for t in targets:
        reader.bad[t] = "being rebuilt"
    g = Geometry(layer.k, info.chunk, info.size)
    written = 0
    fds: dict[int, int] = {}
    tmp_paths = {}
    try:
        template = await _read_header(layer, info, reader, set(targets))
        generation = template.generation + 1
        for t in targets:
            final = shard_path(layer.disks, info.placement[t], info.data_id, info.number)
            tmp = final.with_name(final.name + f".heal-{uuid.uuid4().hex[:8]}")
            tmp_paths[t] = (tmp, final)
            fds[t] = _open_for_write(tmp, layer.disks.disks[info.placement[t]].objects)
        tables = {t: bytearray() for t in targets}
        sources = [s for s in range(layer.k + layer.m) if s not in targets]
        if g.blocks:
            await reader._load_tables(sources, 0, g.blocks - 1)
        for b in range(g.blocks):
            good = await reader._read_chunks(b, [s for s in sources if s not in reader.bad][:layer.k])
            if len(good) < layer.k:
                good.update(await reader._read_chunks(b, [s for s in sources if s not in good and s not in reader.bad]))
            if len(good) < layer.k:
                raise Unrecoverable(errno.EIO, f"{info.data_id} part {info.number} block {b}: only {len(good)} "
                                    f"intact shards, {layer.k} needed")
            shards = [good.get(s) for s in range(layer.k + layer.m)]
            rebuilt = await asyncio.get_running_loop().run_in_executor(None, layer.codec.reconstruct, shards, targets)
            batch = []
            for t in targets:
                chunk = AlignedBuffer(len(rebuilt[t]))
                memoryview(chunk)[:] = rebuilt[t]
                tables[t] += crc32c(chunk).to_bytes(4, "little")
                batch.append(ops.write(fds[t], chunk, info.header_len + g.chunk_offset(b), str(tmp_paths[t][0])))
            await layer.engine.arun_checked(batch)
            written += sum(len(rebuilt[t]) for t in targets)
        table_off, _, _ = beexl.layout(info.header_len, g.payload_len, g.blocks)
        batch = []
        for t in targets:
            table = bytes(tables[t])
            tail = AlignedBuffer(beexl.table_len(g.blocks) + beexl.FOOTER_LEN)
            tv = memoryview(tail)
            tv[:len(table)] = table
            tv[beexl.table_len(g.blocks):] = beexl.ShardFooter(generation, g.payload_len, g.blocks,
                                                                 beexl.merkle_leaf(table)).encode()
            header = beexl.ShardHeader(template.k, template.m, t, template.chunk, template.part_size,
                                       template.payload_len, generation, template.part_number, template.data_id,
                                       template.version_id, template.stamp, template.meta)
            head = AlignedBuffer(info.header_len)
            memoryview(head)[:] = header.encode(info.header_len)
            path = str(tmp_paths[t][0])
            batch += [ops.write(fds[t], tail, table_off, path, link=True), ops.write(fds[t], head, 0, path, link=True),
                      ops.fdatasync(fds[t], path)]
            written += len(tail) + len(head)
        await layer.engine.arun_checked(batch)
        for t in targets:
            os.close(fds.pop(t))
            tmp, final = tmp_paths[t]
            os.replace(tmp, final)
            _fsync_dir(final.parent)
        return written
    finally:
        reader.close()
        for t, fd in fds.items():
            os.close(fd)
            try:
                os.unlink(tmp_paths[t][0])
            except OSError:
                pass


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


async def rebuild_segment(layer, segment: str, disk: int) -> int:
    """Create `segment` on `disk`, where it is missing, from the other disks' copies;
    returns bytes written. It reads the other disks in windows of a few MiB (one batch per
    window, not per record). It never replaces an existing file: a writer may have created
    it and be appending to it (then damaged records are repaired in place instead)."""
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
