"""The workloads: what one operation of each benchmark does, and what it needs prepared.

A workload is a list of phases; the runner drives each phase with N workers until its
duration or count is reached (or the rate is stable, with --autoterm). An operation is
one coroutine over one connection that records itself in `ctx.stats[...]`.

- put:       PUT new objects.
- get:       GET objects prepared beforehand (whole objects; bytes read and discarded).
- mixed:     a weighted mix of GET, PUT, DELETE and STAT (HEAD) over a prepared pool
             (warp's defaults: get=45, stat=30, put=15, delete=10).
- small:     many tiny objects: a PUT phase, then a GET phase reading them back.
- list:      full ListObjectsV2 listings (pages of 1000) of a prepared prefix.
- multipart: multipart uploads (create, parts, complete); per-part numbers too.
"""
from __future__ import annotations

import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from s3free.bench import s3ops
from s3free.bench.client import Connection, HTTPError
from s3free.bench.stats import OpStats

MIX_DEFAULT = {"get": 45, "stat": 30, "put": 15, "delete": 10}


class Payloads:
    """Random bytes made once; each object is a memoryview slice at a varying offset, so
    objects differ without generating data per request."""

    def __init__(self, max_size: int, seed: int | None = None):
        self.slack = max(min(max_size, 1 << 20), 4096)
        rng = random.Random(seed)
        self.data = rng.randbytes(max_size + self.slack) if seed is not None else os.urandom(max_size + self.slack)
        self.view = memoryview(self.data)

    def get(self, size: int, n: int):
        off = (n * 4099) % self.slack
        return self.view[off:off + size]


class Sizer:
    """A fixed size, or uniform random sizes in [lo, hi]."""

    def __init__(self, lo: int, hi: int, seed: int | None = None):
        self.lo, self.hi = lo, hi
        self.rng = random.Random(seed)

    def next(self) -> int:
        return self.lo if self.lo == self.hi else self.rng.randint(self.lo, self.hi)

    @property
    def mean(self) -> float:
        return (self.lo + self.hi) / 2


