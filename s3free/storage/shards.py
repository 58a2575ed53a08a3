"""Writing and reading one part's k+m BeeXL shard files through the I/O engine.

Write: blocks arrive in aligned buffers; each is RS-encoded and CRC'd on a worker thread
(GIL released), then its k+m chunks go to disk in one batch while the caller fills the
next block. `finish` writes CRC tables, footers and headers, syncs, and returns the
part's description for the manifest. Read: only the data chunks a range needs, each
verified against its CRC; a bad, missing or unreadable chunk is rebuilt from parity and
reported through `on_damage`, never served unverified.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import msgpack

from s3free.ioengine import IOEngine, ops
from s3free.native import AlignedBuffer, BufferPool, NotEnoughShards, RSCodec, crc32c
from s3free.storage import beexl
from s3free.storage.disks import DiskSet
from s3free.storage.geometry import Geometry

log = logging.getLogger("s3free.shards")

DamageHook = Callable[[str, int, int, str], None]   # (data_id, part, shard, reason)


class WriteQuorumError(OSError):
    """Too few disks took a write to keep the object safe."""


class Unrecoverable(OSError):
    """More shards are damaged than the erasure code can rebuild."""


def shard_path(disks: DiskSet, disk: int, data_id: str, part: int):
    return disks.disks[disk].objects / data_id[:2] / data_id[2:4] / f"{data_id}.{part}.bxl"


def _open_for_write(path, root, defer: set | None = None) -> int:
    """Create `path` (and its hash directories, never above `root`: a disk that vanished
    must not be silently recreated as an empty folder). New directories' parents are
    fsynced now, or added to `defer` for the caller to sync in one batch (`fsync_dirs`)."""
    if not root.is_dir():
        raise FileNotFoundError(errno.ENOENT, "disk directory is gone", str(root))
    created = []
    parent = path.parent
    while parent != root and not parent.exists():
        created.append(parent)
        parent = parent.parent
    for d in reversed(created):
        try:
            os.mkdir(d)
        except FileExistsError:
            pass
    for d in created:  # make new directory entries durable (parent of each new dir)
        if defer is not None:
            defer.add(d.parent)
        else:
            _fsync_dir(d.parent)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_DIRECT", 0)
    try:
        return os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        return os.open(path, flags & ~getattr(os, "O_DIRECT", 0), 0o644)  # fs without O_DIRECT


def _fsync_dir(path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def fsync_dirs(engine: IOEngine, dirs: set) -> None:
    """fsync every directory in `dirs` in one batch (they sync in parallel) and take them
    out of the set (not those added meanwhile). Raises IOBatchError naming the
    directories that failed."""
    todo = sorted(dirs, key=str)
    fds, batch = [], []
    try:
        for d in todo:
            fds.append(os.open(d, os.O_RDONLY | os.O_DIRECTORY))
            batch.append(ops.fsync(fds[-1], str(d)))
        if batch:
            await engine.arun_checked(batch)
        dirs.difference_update(todo)
    finally:
        for fd in fds:
            os.close(fd)


@dataclass
class PartInfo:
    """What the manifest records about one written part."""
    number: int
    data_id: str
    size: int
    chunk: int
    header_len: int
    placement: list[int]
    root: bytes
    missing: list[int] = field(default_factory=list)   # shard slots that did not get written

    def to_manifest(self) -> list:
        return [self.number, self.data_id, self.size, self.chunk, self.header_len, self.placement,
                self.root, self.missing]

    @classmethod
    def from_manifest(cls, item: list) -> "PartInfo":
        return cls(*item)


class PartWriter:
    """Streams one part into k+m shard files. Use: `await add_block(buf, n)` per block
    (the writer owns `buf` afterwards), then `await finish()`, or `await abort()`."""

    def __init__(self, disks: DiskSet, engine: IOEngine, codec: RSCodec, chunk: int, pool: BufferPool,
                 part: int, version_id: uuid.UUID, stamp: tuple[int, int], meta: dict,
                 quorum: int, data_id: str | None = None, hashers: list | None = None):
        self.disks, self.engine, self.codec, self.pool = disks, engine, codec, pool
        self.k, self.m = codec.k, codec.m
        self.chunk = chunk
        self.part = part
        self.data_id = data_id or uuid.uuid4().hex
        self.version_id, self.stamp, self.meta = version_id, stamp, meta
        self.quorum = quorum
        self.hashers = hashers or []
        self.placement = disks.placement(self.data_id)
        self.paths = [shard_path(disks, d, self.data_id, part) for d in self.placement]
        self.header_len = beexl.header_size(_meta_room(meta))
        self.fds: list[int | None] = [None] * (self.k + self.m)
        self.failed: dict[int, str] = {}
        self.tables = [bytearray() for _ in range(self.k + self.m)]
        self.size = 0
        self.blocks = 0
        self._inflight: asyncio.Task | None = None
        self._parity = [AlignedBuffer(chunk) for _ in range(self.m)]
        self._parity_next = [AlignedBuffer(chunk) for _ in range(self.m)]
        self._open()

    def _open(self) -> None:
        for s, (disk, path) in enumerate(zip(self.placement, self.paths)):
            if not self.disks.disks[disk].online:
                self.failed[s] = "disk offline"
                continue
            try:
                self.fds[s] = _open_for_write(path, self.disks.disks[disk].objects)
            except OSError as exc:
                self._fail(s, f"open {path}: {exc.strerror}")
                self.disks.suspect(disk)
        try:
            self._check_quorum()
        except WriteQuorumError:
            for s, fd in enumerate(self.fds):
                if fd is not None:
                    os.close(fd)
                    self.fds[s] = None
                    try:
                        os.unlink(self.paths[s])
                    except OSError:
                        pass
            raise

    def _fail(self, shard: int, reason: str) -> None:
        self.failed[shard] = reason
        fd = self.fds[shard]
        if fd is not None:
            os.close(fd)
            self.fds[shard] = None
        log.warning("shard %d of %s part %d failed: %s", shard, self.data_id, self.part, reason)

    def _check_quorum(self) -> None:
        healthy = self.k + self.m - len(self.failed)
        if healthy < self.quorum:
            raise WriteQuorumError(errno.EIO, f"write quorum lost: {healthy} of {self.k + self.m} shards "
                                   f"writable, {self.quorum} needed ({'; '.join(self.failed.values())})")

    def _encode(self, block: AlignedBuffer, length: int, parity: list[AlignedBuffer]) -> tuple[list, list]:
        """RS + CRC for one block (runs on a worker thread; the C calls drop the GIL)."""
        g = Geometry(self.k, self.chunk, length)
        piece = g.piece_len(0)
        dlen = g.disk_chunk_len(0)
        view = memoryview(block)
        if length == self.k * self.chunk:
            data = [view[i * self.chunk:(i + 1) * self.chunk] for i in range(self.k)]
            par = [memoryview(p) for p in parity]
        else:  # the last, short block: re-lay pieces at an aligned stride, zero padded
            staged = AlignedBuffer(self.k * dlen)
            sview = memoryview(staged)
            for i in range(self.k):
                part = view[i * piece:min((i + 1) * piece, length)]
                sview[i * dlen:i * dlen + len(part)] = part
            data = [sview[i * dlen:(i + 1) * dlen] for i in range(self.k)]
            par = [memoryview(p)[:dlen] for p in parity]
        self.codec.encode(data, par)
        chunks = data + par
        return chunks, [crc32c(c) for c in chunks]

    async def _write_block(self, block: AlignedBuffer, length: int, parity: list[AlignedBuffer], b: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            encoded = loop.run_in_executor(None, self._encode, block, length, parity)
            if self.hashers:  # MD5 (the slowest stage) on another thread, beside the encode
                await loop.run_in_executor(None, _update_all, self.hashers, memoryview(block)[:length])
            chunks, crcs = await encoded
            for s, crc in enumerate(crcs):
                self.tables[s] += crc.to_bytes(4, "little")
            offset = self.header_len + b * self.chunk
            live = [s for s in range(self.k + self.m) if self.fds[s] is not None]
            batch = [ops.write(self.fds[s], chunks[s], offset, str(self.paths[s])) for s in live]
            results = await self.engine.arun(batch)
            for s, err in zip(live, ops.errors(batch, results)):
                if err is not None:
                    self._fail(s, str(err))
            self._check_quorum()
        finally:
            if len(block) == self.pool.size:
                self.pool.put(block)

    async def add_block(self, block: AlignedBuffer, length: int) -> None:
        """Queue one block (`length` data bytes; only the last may be short)."""
        if self._inflight is not None:
            await self._inflight
        self.size += length
        b = self.blocks
        self.blocks += 1
        self._parity, self._parity_next = self._parity_next, self._parity
        self._inflight = asyncio.ensure_future(self._write_block(block, length, self._parity, b))

    async def finish(self, meta: dict | None = None) -> PartInfo:
        """Write tables, footers and headers, sync everything; the part is durable after."""
        if self._inflight is not None:
            await self._inflight
            self._inflight = None
        if meta is not None:
            self.meta = meta
        g = Geometry(self.k, self.chunk, self.size)
        payload = g.payload_len
        table_off, footer_off, _ = beexl.layout(self.header_len, payload, self.blocks)
        leaves = []
        batch = []
        live = [s for s in range(self.k + self.m) if self.fds[s] is not None]
        tails = {}
        for s in range(self.k + self.m):
            table = bytes(self.tables[s])
            leaves.append(beexl.merkle_leaf(table))
            if s not in live:
                continue
            header = beexl.ShardHeader(self.k, self.m, s, self.chunk, self.size, payload, 1, self.part,
                                       uuid.UUID(self.data_id), self.version_id, self.stamp, self.meta)
            tail = AlignedBuffer(beexl.table_len(self.blocks) + beexl.FOOTER_LEN)
            tv = memoryview(tail)
            tv[:len(table)] = table
            tv[beexl.table_len(self.blocks):] = beexl.ShardFooter(1, payload, self.blocks, leaves[-1]).encode()
            head = AlignedBuffer(self.header_len)
            memoryview(head)[:] = header.encode(self.header_len)
            tails[s] = (tail, head)
            path = str(self.paths[s])
            batch += [ops.write(self.fds[s], tail, table_off, path, link=True),
                      ops.write(self.fds[s], head, 0, path, link=True),
                      ops.fdatasync(self.fds[s], path)]
        results = await self.engine.arun(batch)
        for i, s in enumerate(live):
            errs = [e for e in ops.errors(batch[3 * i:3 * i + 3], results[3 * i:3 * i + 3]) if e]
            if errs:
                self._fail(s, str(errs[0]))
        self._check_quorum()
        for s in live:
            if self.fds[s] is not None:
                os.close(self.fds[s])
                self.fds[s] = None
        await asyncio.get_running_loop().run_in_executor(None, self._sync_dirs)
        self._check_quorum()
        return PartInfo(self.part, self.data_id, self.size, self.chunk, self.header_len, self.placement,
                        beexl.merkle_root(leaves), sorted(self.failed))

    def _sync_dirs(self) -> None:
        """Make the new files' directory entries durable; a disk that fails here loses
        its shard like any other write failure."""
        for s in range(self.k + self.m):
            if s in self.failed:
                continue
            try:
                _fsync_dir(self.paths[s].parent)
            except OSError as exc:
                self._fail(s, f"fsync of {self.paths[s].parent}: {exc.strerror}")
                self.disks.suspect(self.placement[s])

    async def abort(self) -> None:
        """Stop and remove whatever was written (best effort; GC catches the rest)."""
        if self._inflight is not None:
            try:
                await self._inflight
            except Exception:
                pass
        for s, fd in enumerate(self.fds):
            if fd is not None:
                os.close(fd)
                self.fds[s] = None
        for path in self.paths:
            try:
                os.unlink(path)
            except OSError:
                pass


META_ROOM = 512


def _update_all(hashers: list, data) -> None:
    for h in hashers:
        h.update(data)


def _meta_room(meta: dict) -> int:
    """Room for the header's metadata: what is known now plus META_ROOM bytes for the
    size/ETag fields filled in at the end (the header length is fixed at open)."""
    return len(msgpack.packb(meta, use_bin_type=True)) + META_ROOM


class PartReader:
    """Verified reads of one part. Opens shard files lazily; thread-compatible with the
    event loop (all I/O goes through the engine's async path)."""

    def __init__(self, disks: DiskSet, engine: IOEngine, codec: RSCodec, info: PartInfo,
                 on_damage: DamageHook | None = None):
        self.disks, self.engine, self.codec, self.info = disks, engine, codec, info
        self.k, self.m = codec.k, codec.m
        self.geometry = Geometry(self.k, info.chunk, info.size)
        self.on_damage = on_damage
        self.paths = [shard_path(disks, d, info.data_id, info.number) for d in info.placement]
        self.fds: list[int | None] = [None] * (self.k + self.m)
        self.bad: dict[int, str] = {s: "not written" for s in info.missing}
        self.tables: dict[int, tuple[int, bytes]] = {}   # shard -> (first block, crc bytes)
        self.table_off = beexl.layout(info.header_len, self.geometry.payload_len, self.geometry.blocks)[0]

    def close(self) -> None:
        for s, fd in enumerate(self.fds):
            if fd is not None:
                os.close(fd)
                self.fds[s] = None

    def _fd(self, s: int) -> int | None:
        if s in self.bad:
            return None
        if self.fds[s] is None:
            disk = self.disks.disks[self.info.placement[s]]
            if not disk.online:
                self._damage(s, "disk offline", report=False)
                return None
            try:
                self.fds[s] = os.open(self.paths[s], os.O_RDONLY)
            except OSError as exc:
                # a replaced disk being refilled simply does not have it yet
                self._damage(s, f"open failed: {exc.strerror}", report=not disk.refilling)
                return None
        return self.fds[s]

    def _damage(self, s: int, reason: str, report: bool = True) -> None:
        self.bad[s] = reason
        if report and self.on_damage is not None:
            self.on_damage(self.info.data_id, self.info.number, s, reason)

    async def _load_tables(self, shards: list[int], first: int, last: int) -> None:
        want = [s for s in shards if s not in self.tables or not
                (self.tables[s][0] <= first and last < self.tables[s][0] + len(self.tables[s][1]) // 4)]
        batch, which = [], []
        for s in want:
            fd = self._fd(s)
            if fd is None:
                continue
            buf = bytearray(4 * (last - first + 1))
            batch.append(ops.read(fd, buf, self.table_off + 4 * first, str(self.paths[s])))
            which.append(s)
        if not batch:
            return
        results = await self.engine.aread(batch)
        for s, op, err in zip(which, batch, ops.errors(batch, results)):
            if err is not None:
                self._damage(s, f"CRC table unreadable: {err}")
            else:
                self.tables[s] = (first, bytes(op[2]))

    def _crc_of(self, s: int, b: int) -> int | None:
        entry = self.tables.get(s)
        if entry is None:
            return None
        first, table = entry
        i = 4 * (b - first)
        if i < 0 or i + 4 > len(table):
            return None
        return int.from_bytes(table[i:i + 4], "little")

    async def _read_chunks(self, b: int, shards: list[int]) -> dict[int, bytearray]:
        """Read and verify block b's chunks of `shards`; damaged ones are left out."""
        length = self.geometry.disk_chunk_len(b)
        offset = self.info.header_len + self.geometry.chunk_offset(b)
        batch, which = [], []
        for s in shards:
            fd = self._fd(s)
            if fd is None:
                continue
            batch.append(ops.read(fd, bytearray(length), offset, str(self.paths[s])))
            which.append(s)
        good: dict[int, bytearray] = {}
        if not batch:
            return good
        results = await self.engine.aread(batch)
        for s, op, err in zip(which, batch, ops.errors(batch, results)):
            if err is not None:
                self._damage(s, "truncated" if isinstance(err, ops.ShortRead) else f"read error: {err}")
                continue
            expect = self._crc_of(s, b)
            if expect is None or crc32c(op[2]) != expect:
                self._damage(s, f"CRC mismatch in block {b}")
                continue
            good[s] = op[2]
        return good

    async def read_block(self, b: int, start: int, end: int) -> bytes:
        """Data bytes [start, end] (inclusive, offsets within block b), verified."""
        g = self.geometry
        piece = g.piece_len(b)
        need = list(g.shards_for(b, start, end))
        await self._load_tables(need, b, b)
        chunks = await self._read_chunks(b, need)
        missing = [s for s in need if s not in chunks]
        if missing:
            chunks.update(await self._reconstruct(b, chunks, missing))
        out = []
        for s in need:
            lo = max(start - s * piece, 0)
            hi = min(end - s * piece + 1, piece)
            out.append(memoryview(chunks[s])[lo:hi])
        return b"".join(out)

    async def _reconstruct(self, b: int, good: dict[int, bytearray], missing: list[int]) -> dict[int, bytearray]:
        others = [s for s in range(self.k + self.m) if s not in good and s not in missing and s not in self.bad]
        await self._load_tables(others, b, b)
        good = dict(good)
        good.update(await self._read_chunks(b, others))
        if len(good) < self.k:
            raise Unrecoverable(errno.EIO, f"part {self.info.number} of {self.info.data_id}: block {b} has "
                                f"only {len(good)} intact shards, {self.k} needed")
        shards = [good.get(s) for s in range(self.k + self.m)]
        try:
            rebuilt = await asyncio.get_running_loop().run_in_executor(
                None, self.codec.reconstruct, shards, missing)
        except NotEnoughShards as exc:
            raise Unrecoverable(errno.EIO, str(exc)) from None
        return rebuilt

    async def stream(self, first: int, last: int) -> AsyncIterator[bytes]:
        """Yield data bytes [first, last] of the part, one verified block at a time, with
        the next block's read already in flight while the current one is sent."""
        g = self.geometry
        if last < first:
            return
        blocks = g.block_range(first, last)
        await self._load_tables(list(range(self.k)), blocks.start, blocks.stop - 1)

        def span(b: int) -> tuple[int, int]:
            base = b * g.block_size
            return max(first - base, 0), min(last - base, g.block_len(b) - 1)

        pending = asyncio.ensure_future(self.read_block(blocks.start, *span(blocks.start)))
        try:
            for b in blocks:
                data = await pending
                pending = None
                if b + 1 < blocks.stop:
                    pending = asyncio.ensure_future(self.read_block(b + 1, *span(b + 1)))
                yield data
        finally:
            if pending is not None:
                pending.cancel()
                try:
                    await pending
                except BaseException:
                    pass

    async def verify_all(self) -> dict[int, str]:
        """Read every chunk of every shard and check it (scrubbing); returns the bad ones."""
        g = self.geometry
        if g.blocks:
            await self._load_tables(list(range(self.k + self.m)), 0, g.blocks - 1)
        for b in range(g.blocks):
            await self._read_chunks(b, [s for s in range(self.k + self.m) if s not in self.bad])
        return dict(self.bad)
