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
import collections
import errno
import functools
import logging
import os
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import msgpack

from s3free.ioengine import IOEngine, ops
from s3free.ioengine.base import settle
from s3free.native import (AlignedBuffer, BufferPool, NotEnoughShards, RSCodec, crc32c,
                           fallocate, new_bytes, pread_bytes)
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
    fd, created = _create_shard(path, root)
    try:
        for d in created:  # make new directory entries durable (parent of each new dir)
            if defer is not None:
                defer.add(d.parent)
            else:
                _fsync_dir(d.parent)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _create_shard(path, root) -> tuple[int, list]:
    """Create `path` for writing as `_open_for_write` does, but leave syncing the new
    directories (returned, deepest last) to the caller."""
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
    created.reverse()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_DIRECT", 0)
    try:
        return os.open(path, flags, 0o644), created
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        return os.open(path, flags & ~getattr(os, "O_DIRECT", 0), 0o644), created  # fs without O_DIRECT


def _fsync_dir(path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def fsync_dirs(engine: IOEngine, dirs: set) -> None:
    """fsync every directory in `dirs` in one batch (they sync in parallel) and take them
    out of the set. Raises IOBatchError naming the directories that failed (then they
    stay in the set)."""
    todo = sorted(dirs, key=str)
    # Out of the set before the sync: a rename into one of them while it runs adds it
    # back (it needs a sync after the rename), instead of being wiped out by our removal.
    dirs.difference_update(todo)
    fds, batch = [], []
    try:
        for d in todo:
            fds.append(os.open(d, os.O_RDONLY | os.O_DIRECTORY))
            batch.append(ops.fsync(fds[-1], str(d)))
        if batch:
            await engine.arun_checked(batch)
    except BaseException:
        dirs.update(todo)            # not synced: still owed
        raise
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
    (the writer owns `buf` afterwards and returns it to `pool`), then `await finish()`,
    or `await abort()`.

    Up to DEPTH blocks are in flight: each is one job on the engine's worker threads
    (RS encode + CRC32C, the k+m chunk writes in one batch, then the hashers, fed in
    block order), so block n's write overlaps block n+1's encode and the receipt of
    block n+2. A shard whose write fails is dropped for the rest of the part (the part
    fails once fewer than `quorum` shards are left); its file descriptor is closed only
    when no job can still be using it."""

    DEPTH = 3

    def __init__(self, disks: DiskSet, engine: IOEngine, codec: RSCodec, chunk: int, pool: BufferPool,
                 part: int, version_id: uuid.UUID, stamp: tuple[int, int], meta: dict,
                 quorum: int, data_id: str | None = None, hashers: list | None = None, *,
                 size_hint: int | None = None, parity_pool: BufferPool | None = None):
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
        self.size_hint = size_hint
        self.fds: list[int | None] = [None] * (self.k + self.m)
        self.failed: dict[int, str] = {}
        self.size = 0
        self.blocks = 0
        self._crcs: list[list[int] | None] = []
        self._opened = False
        self._prealloc = 0                   # file size the shard files were preallocated to
        self._parity_pool = parity_pool or (BufferPool(self.m * chunk, keep=self.DEPTH) if self.m else None)
        self._inflight: collections.deque = collections.deque()   # (block index, future), oldest first
        self._running = 0                    # jobs not finished yet (they may use self.fds)
        self._dead_fds: list[int] = []       # fds of failed shards, closed once no job runs
        self._close_all = False
        self._turn = 0                       # the next block the hashers are fed
        self._turn_cv = threading.Condition()
        self._hash_error: BaseException | None = None

    # -- opening ----------------------------------------------------------------------
    async def _ensure_open(self) -> None:
        if self._opened:
            return
        self._opened = True
        fut = self.engine.submit(self._open_files)
        fut.add_done_callback(self._record_opened)     # even if this await is cancelled: abort closes them
        opened = await settle(fut)
        for s, result in opened.items():
            if not isinstance(result, int):
                self._fail(s, result)
                if result.startswith("open"):
                    self.disks.suspect(self.placement[s])
        try:
            self._check_quorum()
        except WriteQuorumError:
            await self.abort()
            raise

    def _record_opened(self, fut: asyncio.Future) -> None:
        if not fut.cancelled() and fut.exception() is None:
            for s, result in fut.result().items():
                if isinstance(result, int):
                    self.fds[s] = result

    def _open_files(self) -> dict[int, int | str]:
        """Create (and preallocate) the shard files; runs on a worker thread. Returns per
        shard its fd or why it could not be opened. Directory entries are synced in finish."""
        total = 0
        if self.size_hint:
            g = Geometry(self.k, self.chunk, self.size_hint)
            total = beexl.layout(self.header_len, g.payload_len, g.blocks)[2]
        self._prealloc = total
        out: dict[int, int | str] = {}
        for s, (disk, path) in enumerate(zip(self.placement, self.paths)):
            if not self.disks.disks[disk].online:
                out[s] = "disk offline"
                continue
            try:
                fd, _ = _create_shard(path, self.disks.disks[disk].objects)
            except OSError as exc:
                out[s] = f"open {path}: {exc.strerror}"
                continue
            out[s] = fd
            if total:
                try:
                    fallocate(fd, 0, total)
                except OSError as exc:
                    # the announced size is only a hint (a client may announce more than it
                    # sends, or than fits): without room reserved the writes still decide
                    if exc.errno not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.ENOSPC, errno.EFBIG):
                        os.close(fd)
                        out[s] = f"fallocate {path}: {exc.strerror}"
        return out

    def _fail(self, shard: int, reason: str) -> None:
        self.failed[shard] = reason
        fd = self.fds[shard]
        if fd is not None:
            self.fds[shard] = None
            self._dead_fds.append(fd)
            self._close_idle()
        log.warning("shard %d of %s part %d failed: %s", shard, self.data_id, self.part, reason)

    def _close_idle(self) -> None:
        """Close what may be closed: never an fd a running job may still write to (the
        number could be reused by another open meanwhile)."""
        if self._running:
            return
        for fd in self._dead_fds:
            os.close(fd)
        self._dead_fds.clear()
        if self._close_all:
            for s, fd in enumerate(self.fds):
                if fd is not None:
                    os.close(fd)
                    self.fds[s] = None

    def _check_quorum(self) -> None:
        healthy = self.k + self.m - len(self.failed)
        if healthy < self.quorum:
            raise WriteQuorumError(errno.EIO, f"write quorum lost: {healthy} of {self.k + self.m} shards "
                                   f"writable, {self.quorum} needed ({'; '.join(self.failed.values())})")

    # -- blocks -----------------------------------------------------------------------
    def _encode(self, block: AlignedBuffer, length: int, parity: AlignedBuffer | None) -> tuple[list, list]:
        """RS + CRC for one block (on a worker thread; the C calls drop the GIL)."""
        g = Geometry(self.k, self.chunk, length)
        piece = g.piece_len(0)
        dlen = g.disk_chunk_len(0)
        view = memoryview(block)
        pview = memoryview(parity) if parity is not None else None
        if length == self.k * self.chunk:
            data = [view[i * self.chunk:(i + 1) * self.chunk] for i in range(self.k)]
        else:  # the last, short block: re-lay pieces at an aligned stride, zero padded
            staged = AlignedBuffer(self.k * dlen)
            sview = memoryview(staged)
            for i in range(self.k):
                part = view[i * piece:min((i + 1) * piece, length)]
                sview[i * dlen:i * dlen + len(part)] = part
            data = [sview[i * dlen:(i + 1) * dlen] for i in range(self.k)]
        par = [pview[i * self.chunk:i * self.chunk + dlen] for i in range(self.m)]
        if par:
            self.codec.encode(data, par)
        chunks = data + par
        return chunks, [crc32c(c) for c in chunks]

    def _block_job(self, b: int, block: AlignedBuffer, length: int, parity, live: list[tuple[int, int]]):
        """One block, on a worker thread: encode + CRC, write the chunks of the `live`
        shards in one batch, then feed the hashers in block order. Always takes its turn
        at the hashers (a later block's job waits for it), even when it fails."""
        hashed = False
        try:
            chunks, crcs = self._encode(block, length, parity)
            offset = self.header_len + b * self.chunk
            batch = [ops.write(fd, chunks[s], offset, str(self.paths[s])) for s, fd in live]
            results = self.engine.run(batch)
            self._wait_turn(b)
            hashed = True
            try:
                if self.hashers and self._hash_error is None:
                    _update_all(self.hashers, memoryview(block)[:length])
            except BaseException as exc:
                self._hash_error = exc
                raise
            finally:
                self._next_turn()
            return crcs, batch, results
        except BaseException as exc:
            if not hashed:
                self._wait_turn(b)
                if self._hash_error is None:
                    self._hash_error = exc       # the hashers missed this block: the part is void
                self._next_turn()
            raise

    def _wait_turn(self, b: int) -> None:
        # Jobs start in submission order (FIFO executor), so block b-1's job is running or
        # done whenever block b's job waits here: no deadlock.
        with self._turn_cv:
            while self._turn != b:
                self._turn_cv.wait()

    def _next_turn(self) -> None:
        with self._turn_cv:
            self._turn += 1
            self._turn_cv.notify_all()

    def _track(self, fut: asyncio.Future, *buffers) -> None:
        """Count a job as running until it ends however it ends (even if nobody awaits it
        any more); then its buffers go back to their pools and idle fds may close."""
        self._running += 1
        fut.add_done_callback(functools.partial(self._job_done, buffers))

    def _job_done(self, buffers, fut) -> None:
        self._running -= 1
        block, parity = buffers if buffers else (None, None)
        if block is not None and len(block) == self.pool.size:
            self.pool.put(block)
        if parity is not None:
            self._parity_pool.put(parity)
        self._close_idle()

    async def _settle_oldest(self) -> None:
        b, fut, live = self._inflight.popleft()
        crcs, batch, results = await settle(fut)
        self._crcs[b] = crcs
        for (s, _), err in zip(live, ops.errors(batch, results)):
            if err is not None and s not in self.failed:
                self._fail(s, str(err))
        self._check_quorum()

    async def add_block(self, block: AlignedBuffer, length: int) -> None:
        """Queue one block (`length` data bytes; only the last may be short). Returns once
        fewer than DEPTH blocks are in flight; raises if the part cannot be written."""
        try:
            await self._ensure_open()
            while len(self._inflight) >= self.DEPTH:
                await self._settle_oldest()
        except BaseException:
            if len(block) == self.pool.size:
                self.pool.put(block)
            raise
        b = self.blocks
        self.blocks += 1
        self.size += length
        self._crcs.append(None)
        parity = self._parity_pool.get() if self._parity_pool is not None else None
        live = [(s, fd) for s, fd in enumerate(self.fds) if fd is not None]
        fut = self.engine.submit(self._block_job, b, block, length, parity, live)
        self._track(fut, block, parity)
        self._inflight.append((b, fut, live))

    # -- the end ----------------------------------------------------------------------
    async def finish(self, meta: dict | None = None) -> PartInfo:
        """Write tables, footers and headers, sync the files and their directory entries;
        the part is durable after."""
        await self._ensure_open()
        while self._inflight:
            await self._settle_oldest()
        if self._hash_error is not None:
            raise self._hash_error
        if meta is not None:
            self.meta = meta
        g = Geometry(self.k, self.chunk, self.size)
        payload = g.payload_len
        table_off, footer_off, total = beexl.layout(self.header_len, payload, self.blocks)
        self.tables = [b"".join(c[s].to_bytes(4, "little") for c in self._crcs) for s in range(self.k + self.m)]
        leaves = [beexl.merkle_leaf(t) for t in self.tables]
        live = [s for s in range(self.k + self.m) if self.fds[s] is not None]
        writes = {}
        for s in live:
            header = beexl.ShardHeader(self.k, self.m, s, self.chunk, self.size, payload, 1, self.part,
                                       uuid.UUID(self.data_id), self.version_id, self.stamp, self.meta)
            tail = AlignedBuffer(beexl.table_len(self.blocks) + beexl.FOOTER_LEN)
            tv = memoryview(tail)
            tv[:len(self.tables[s])] = self.tables[s]
            tv[beexl.table_len(self.blocks):] = beexl.ShardFooter(1, payload, self.blocks, leaves[s]).encode()
            head = AlignedBuffer(self.header_len)
            memoryview(head)[:] = header.encode(self.header_len)
            writes[s] = (tail, head)
        fut = self.engine.submit(self._sync_job, writes, table_off, total)
        self._track(fut)
        errs = await settle(fut)
        for s, err in errs.items():
            self._fail(s, err)
            if err.startswith("fsync of"):
                self.disks.suspect(self.placement[s])
        self._close_all = True
        self._close_idle()
        self._check_quorum()
        return PartInfo(self.part, self.data_id, self.size, self.chunk, self.header_len, self.placement,
                        beexl.merkle_root(leaves), sorted(self.failed))

    def _sync_job(self, writes: dict, table_off: int, total: int) -> dict[int, str]:
        """On a worker thread: one batch with every live shard's table+footer and header
        writes and its fdatasync, beside an fsync of every directory whose entries this
        part created. Returns {shard: why it failed}."""
        errs: dict[int, str] = {}
        dirs: dict = {}              # directory -> shards whose files depend on its entries
        for s, (tail, head) in writes.items():
            if self._prealloc and self._prealloc != total:   # the body was not the size announced
                try:
                    os.ftruncate(self.fds[s], total)
                except OSError as exc:
                    errs[s] = f"ftruncate {self.paths[s]}: {exc.strerror}"
                    continue
            # the file's entry and those of its hash directories, up to the disk's objects
            # directory: another part may have created a directory this one found existing
            # and not have synced it yet; syncing a clean directory costs next to nothing
            root = self.disks.disks[self.placement[s]].objects
            d = self.paths[s].parent
            while True:
                dirs.setdefault(d, []).append(s)
                if d == root or d == d.parent:
                    break
                d = d.parent
        batch, owners = [], []
        for s, (tail, head) in writes.items():
            if s in errs:
                continue
            path = str(self.paths[s])
            batch += [ops.write(self.fds[s], tail, table_off, path, link=True),
                      ops.write(self.fds[s], head, 0, path, link=True),
                      ops.fdatasync(self.fds[s], path)]
            owners += [[s]] * 3
        dfds = []
        try:
            for d, shards in dirs.items():
                try:
                    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
                except OSError as exc:
                    for s in shards:
                        errs.setdefault(s, f"fsync of {d}: {exc.strerror}")
                    continue
                dfds.append(dfd)
                batch.append(ops.fsync(dfd, str(d)))
                owners.append(shards)
            results = self.engine.run(batch)
        finally:
            for dfd in dfds:
                os.close(dfd)
        for op, shards, err in zip(batch, owners, ops.errors(batch, results)):
            if err is not None:
                what = f"fsync of {op[4]}: {err.strerror}" if op[0] & 0xFF == ops.FSYNC else str(err)
                for s in shards:
                    errs.setdefault(s, what)
        return errs

    async def abort(self) -> None:
        """Stop and remove whatever was written (best effort; GC catches the rest). Files
        are closed once no job runs any more, even if this call is cancelled."""
        self._close_all = True
        self._close_idle()
        while self._inflight:
            fut = self._inflight.popleft()[1]
            try:
                await settle(fut)
            except BaseException:
                pass
        self._close_idle()
        paths = list(self.paths)

        def unlink_all():
            for path in paths:
                try:
                    os.unlink(path)
                except OSError:
                    pass
        await asyncio.get_running_loop().run_in_executor(None, unlink_all)


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
        self._careful_lock = asyncio.Lock()

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
        """Data bytes [start, end] (inclusive, offsets within block b), verified. One at a
        time per reader: a read ahead must not swap the CRC tables under another."""
        async with self._careful_lock:
            return await self._read_block(b, start, end)

    async def _read_block(self, b: int, start: int, end: int) -> bytes:
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

    SPAN_BLOCKS = 4           # blocks one read-ahead job reads (one thread hop for them)
    READ_AHEAD = 1            # jobs in flight beyond the one whose blocks are being sent

    async def stream(self, first: int, last: int) -> AsyncIterator[bytes]:
        """Yield data bytes [first, last] of the part, verified, a run of up to SPAN_BLOCKS
        blocks (~4 MiB) at a time, with the next READ_AHEAD runs already being read.

        Runs of blocks whose data chunks are all healthy as far as we know are read by one
        job on an engine thread: every chunk of the run straight into one new bytes object
        (what Granian sends without a further copy of ours; no join; one message per run)
        with its CRC32C computed, GIL released. Anything else -- the short last block, a
        block with a shard already known bad, a chunk that fails its check in such a job
        -- goes through `read_block`, which reads parity, rebuilds and reports the damage."""
        g = self.geometry
        if last < first:
            return
        blocks = g.block_range(first, last)
        await self._load_tables(list(range(self.k)), blocks.start, blocks.stop - 1)
        plan = self._plan(first, last, blocks)
        inflight: collections.deque = collections.deque()
        try:
            while plan or inflight:
                while plan and len(inflight) <= self.READ_AHEAD:
                    inflight.append(self._start(plan.popleft()))
                item, fut = inflight.popleft()
                result = await settle(fut)
                if isinstance(result, bytes):          # the whole run, every chunk verified
                    yield result
                    continue
                for (b, lo, hi), data in zip(item, result):
                    if data is None:   # a fast read found a bad chunk: redo it the careful way
                        data = await self.read_block(b, lo, hi)
                    yield data
        finally:
            for _, fut in inflight:   # never leave a read running on fds about to be closed
                try:
                    await settle(fut)
                except BaseException:
                    pass

    def _plan(self, first: int, last: int, blocks: range) -> collections.deque:
        """Runs of (block, start, end), up to SPAN_BLOCKS long; the short last block (its
        pieces are not chunk-aligned) always on its own."""
        g = self.geometry
        plan: collections.deque = collections.deque()
        run: list = []
        for b in blocks:
            base = b * g.block_size
            lo, hi = max(first - base, 0), min(last - base, g.block_len(b) - 1)
            short = g.piece_len(b) != g.disk_chunk_len(b)
            if short and run:
                plan.append(run)
                run = []
            run.append((b, lo, hi))
            if len(run) == self.SPAN_BLOCKS or short:
                plan.append(run)
                run = []
        if run:
            plan.append(run)
        return plan

    def _start(self, item: list) -> tuple[list, asyncio.Future]:
        g = self.geometry
        jobs = []
        at = 0
        for b, lo, hi in item:
            need = list(g.shards_for(b, lo, hi))
            fds = [self._fd(s) for s in need]
            crcs = [self._crc_of(s, b) for s in need]
            if g.piece_len(b) != g.disk_chunk_len(b) or None in fds or None in crcs:
                jobs = None
                break
            jobs.append((b, lo - need[0] * g.piece_len(b), at, at + hi - lo + 1, fds, crcs))
            at += hi - lo + 1
        if jobs is None:          # not for the fast path: one careful block at a time
            return item, asyncio.ensure_future(self._careful(item))
        # the bytes object is made here, on the loop thread that will free it (see new_bytes)
        return item, self.engine.submit(self._read_run, new_bytes(at), jobs)

    async def _careful(self, item: list) -> list[bytes]:
        return [await self.read_block(b, lo, hi) for b, lo, hi in item]

    def _read_run(self, data: bytes, jobs: list) -> bytes | list[bytes | None]:
        """On an engine thread: the run's wanted bytes, read in place into `data` and checked
        against the CRC tables. `data` itself when every chunk is whole and good; else (rare:
        damage) per block a copy of its verified bytes, or None for a block with any chunk
        unreadable, short or bad."""
        chunk = self.info.chunk
        good = []
        for b, skip, start, stop, fds, crcs in jobs:
            results, got = pread_bytes(data, fds, self.info.header_len + self.geometry.chunk_offset(b), chunk, skip,
                                       start, stop)
            good.append(got == crcs and all(r == chunk for r in results))
        if all(good):
            return data
        return [data[start:stop] if ok else None for (_, _, start, stop, _, _), ok in zip(jobs, good)]

    async def verify_all(self) -> dict[int, str]:
        """Read every chunk of every shard and check it (scrubbing); returns the bad ones."""
        g = self.geometry
        if g.blocks:
            await self._load_tables(list(range(self.k + self.m)), 0, g.blocks - 1)
        for b in range(g.blocks):
            await self._read_chunks(b, [s for s in range(self.k + self.m) if s not in self.bad])
        return dict(self.bad)
