"""Rebuilding a part's shard files in large spans.

RS works byte by byte, and every shard file keeps block b's chunk at the same payload
offset (b * chunk), so a run of blocks is one contiguous span in every shard file and a
single reconstruct over the span gives exactly the bytes the encoder wrote (the short
last chunk is zero padded alike on every shard). A span therefore costs one read per
source shard, one decode call on a worker thread (CRC and RS in C, GIL released) and one
write per target, instead of one of each per 1 MiB block.

Sources are read with O_DIRECT: PUT wrote them that way, so they are not cached anyway,
and a refill must not push the clients' data out of the page cache. Every source chunk
is checked against its shard's CRC table before use; a source with a bad or unreadable
chunk is dropped for the rest of the part and another one is read instead, so nothing
unverified is ever written. A rebuilt file gets a new generation and replaces the old
name atomically (temp name, write, fdatasync, rename); its directory entry is synced at
once or, when the caller passes `dirs`, by the caller in one batch (`fsync_dirs`).
"""
from __future__ import annotations

import asyncio
import errno
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from s3free.ioengine import IOEngine, ops
from s3free.native import AlignedBuffer, BufferPool, NotEnoughShards, crc32c_chunks
from s3free.storage import beexl
from s3free.storage.geometry import Geometry
from s3free.storage.shards import PartInfo, Unrecoverable, _fsync_dir, _open_for_write, shard_path

SPAN = 4 << 20          # bytes of each shard file per read op (whole chunks, at least one)
WHOLE_FILE = 1 << 20    # shard files up to this size are read whole: header, payload, table
_DIRECT = getattr(os, "O_DIRECT", 0)

POOL_KEEP = 128 << 20  # bytes of idle buffers kept per size for the next spans
Spend = Callable[[int], Awaitable[None]]

_pools: dict[int, BufferPool] = {}


