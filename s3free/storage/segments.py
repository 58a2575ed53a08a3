"""Coalesced segment files: the per-worker, append-only journal on every disk.

Each worker process appends to its own open segment, one file per disk, and every disk
receives the same records in the same order, so a record's offset is the same on all of
them and the index stores one (segment, offset, length). Concurrent appends are grouped:
one durable write per disk per batch (one io_uring submit), then one LMDB transaction
applies every record's index change, then all of them are acknowledged.

Why the writes look the way they do: a write + fdatasync that appends to a file makes
the filesystem commit its journal (the file grew) — measured ~70 µs of kernel CPU per
file per batch, nine files per batch, which was half of a small PUT's cost. So the open
segment is preallocated (fallocate, in steps) and written with O_DIRECT | O_DSYNC in whole
4 KiB pages: the batch's page-aligned span, starting with the partial tail page, which
is rewritten with the same bytes it already held (a sector either keeps its old bytes
or gets the identical new ones, so a torn write cannot damage an acknowledged record).
An unwritten preallocated tail reads as zeros: scans stop there. Sealing a segment
truncates it to its records.
"""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import errno
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from s3free.ioengine import IOEngine, ops
from s3free.meta.index import Index
from s3free.meta.locks import NodeLock, is_held, writer_lock_name
from s3free.native import AlignedBuffer, fallocate     # never emulated by writing zeros
from s3free.storage import records
from s3free.storage.disks import DiskSet
from s3free.storage.shards import WriteQuorumError, _fsync_dir

log = logging.getLogger("s3free.segments")