class Pool:
    """Prepared objects (key -> size). Reads mark a key busy so a concurrent DELETE in the
    mixed workload never removes an object being read."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.index: dict[str, int] = {}
        self.sizes: dict[str, int] = {}
        self.busy: dict[str, int] = {}
        self.rng = random.Random()

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, key: str, size: int) -> None:
        if key not in self.index:
            self.index[key] = len(self.keys)
            self.keys.append(key)
        self.sizes[key] = size

    def pick(self) -> str:
        key = self.keys[self.rng.randrange(len(self.keys))]
        self.busy[key] = self.busy.get(key, 0) + 1
        return key

    def release(self, key: str) -> None:
        left = self.busy.get(key, 1) - 1
        if left:
            self.busy[key] = left
        else:
            self.busy.pop(key, None)

    def take_for_delete(self) -> str | None:
        """Remove and return a random idle key (None if none is idle)."""
        for _ in range(8):
            key = self.keys[self.rng.randrange(len(self.keys))]
            if key not in self.busy:
                break
        else:
            return None
        i = self.index.pop(key)
        last = self.keys.pop()
        if last != key:
            self.keys[i] = last
            self.index[last] = i
        self.sizes.pop(key, None)
        return key


@dataclass
class Context:
    bucket: str
    prefix: str
    payloads: Payloads
    sizer: Sizer
    stats: dict[str, OpStats]
    pool: Pool = field(default_factory=Pool)
    mix: dict[str, int] = field(default_factory=lambda: dict(MIX_DEFAULT))
    part_size: int = 5 << 20
    counter: int = 0
    rng: random.Random = field(default_factory=random.Random)
    listing_expect: int = -1

    def new_key(self) -> str:
        n = self.counter
        self.counter += 1
        # spread keys over the key space (not appended in order), unique by the counter
        return f"{self.prefix}{(n * 2654435761) % (1 << 32):08x}.{n}"

    def stat(self, name: str) -> OpStats:
        return self.stats[name]


Op = Callable[[Connection, Context], Awaitable[None]]


@dataclass
class Phase:
    name: str          # the stat the phase is measured (and autoterminated) by
    op: Op
    needs_pool: bool = False


async def _timed(ctx: Context, name: str, call, nbytes: int | None = None, check_len: int | None = None):
    """Run `call()` (a coroutine factory returning a Response), record it under `name`."""
    st = ctx.stats[name]
    t0 = time.perf_counter()
    try:
        resp = await call()
    except (s3ops.S3CallError, HTTPError, OSError) as exc:
        st.error(t0, time.perf_counter(), str(exc))
        return None
    if check_len is not None and resp.length != check_len:
        st.error(t0, t0 + resp.latency, f"{name}: got {resp.length} bytes, expected {check_len}")
        return None
    st.record(t0, t0 + resp.latency, resp.length if nbytes is None else nbytes, resp.ttfb)
    return resp


async def op_put(conn: Connection, ctx: Context) -> None:
    key = ctx.new_key()
    size = ctx.sizer.next()
    body = ctx.payloads.get(size, ctx.counter)
    if await _timed(ctx, "put", lambda: s3ops.put(conn, ctx.bucket, key, body), nbytes=size) is not None:
        ctx.pool.add(key, size)


async def op_get(conn: Connection, ctx: Context) -> None:
    key = ctx.pool.pick()
    try:
        await _timed(ctx, "get", lambda: s3ops.get(conn, ctx.bucket, key), check_len=ctx.pool.sizes[key])
    finally:
        ctx.pool.release(key)


async def op_stat(conn: Connection, ctx: Context) -> None:
    key = ctx.pool.pick()
    try:
        await _timed(ctx, "stat", lambda: s3ops.stat(conn, ctx.bucket, key), nbytes=0)
    finally:
        ctx.pool.release(key)


async def op_delete(conn: Connection, ctx: Context) -> None:
    key = ctx.pool.take_for_delete() if len(ctx.pool) > 1 else None
    if key is None:          # nothing idle to delete: keep the pool alive with a PUT instead
        return await op_put(conn, ctx)
    await _timed(ctx, "delete", lambda: s3ops.delete(conn, ctx.bucket, key), nbytes=0)


_MIXED_OPS = {"get": op_get, "put": op_put, "delete": op_delete, "stat": op_stat}


async def op_mixed(conn: Connection, ctx: Context) -> None:
    names = list(ctx.mix)
    name = ctx.rng.choices(names, weights=[ctx.mix[n] for n in names])[0]
    await _MIXED_OPS[name](conn, ctx)


async def op_list(conn: Connection, ctx: Context) -> None:
    st = ctx.stats["list"]
    t0 = time.perf_counter()
    token, seen, nbytes, ttfb = "", 0, 0, None
    try:
        while True:
            keys, token, resp = await s3ops.list_page(conn, ctx.bucket, ctx.prefix, token)
            seen += len(keys)
            nbytes += resp.length
            ttfb = resp.ttfb if ttfb is None else ttfb
            if not token:
                break
    except (s3ops.S3CallError, HTTPError, OSError) as exc:
        st.error(t0, time.perf_counter(), str(exc))
        return
    end = time.perf_counter()
    if ctx.listing_expect >= 0 and seen != ctx.listing_expect:
        st.error(t0, end, f"list: saw {seen} keys, expected {ctx.listing_expect}")
        return
    st.record(t0, end, nbytes, ttfb)


async def op_multipart(conn: Connection, ctx: Context) -> None:
    st, part_st = ctx.stats["multipart"], ctx.stats["part"]
    key = ctx.new_key()
    size = ctx.sizer.next()
    body = ctx.payloads.get(size, ctx.counter)
    t0 = time.perf_counter()
    upload_id = ""
    try:
        upload_id = await s3ops.multipart_create(conn, ctx.bucket, key)
        etags = []
        for number, off in enumerate(range(0, max(size, 1), ctx.part_size), 1):
            piece = body[off:off + ctx.part_size]
            p0 = time.perf_counter()
            etags.append(await s3ops.multipart_part(conn, ctx.bucket, key, upload_id, number, piece))
            part_st.record(p0, time.perf_counter(), len(piece))
        await s3ops.multipart_complete(conn, ctx.bucket, key, upload_id, etags)
    except (s3ops.S3CallError, HTTPError, OSError) as exc:
        st.error(t0, time.perf_counter(), str(exc))
        if upload_id:
            try:
                await s3ops.multipart_abort(conn, ctx.bucket, key, upload_id)
            except (s3ops.S3CallError, HTTPError, OSError):
                pass
        return
    st.record(t0, time.perf_counter(), size)
    ctx.pool.add(key, size)


@dataclass(frozen=True)
class Workload:
    name: str
    stats: tuple[str, ...]          # stat names it reports
    phases: tuple[Phase, ...]
    prepare: bool                   # needs a pool of objects before measuring
    default_size: str
    default_objects: int = 0        # prepared objects when --objects is not given (0: derived)


WORKLOADS: dict[str, Workload] = {
    "put": Workload("put", ("put",), (Phase("put", op_put),), False, "1MiB"),
    "get": Workload("get", ("get",), (Phase("get", op_get, True),), True, "1MiB"),
    "mixed": Workload("mixed", ("get", "put", "delete", "stat"), (Phase("mixed", op_mixed, True),), True, "1MiB"),
    "small": Workload("small", ("put", "get"), (Phase("put", op_put), Phase("get", op_get, True)), False, "1KiB"),
    "list": Workload("list", ("list",), (Phase("list", op_list, True),), True, "1KiB", default_objects=1000),
    "multipart": Workload("multipart", ("multipart", "part"), (Phase("multipart", op_multipart),), False,
                          "16MiB"),
}


def parse_mix(text: str) -> dict[str, int]:
    """'get=45,put=15,delete=10,stat=30' -> weights (names from GET/PUT/DELETE/STAT)."""
    mix: dict[str, int] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        name = name.strip().lower()
        if not sep or name not in _MIXED_OPS or not value.strip().isdigit():
            raise ValueError(f"bad --mix item {item!r} (expected e.g. get=45,put=15,delete=10,stat=30)")
        mix[name] = int(value)
    if not mix or sum(mix.values()) <= 0:
        raise ValueError("--mix needs at least one positive weight")
    return {k: v for k, v in mix.items() if v > 0}