def _buffer(size: int) -> AlignedBuffer:
    """A reused aligned buffer of `size` bytes. Fresh multi-MiB buffers cost a page fault
    per page (the kernel zeroes each one): in a refill that was more CPU than the CRCs
    and the decode together."""
    pool = _pools.get(size)
    if pool is None:
        pool = _pools[size] = BufferPool(size, keep=max(1, POOL_KEEP // size))
    return pool.get()


def _give_back(bufs) -> None:
    for buf in bufs:
        pool = _pools.get(len(buf))
        if pool is not None:
            pool.put(buf)


def release_buffers() -> None:
    """Drop the idle span buffers (when a refill is over)."""
    _pools.clear()


def span_blocks(g: Geometry, span: int = SPAN) -> list[tuple[int, int]]:
    """Block ranges [first, stop) of about `span` bytes per shard, covering the part.

    >>> span_blocks(Geometry(k=6, chunk=176128, size=64 << 20))
    [(0, 23), (23, 46), (46, 64)]
    >>> span_blocks(Geometry(k=6, chunk=176128, size=0))
    []
    """
    per = max(1, span // g.chunk)
    return [(b, min(b + per, g.blocks)) for b in range(0, g.blocks, per)]


def span_extent(g: Geometry, first: int, stop: int) -> tuple[int, int]:
    """(payload offset, bytes) of blocks [first, stop) in every shard file.

    >>> span_extent(Geometry(k=4, chunk=4096, size=4 * 4096 * 2 + 10), 1, 3)
    (4096, 8192)
    """
    end = g.chunk_offset(stop) if stop < g.blocks else g.payload_len
    return g.chunk_offset(first), end - g.chunk_offset(first)


@dataclass
class _Source:
    shard: int
    fd: int
    path: str
    table: bytes                       # 4 bytes of CRC32C per block
    header: beexl.ShardHeader | None   # None if it does not parse (the payload may still be good)
    whole: AlignedBuffer | None        # the file up to its footer, for small files


def _open_source(path: str) -> int | None:
    try:
        return os.open(path, os.O_RDONLY | _DIRECT)
    except OSError as exc:
        if exc.errno != errno.EINVAL or not _DIRECT:
            return None
    try:
        return os.open(path, os.O_RDONLY)        # a filesystem without O_DIRECT
    except OSError:
        return None


def _decode(codec, chunk: int, first: int, stop: int, sources: list[tuple[int, memoryview, bytes]],
            targets: list[int], outs: list[memoryview]) -> tuple[list[int], list[bytes]]:
    """Verify every source chunk of the span, then rebuild `targets` into `outs`. Returns
    (shards with a bad chunk, []) or ([], the targets' CRC table entries). Runs on a worker
    thread: crc32c_chunks and the RS call release the GIL."""
    bad = [s for s, view, table in sources if crc32c_chunks(view, chunk) != table[4 * first:4 * stop]]
    if bad:
        return bad, []
    shards: list = [None] * (codec.k + codec.m)
    for s, view, _ in sources:
        shards[s] = view
    try:
        codec.reconstruct_into(shards, targets, outs)
    except NotEnoughShards as exc:
        raise Unrecoverable(errno.EIO, str(exc)) from None
    return [], [crc32c_chunks(out, chunk) for out in outs]


class SpanRebuild:
    """The rebuild of shards `targets` of one part (use once: `await run()`)."""

    def __init__(self, layer, engine: IOEngine, info: PartInfo, targets: list[int],
                 dirs: set | None = None, spend: Spend | None = None, span: int = SPAN):
        self.layer, self.engine, self.info, self.targets = layer, engine, info, targets
        self.dirs, self.spend, self.span = dirs, spend, span
        self.k = layer.k
        self.g = Geometry(layer.k, info.chunk, info.size)
        self.table_off, self.footer_off, _ = beexl.layout(info.header_len, self.g.payload_len, self.g.blocks)
        self.small = self.footer_off <= WHOLE_FILE
        self.candidates = [s for s in range(layer.k + layer.m) if s not in targets and s not in info.missing
                           and layer.disks.disks[info.placement[s]].online]
        self.sources: list[_Source] = []
        self.fds: list[int] = []
        self.out: dict[int, tuple[int, str, object]] = {}      # target -> (fd, tmp path, final path)
        self.full = max(1, span // info.chunk) * info.chunk     # bytes of a whole span
        self.held: list[AlignedBuffer] = []                      # pooled buffers in use

    def _path(self, s: int):
        return shard_path(self.layer.disks, self.info.placement[s], self.info.data_id, self.info.number)

    async def _load(self, want: int) -> None:
        """Open candidates and read their header and CRC table (small files: the whole
        file, in one op) until `want` sources are loaded or no candidate is left."""
        while len(self.sources) < want and self.candidates:
            take, self.candidates = (self.candidates[:want - len(self.sources)],
                                     self.candidates[want - len(self.sources):])
            batch, opened = [], []
            tlen = beexl.table_len(self.g.blocks)
            for s in take:
                path = str(self._path(s))
                fd = _open_source(path)
                if fd is None:
                    continue
                self.fds.append(fd)
                if self.small:
                    bufs = [_buffer(WHOLE_FILE)]
                    self.held.append(bufs[0])
                    batch.append(ops.read(fd, memoryview(bufs[0])[:self.footer_off], 0, path))
                else:
                    bufs = [AlignedBuffer(self.info.header_len), AlignedBuffer(tlen)]
                    batch += [ops.read(fd, bufs[0], 0, path), ops.read(fd, bufs[1], self.table_off, path)]
                opened.append((s, fd, path, bufs))
            results = await self.engine.arun(batch) if batch else []
            errs = iter(ops.errors(batch, results))
            for s, fd, path, bufs in opened:
                if [e for e in [next(errs) for _ in bufs] if e is not None]:
                    continue                     # unreadable or short: not a source
                view = memoryview(bufs[0])
                if self.small:
                    head = view[:self.info.header_len]
                    table = bytes(view[self.table_off:self.table_off + 4 * self.g.blocks])
                else:
                    head, table = view, bytes(memoryview(bufs[1])[:4 * self.g.blocks])
                try:
                    header = beexl.parse_header(bytes(head))
                except beexl.FormatError:
                    header = None
                self.sources.append(_Source(s, fd, path, table, header, bufs[0] if self.small else None))

    async def _template(self) -> beexl.ShardHeader:
        """An intact header among the sources (the template of the rebuilt ones)."""
        while True:
            for src in self.sources:
                if src.header is not None:
                    return src.header
            if not self.candidates:
                raise Unrecoverable(errno.EIO, f"no intact header among the shards of {self.info.data_id} "
                                    f"part {self.info.number}")
            await self._load(len(self.sources) + 1)

    def _unrecoverable(self, first: int) -> Unrecoverable:
        return Unrecoverable(errno.EIO, f"{self.info.data_id} part {self.info.number} block {first}: only "
                             f"{len(self.sources)} intact shards, {self.k} needed")

    async def _rebuild_span(self, first: int, stop: int, outs: list[memoryview]) -> list[bytes]:
        """Fill `outs` with the targets' bytes of blocks [first, stop); returns their CRCs."""
        off, length = span_extent(self.g, first, stop)
        start = self.info.header_len + off
        loop = asyncio.get_running_loop()
        while True:
            await self._load(self.k)
            if len(self.sources) < self.k:
                raise self._unrecoverable(first)
            use = self.sources[:self.k]
            views, batch, which, reads = {}, [], [], []
            for src in use:
                if src.whole is not None:
                    views[src.shard] = memoryview(src.whole)[start:start + length]
                else:
                    buf = _buffer(self.full)
                    reads.append(buf)
                    batch.append(ops.read(src.fd, memoryview(buf)[:length], start, src.path))
                    which.append(src)
            results = await self.engine.arun(batch) if batch else []
            bad = {src.shard for src, err in zip(which, ops.errors(batch, results)) if err is not None}
            for src, op in zip(which, batch):
                views[src.shard] = op[2]
            bad_crc, tables = [], []
            if not bad:
                bad_crc, tables = await loop.run_in_executor(
                    None, _decode, self.layer.codec, self.info.chunk, first, stop,
                    [(src.shard, views[src.shard], src.table) for src in use], self.targets, outs)
            _give_back(reads)       # not on an exception: a cancelled call's thread may still use them
            if not bad and not bad_crc:
                return tables
            bad.update(bad_crc)
            self.sources = [src for src in self.sources if src.shard not in bad]

    async def run(self) -> int:
        """Rebuild; returns bytes written."""
        try:
            written = await self._run()
        except Exception:
            _give_back(self.held)    # every call has returned; not so after a cancel (BaseException)
            raise
        else:
            _give_back(self.held)
            return written
        finally:
            for fd in self.fds:
                os.close(fd)
            for fd, tmp, _ in self.out.values():
                os.close(fd)
                try:
                    os.unlink(tmp)
                except OSError:
                    pass

    async def _run(self) -> int:
        info, g = self.info, self.g
        await self._load(self.k)
        template = await self._template()
        generation = template.generation + 1
        for t in self.targets:
            final = self._path(t)
            tmp = final.with_name(final.name + f".heal-{uuid.uuid4().hex[:8]}")
            self.out[t] = (_open_for_write(tmp, self.layer.disks.disks[info.placement[t]].objects, self.dirs),
                           str(tmp), final)
        spans = span_blocks(g, self.span)
        # two sets of output buffers: span i is written while span i+1 is read and decoded
        sets = [[_buffer(self.full) for _ in self.targets] for _ in range(min(2, len(spans)))]
        self.held += [b for bufs in sets for b in bufs]
        tables = {t: bytearray() for t in self.targets}
        written = 0
        writing: asyncio.Future | None = None
        try:
            for i, (first, stop) in enumerate(spans):
                off, length = span_extent(g, first, stop)
                outs = [memoryview(b)[:length] for b in sets[i % 2]]
                crcs = await self._rebuild_span(first, stop, outs)
                if writing is not None:
                    await writing
                batch = [ops.write(self.out[t][0], out, info.header_len + off, self.out[t][1])
                         for t, out in zip(self.targets, outs)]
                writing = asyncio.ensure_future(self.engine.arun_checked(batch))
                for t, crc in zip(self.targets, crcs):
                    tables[t] += crc
                written += length * len(self.targets)
                if self.spend is not None:
                    await self.spend(length * len(self.targets))
            if writing is not None:
                await writing
        finally:
            if writing is not None and not writing.done():    # never close a file under its write
                await asyncio.wait([writing])
        written += await self._finish(template, generation, tables)
        for t in self.targets:
            fd, tmp, final = self.out.pop(t)
            os.close(fd)
            os.replace(tmp, final)
            if self.dirs is not None:
                self.dirs.add(final.parent)
            else:
                _fsync_dir(final.parent)
        return written

    async def _finish(self, template: beexl.ShardHeader, generation: int, tables: dict[int, bytearray]) -> int:
        """Write each target's CRC table, footer and header, then fdatasync it (one linked
        chain per file, all files in one batch)."""
        info, g = self.info, self.g
        batch, written = [], 0
        for t in self.targets:
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
            fd, path, _ = self.out[t]
            batch += [ops.write(fd, tail, self.table_off, path, link=True), ops.write(fd, head, 0, path, link=True),
                      ops.fdatasync(fd, path)]
            written += len(tail) + len(head)
        await self.engine.arun_checked(batch)
        return written


async def rebuild_part_shards(layer, info: PartInfo, targets: list[int], *, engine: IOEngine | None = None,
                              dirs: set | None = None, spend: Spend | None = None, span: int = SPAN) -> int:
    """Rebuild shards `targets` of a part from any k verified others; returns bytes
    written. Targets on offline disks are skipped (left for later). With `dirs`, the
    directories whose entries changed are added to it instead of being synced here."""
    targets = [t for t in targets if layer.disks.disks[info.placement[t]].online]
    if not targets:
        return 0
    return await SpanRebuild(layer, engine or layer.engine, info, targets, dirs, spend, span).run()