SUFFIX = ".seg"
PAGE = 4096
ALLOC_STEP = 8 << 20     # preallocate the open segment this much at a time
_NO_FALLOCATE = {errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


@dataclass(frozen=True)
class Location:
    segment: str
    offset: int
    length: int

    def to_list(self) -> list:
        return [self.segment, self.offset, self.length]

    @classmethod
    def from_list(cls, item) -> "Location":
        return cls(item[0], item[1], item[2])


@dataclass
class Commit:
    """What a record's index change reports back: its result for the caller, whether
    the new record is live, and the older records it made dead."""
    value: object = None
    live: bool = True
    dead: list[Location] = field(default_factory=list)


def heal_key(loc: Location) -> str:
    """The heal-queue name of a damaged journal record: 'seg:<segment>:<offset>:<length>'."""
    return f"seg:{loc.segment}:{loc.offset}:{loc.length}"


def refused_key(loc: Location) -> bytes:
    """The `state` key that marks a journal record whose index change was refused.

    A record is durable before its commit runs, and a commit may still refuse (a failed
    precondition, BucketNotEmpty, NoSuchUpload): the client then gets the error, and the
    scrubber must never bring that record back as a "lost" write."""
    return f"refused:{heal_key(loc)}".encode()


def refused_prefix(segment: str) -> bytes:
    return f"refused:seg:{segment}:".encode()


def parse_heal_key(name: str) -> Location:
    _, segment, offset, length = name.split(":")
    return Location(segment, int(offset), int(length))


CommitFn = Callable[[object, Location, list[int]], Commit]   # (txn, location, missing disks)


@dataclass
class _Pending:
    rtype: int
    meta: bytes
    bodies: list | None
    stamp: tuple[int, int]
    commit: CommitFn
    future: asyncio.Future
    length: int = 0


def segment_path(disks: DiskSet, disk: int, segment: str) -> Path:
    return disks.disks[disk].segments / (segment + SUFFIX)


class SegmentLog:
    def __init__(self, disks: DiskSet, engine: IOEngine, index: Index, k: int,
                 max_segment: int = 64 << 20, max_batch: int = 8 << 20, quorum: int | None = None):
        self.disks, self.engine, self.index = disks, engine, index
        self.k = k
        self.m = disks.n - k           # small objects use every disk: RS(k, n - k)
        self.max_segment, self.max_batch = max_segment, max_batch
        self.quorum = quorum if quorum is not None else min(k + 1, disks.n)
        self.writer = os.urandom(6).hex()
        # held while this writer lives: compaction never takes a live writer's open segment
        self._lease = NodeLock(index.path, writer_lock_name(self.writer))
        try:
            self._lease.try_acquire()
        except OSError as exc:      # e.g. a read-only metadata dir (offline tools)
            log.warning("no writer lease in %s: %s", index.path, exc)
        self._seq = 0
        self._segment: str | None = None
        self._fds: dict[int, int] = {}
        self._names: dict[int, str] = {}     # disk -> the open segment's file name (for errors)
        self._size = 0
        self._allocated = 0          # bytes preallocated in the open segment's files
        self._tails: dict[int, bytes] = {}   # disk -> bytes of its partial last page
        self._broken = False
        self._pending: collections.deque[_Pending] = collections.deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._read_fds: collections.OrderedDict[tuple[int, str], tuple[int, str]] = collections.OrderedDict()
        self._flushing = False
        self._index_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="s3free-index")
        self.batches = 0            # flushed batches, for tests and metrics
        self.appended = 0           # records appended

    # -- appending --------------------------------------------------------------------
    async def append(self, rtype: int, meta: dict, bodies: list | None, stamp: tuple[int, int],
                     commit: CommitFn):
        """Append one record (on every disk; `bodies[i]` is disk i's body) and apply its
        index change; returns the Commit's value once durable and committed."""
        if bodies is not None and len(bodies) != self.disks.n:
            raise ValueError(f"need one body per disk ({self.disks.n})")
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._flusher())
        item = _Pending(rtype, records.pack_meta(meta), bodies, stamp, commit, loop.create_future())
        item.length = records.HEAD_LEN + len(item.meta) + (len(bodies[0]) if bodies else 0)
        self._pending.append(item)
        self._wake.set()
        return await item.future

    async def _flusher(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, size = [], 0
                while self._pending and (not batch or size + self._pending[0].length <= self.max_batch):
                    item = self._pending.popleft()
                    batch.append(item)
                    size += item.length
                self._flushing = True
                try:
                    await self._flush(batch, size)
                except Exception as exc:  # never leave a caller waiting
                    log.exception("segment flush failed")
                    for item in batch:
                        if not item.future.done():
                            item.future.set_exception(exc)
                finally:
                    self._flushing = False

    def _roll(self) -> None:
        """Seal the open segment and start a new one on every online disk."""
        self._seal()
        self._seq += 1
        self._segment = f"{self.writer}-{self._seq:06d}"
        self._size = 0
        self._allocated = 0
        self._tails = {}
        self._broken = False
        for d in self.disks.online():
            path = segment_path(self.disks, d, self._segment)
            try:
                self._fds[d] = _open_journal(path)
                self._names[d] = str(path)
                _fsync_dir(path.parent)
            except OSError as exc:
                self.disks.mark_offline(d, f"cannot create segment {path}: {exc.strerror}")
        with self.index.write() as txn:
            self.index.put(txn, "segments", self._segment.encode(),
                           {"total": 0, "live": 0, "sealed": False, "writer": self.writer})

    def _preallocate(self, end: int) -> None:
        """Make sure every open file has room up to `end` (a disk that cannot is dropped
        from this segment, like a failed write)."""
        if end <= self._allocated:
            return
        new = max(self._allocated + ALLOC_STEP, -(-end // PAGE) * PAGE)
        for d, fd in list(self._fds.items()):
            try:
                fallocate(fd, self._allocated, new - self._allocated)
            except OSError as exc:
                if exc.errno in _NO_FALLOCATE:
                    continue        # the filesystem cannot: the writes simply extend the file
                log.warning("segment preallocation failed on disk %d: %s", d, exc.strerror)
                os.close(self._fds.pop(d))
                self._broken = True
                self.disks.suspect(d)
        self._allocated = new

    def _seal(self) -> None:
        for fd in self._fds.values():
            try:
                os.ftruncate(fd, self._size)     # drop the preallocated, unwritten tail
            except OSError:
                pass
            os.close(fd)
        self._fds.clear()
        if self._segment is not None:
            with self.index.write() as txn:
                info = self.index.get(txn, "segments", self._segment.encode())
                if info is not None:
                    info["sealed"] = True
                    self.index.put(txn, "segments", self._segment.encode(), info)

    async def _flush(self, batch: list[_Pending], size: int) -> None:
        """Write and apply one batch on the index thread (one trip off the event loop:
        every trip back to a busy loop costs the whole batch), then answer its callers."""
        outcomes = await asyncio.get_running_loop().run_in_executor(self._index_thread, self._write_batch, batch, size)
        if isinstance(outcomes, Exception):
            for item in batch:
                item.future.set_exception(outcomes)
            return
        self.appended += len(batch)
        for item, outcome in zip(batch, outcomes):
            if isinstance(outcome, Exception):
                item.future.set_exception(outcome)
            else:
                item.future.set_result(outcome)

    def _write_batch(self, batch: list[_Pending], size: int) -> list | Exception:
        """Append the batch to every disk's open segment (one durable write each), then
        apply its index changes; returns per-item outcomes, or the quorum error."""
        joined = set(self.disks.online()) - set(self._fds)   # a disk came (back): give it a fresh segment
        if self._segment is None or self._broken or joined or self._size + size > self.max_segment:
            self._roll()
        if self._size + size > self._allocated:
            self._preallocate(self._size + size)
        for d in [d for d in self._fds if not self.disks.disks[d].online]:
            os.close(self._fds.pop(d))     # gone since the roll: never write into a lost disk
        disks = sorted(self._fds)
        offset = self._size
        start = offset - offset % PAGE
        end = offset + size
        bufs = {}
        for d in disks:
            buf = AlignedBuffer(-(-(end - start) // PAGE) * PAGE)
            view = memoryview(buf)
            tail = self._tails.get(d, b"")
            view[:len(tail)] = tail
            at = len(tail)
            for it in batch:
                rec = records.encode(it.rtype, d, self.k, self.m, it.stamp, it.meta, it.bodies[d] if it.bodies else b"")
                view[at:at + len(rec)] = rec
                at += len(rec)
            bufs[d] = buf
        io = [ops.write(self._fds[d], bufs[d], start, self._names[d])
              for d in disks]
        errs = ops.errors(io, self.engine.run(io))
        failed = [d for d, err in zip(disks, errs) if err]
        for d, err in zip(disks, errs):
            if err:
                self._broken = True          # keep offsets equal on all disks: roll next time
                self.disks.suspect(d)
                log.warning("segment write failed on disk %d: %s", d, err)
        last_page = end - end % PAGE
        self._tails = {d: bytes(memoryview(bufs[d])[last_page - start:end - start]) for d in disks}
        self._size = end
        self.batches += 1
        ok = len(disks) - len(failed)
        missing = sorted(set(range(self.disks.n)) - set(disks) | set(failed))
        if ok < self.quorum:
            return WriteQuorumError(errno.EIO, f"write quorum lost: {ok} of {self.disks.n} disks took the "
                                    f"record, {self.quorum} needed")
        return self._apply(batch, self._segment, offset, size, missing)

    def _apply(self, batch: list[_Pending], segment: str, offset: int, size: int, missing: list[int]) -> list:
        """Apply a durable batch's index changes in one LMDB transaction (on the index
        thread: an LMDB write transaction must begin and end on one thread)."""
        outcomes: list = []
        seg_key = segment.encode()
        with self.index.write() as txn:
            live = 0
            dead: dict[str, int] = {}
            at = offset
            for item in batch:
                loc = Location(segment, at, item.length)
                at += item.length
                try:
                    res = item.commit(txn, loc, missing)
                except Exception as exc:  # the commit refused (precondition etc.)
                    outcomes.append(exc)
                    self.index.put(txn, "state", refused_key(loc), {"t": time.time()})
                    continue
                outcomes.append(res.value)
                if missing:     # a disk did not get this record: queue it for repair at once
                    self.index.put(txn, "heal", heal_key(loc).encode(),
                                   {"shards": {str(d): "not written" for d in missing}, "since": time.time()})
                if res.live:
                    live += item.length
                for old in res.dead:
                    dead[old.segment] = dead.get(old.segment, 0) + old.length
            info = self.index.get(txn, "segments", seg_key) or {"total": 0, "live": 0, "sealed": False,
                                                                 "writer": self.writer}
            info["total"] += size
            info["live"] += live
            self.index.put(txn, "segments", seg_key, info)
            for seg, nbytes in dead.items():
                self._subtract_live(txn, seg, nbytes)
        return outcomes

    def _subtract_live(self, txn, segment: str, nbytes: int) -> None:
        key = segment.encode()
        info = self.index.get(txn, "segments", key)
        if info is not None:
            info["live"] = max(0, info["live"] - nbytes)
            self.index.put(txn, "segments", key, info)

    def mark_dead(self, txn, locations: list[Location]) -> None:
        """Account records made dead outside an append (e.g. a delete by tombstone)."""
        for loc in locations:
            self._subtract_live(txn, loc.segment, loc.length)

    async def close(self) -> None:
        if self._task is not None:
            while self._pending or self._flushing:
                await asyncio.sleep(0.001)
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._seal()
        self._segment = None
        self._lease.release(remove=True)
        for fd, _ in self._read_fds.values():
            os.close(fd)
        self._read_fds.clear()

    # -- reading ----------------------------------------------------------------------
    def _read_fd(self, disk: int, segment: str) -> tuple[int, str]:
        """A cached read descriptor of a segment copy, and its path (for error messages)."""
        key = (disk, segment)
        got = self._read_fds.get(key)
        if got is not None:
            self._read_fds.move_to_end(key)
            return got
        path = str(segment_path(self.disks, disk, segment))
        got = self._read_fds[key] = (os.open(path, os.O_RDONLY), path)
        if len(self._read_fds) > 256:
            _, (old, _) = self._read_fds.popitem(last=False)
            _close_later(old)
        return got

    def forget(self, segment: str) -> None:
        """Drop cached descriptors of a segment that is being deleted. They are closed a
        little later: a read in flight may still be using one (closing it at once could
        hand its number to another file under that read)."""
        for key in [k for k in self._read_fds if k[1] == segment]:
            _close_later(self._read_fds.pop(key)[0])

    async def read(self, loc: Location, disks: list[int]) -> dict[int, records.Record | Exception]:
        """Read and verify the record at `loc` from each of `disks`."""
        return await self._read_each(loc, disks, records.parse)

    async def read_bodies(self, loc: Location, disks: list[int]) -> dict[int, bytes | Exception]:
        """Like read, but only each copy's verified body (no metadata decoding)."""
        return await self._read_each(loc, disks, records.verified_body)

    async def _read_each(self, loc: Location, disks: list[int], check) -> dict[int, object]:
        """`check(bytes, disk)` of each copy read, or why that copy is unusable."""
        out: dict[int, object] = {}
        for d, buf in (await self._read_copies(loc, disks)).items():
            try:
                out[d] = buf if isinstance(buf, Exception) else check(buf, shard=d)
            except records.RecordError as exc:
                out[d] = exc
        return out

    async def _read_copies(self, loc: Location, disks: list[int]) -> dict[int, bytearray | Exception]:
        """The raw bytes of the record at `loc` on each of `disks`. Cached copies are read
        without a thread round trip (IOEngine.aread): for warm small objects that is most
        of a GET's cost."""
        out: dict[int, bytearray | Exception] = {}
        batch, which = [], []
        for d in disks:
            if not self.disks.disks[d].online:
                out[d] = OSError(errno.ENODEV, f"disk {d} offline")
                continue
            try:
                fd, name = self._read_fd(d, loc.segment)
            except OSError as exc:
                out[d] = exc
                continue
            batch.append(ops.read(fd, bytearray(loc.length), loc.offset, name))
            which.append(d)
        if batch:
            results = await self.engine.aread(batch)
            for d, op, err in zip(which, batch, ops.errors(batch, results)):
                out[d] = err if err is not None else op[2]
        return out


def _close_later(fd: int, delay: float = 30.0) -> None:
    try:
        asyncio.get_running_loop().call_later(delay, os.close, fd)
    except RuntimeError:      # no loop (offline tools): nobody else can be reading
        os.close(fd)


def _open_journal(path: Path) -> int:
    """A new segment file for durable page writes: O_DIRECT | O_DSYNC where the
    filesystem has O_DIRECT, else O_DSYNC alone (same writes, through the page cache)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_DSYNC
    try:
        return os.open(path, flags | getattr(os, "O_DIRECT", 0), 0o644)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        return os.open(path, flags & ~os.O_EXCL, 0o644)   # some kernels create it before refusing


def writer_alive(index: Index, writer: str) -> bool:
    """Whether the process that writes segments as `writer` is still running."""
    return bool(writer) and is_held(index.path, writer_lock_name(writer))


def list_segments(disks: DiskSet) -> list[str]:
    """Every segment id present on any online disk."""
    names: set[str] = set()
    for d in disks.online():
        try:
            names.update(p[:-len(SUFFIX)] for p in os.listdir(disks.disks[d].segments) if p.endswith(SUFFIX))
        except OSError:
            continue
    return sorted(names)


def scan(path: Path, start: int = 0, chunk: int = 1 << 20) -> Iterator[tuple[int, records.Record | None, int]]:
    """Walk a segment file record by record from `start`: (offset, record or None if
    damaged, length). Stops where no valid record head can be read."""
    try:
        fh = open(path, "rb")
    except OSError:
        return
    with fh:
        fh.seek(start)
        buf = b""
        pos = 0            # where the next record starts within buf
        base = start       # file offset of buf[0]
        while True:
            avail = len(buf) - pos
            want = records.HEAD_LEN
            if avail >= records.HEAD_LEN:
                try:
                    want = records.parse_head(memoryview(buf)[pos:]).length
                except records.RecordError:
                    return
            if avail < want:
                more = fh.read(max(chunk, want - avail))
                if not more:
                    return
                buf = buf[pos:] + more
                base += pos
                pos = 0
                continue
            try:
                rec = records.parse(memoryview(buf)[pos:pos + want])
            except records.RecordError:
                rec = None
            yield base + pos, rec, want
            pos += want


def scan_any(disks: DiskSet, segment: str, exclude: tuple[int, ...] = ()) -> Iterator[tuple[int, records.Record, int]]:
    """Walk a segment's records, reading one disk and switching to another copy at any
    offset where this one is damaged (records sit at the same offset on every disk).
    The end is where the copies hold zeros (an open segment's preallocated tail) or a
    torn record (a crash mid-append, never acknowledged)."""
    paths = [p for p in (segment_path(disks, d, segment) for d in disks.online() if d not in exclude)
             if p.exists()]
    size = max((p.stat().st_size for p in paths), default=0)
    offset = 0
    while offset < size:
        for path in paths:
            advanced = False
            for off, rec, length in scan(path, offset):
                if rec is None:
                    break
                yield off, rec, length
                offset = off + length
                advanced = True
            if advanced:
                break
        else:
            if not any(_blank_at(p, offset) for p in paths):
                log.warning("segment %s: no intact record at offset %d of %d; the rest is skipped",
                            segment, offset, size)
            return


def _blank_at(path: Path, offset: int) -> bool:
    """Zeros where a record head would be: the unwritten end of a journal."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            head = fh.read(records.HEAD_LEN)
    except OSError:
        return False
    return len(head) == records.HEAD_LEN and not any(head)
