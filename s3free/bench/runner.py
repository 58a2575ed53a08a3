"""Drive a workload: bucket and data set-up, N workers per phase until a duration or a
count (or a stable rate with autoterm), progress on a terminal, clean-up, one result dict.

The benchmark owns a key prefix (random per run) in its bucket: it prepares objects there,
measures, then deletes everything under the prefix (DeleteObjects in batches of 1000,
falling back to single DELETEs), aborts its multipart uploads, and removes the bucket if
it created it and it is empty. It never touches other keys.
"""
from __future__ import annotations

import asyncio
import math
import os
import resource
import sys
import time
import uuid
from dataclasses import dataclass, field

from s3free.bench import s3ops
from s3free.bench.client import Connection, Endpoint, HTTPError, Signer
from s3free.bench.stats import MIB, OpStats, is_stable
from s3free.bench.workloads import MIX_DEFAULT, WORKLOADS, Context, Payloads, Phase, Sizer, op_put

SIGNING = "SigV4 with x-amz-content-sha256: UNSIGNED-PAYLOAD (bodies are not hashed by the client)"


@dataclass
class Config:
    workload: str
    endpoint: str
    access_key: str
    secret_key: str
    size_min: int
    size_max: int
    concurrency: int = 16
    duration: float = 30.0
    count: int = 0                  # > 0: stop each phase after this many operations
    bucket: str = "s3free-bench"
    prefix: str = ""                # "" -> bench-<random>/
    objects: int = 0                # prepared objects (0: derived from size and concurrency)
    mix: dict[str, int] = field(default_factory=lambda: dict(MIX_DEFAULT))
    part_size: int = 5 << 20
    autoterm: bool = False
    autoterm_samples: int = 7
    autoterm_pct: float = 7.5
    cleanup: bool = True
    region: str = "us-east-1"
    insecure: bool = False
    progress: bool = False
    seed: int | None = None


def default_objects(cfg: Config) -> int:
    """Prepared pool: at least 2 per worker, up to 2500 (warp's mixed default) and ~1 GiB."""
    wl = WORKLOADS[cfg.workload]
    if cfg.objects:
        return cfg.objects
    if wl.default_objects:
        return wl.default_objects
    mean = max((cfg.size_min + cfg.size_max) / 2, 1)
    return int(max(2 * cfg.concurrency, min(2500, (1 << 30) // mean)))


class Runner:
    def __init__(self, cfg: Config):
        if cfg.workload not in WORKLOADS:
            raise ValueError(f"unknown workload {cfg.workload!r} (one of {', '.join(WORKLOADS)})")
        self.cfg = cfg
        self.workload = WORKLOADS[cfg.workload]
        self.endpoint = Endpoint(cfg.endpoint, insecure=cfg.insecure)
        self.signer = Signer(cfg.access_key, cfg.secret_key, cfg.region)
        self.prefix = cfg.prefix or f"bench-{uuid.uuid4().hex[:10]}/"
        self.origin = 0.0
        self.conns: list[Connection] = []
        self.autoterm_stopped: list[str] = []
        self.notes: list[str] = []

    # ---- entry point -------------------------------------------------------------------------
    def run(self) -> dict:
        return asyncio.run(self.main())

    async def main(self) -> dict:
        cfg = self.cfg
        self.origin = time.perf_counter()
        stats = {name: OpStats(name, self.origin) for name in self.workload.stats}
        payload_max = cfg.size_max
        ctx = Context(cfg.bucket, self.prefix, Payloads(max(payload_max, 1), cfg.seed),
                      Sizer(cfg.size_min, cfg.size_max, cfg.seed), stats, mix=dict(cfg.mix),
                      part_size=cfg.part_size)
        bufsize = (1 << 20) if cfg.size_max >= (1 << 20) else (256 << 10)
        self.conns = [Connection(self.endpoint, self.signer, bufsize) for _ in range(cfg.concurrency)]
        result: dict = {}
        created = False
        try:
            created = await s3ops.create_bucket(self.conns[0], cfg.bucket)
            prep_s, prepared = 0.0, 0
            if self.workload.prepare:
                t = time.perf_counter()
                if cfg.progress:
                    sys.stderr.write(f"preparing {default_objects(cfg)} objects...\n")
                    sys.stderr.flush()
                prepared = await self.prepare(ctx, default_objects(cfg))
                prep_s = time.perf_counter() - t
                if cfg.workload == "list":
                    ctx.listing_expect = prepared
            cpu0, wall0 = _cpu(), time.perf_counter()
            measured_from = time.perf_counter()
            for phase in self.workload.phases:
                await self.run_phase(phase, ctx)
            wall = time.perf_counter() - wall0
            cpu = _cpu() - cpu0
            result = self.result(stats, prepared, prep_s, cpu, wall, measured_from)
        finally:
            if cfg.cleanup:
                cleanup = await self.cleanup(created)
            else:
                cleanup = {"enabled": False, "deleted": 0, "remaining": None, "seconds": 0.0,
                           "bucket_removed": False}
            for c in self.conns:
                c.close()
        result["cleanup"] = cleanup
        return result

    # ---- phases ------------------------------------------------------------------------------
    async def prepare(self, ctx: Context, n: int) -> int:
        """PUT n objects under the prefix (not measured; kept in ctx.pool)."""
        scratch = OpStats("prepare", self.origin)
        real = ctx.stats
        ctx.stats = {"put": scratch}
        todo = iter(range(n))

        async def worker(conn: Connection) -> None:
            for _ in todo:
                await op_put(conn, ctx)
                if scratch.errors:
                    return
        await asyncio.gather(*(worker(c) for c in self.conns))
        ctx.stats = real
        if scratch.errors:
            raise RuntimeError(f"preparing {n} objects failed: {scratch.error_samples[0]}")
        return scratch.ops

    async def run_phase(self, phase: Phase, ctx: Context) -> None:
        cfg = self.cfg
        if phase.needs_pool and not len(ctx.pool):
            raise RuntimeError(f"phase {phase.name}: no objects to work on")
        start = time.perf_counter()
        deadline = start + cfg.duration if cfg.duration > 0 else math.inf
        state = {"left": cfg.count if cfg.count > 0 else -1, "stop": False}

        async def worker(conn: Connection) -> None:
            while not state["stop"]:
                if state["left"] == 0 or time.perf_counter() >= deadline:
                    break
                if state["left"] > 0:
                    state["left"] -= 1
                await phase.op(conn, ctx)

        watcher = asyncio.create_task(self.watch(phase, ctx, start, state))
        try:
            await asyncio.gather(*(worker(c) for c in self.conns))
        finally:
            state["stop"] = True
            watcher.cancel()
            try:
                await watcher
            except asyncio.CancelledError:
                pass
            if cfg.progress:
                sys.stderr.write("\n")
                sys.stderr.flush()

    async def watch(self, phase: Phase, ctx: Context, start: float, state: dict) -> None:
        """Once a second: the progress line (on a terminal) and the autoterm check."""
        cfg = self.cfg
        names = list(self.workload.stats) if phase.name == "mixed" else [phase.name]
        first_sec = int(start - self.origin) + 1      # the first whole second of the phase
        while True:
            await asyncio.sleep(1.0)
            now = time.perf_counter()
            cur_sec = int(now - self.origin)
            sts = [ctx.stats[n] for n in names if n in ctx.stats]
            if cfg.progress:
                ops = sum(s.ops for s in sts)
                errs = sum(s.errors for s in sts)
                last = sum(s.ops_in_second(cur_sec - 1) for s in sts)
                mbps = sum(s.bytes_in_second(cur_sec - 1) for s in sts) / MIB
                sys.stderr.write(f"\r{phase.name:<9} {now - start:6.1f}s  ops {ops:>8}  {last:>7} ops/s  "
                                 f"{mbps:9.1f} MiB/s  errors {errs}   ")
                sys.stderr.flush()
            if cfg.autoterm:
                rates = [sum(s.bytes_in_second(sec) if self._by_bytes() else s.ops_in_second(sec) for s in sts)
                         for sec in range(first_sec, cur_sec)]
                if is_stable(rates, cfg.autoterm_samples, cfg.autoterm_pct):
                    state["stop"] = True
                    self.autoterm_stopped.append(phase.name)
                    return

    def _by_bytes(self) -> bool:
        return self.cfg.size_min >= (1 << 20) and self.cfg.workload not in ("list", "mixed")

    # ---- clean-up ----------------------------------------------------------------------------
    async def cleanup(self, created_bucket: bool) -> dict:
        t = time.perf_counter()
        conns = self.conns
        for c in conns:       # a failed run may leave a connection mid-response
            c.close()
        deleted, batch_ok = 0, True
        lister = conns[0]

        async def delete_batch(conn: Connection, keys: list[str]) -> int:
            nonlocal batch_ok
            if batch_ok:
                try:
                    failed = await s3ops.delete_many(conn, self.cfg.bucket, keys)
                    if not failed:
                        return len(keys)
                except s3ops.S3CallError:
                    batch_ok = False
            done = 0
            for key in keys:                      # one by one (servers without DeleteObjects)
                try:
                    await s3ops.delete(conn, self.cfg.bucket, key)
                    done += 1
                except s3ops.S3CallError:
                    pass
            return done

        try:
            if self.cfg.workload == "multipart":
                for key, upload_id in await s3ops.list_uploads(lister, self.cfg.bucket, self.prefix):
                    await s3ops.multipart_abort(lister, self.cfg.bucket, key, upload_id)
            for _round in range(3):
                keys: list[str] = []
                token = ""
                while True:
                    page, token, _ = await s3ops.list_page(lister, self.cfg.bucket, self.prefix, token)
                    keys += page
                    if not token:
                        break
                if not keys:
                    break
                batches = [keys[i:i + 1000] for i in range(0, len(keys), 1000)]
                queue = iter(batches)

                async def worker(conn: Connection) -> int:
                    n = 0
                    for b in queue:
                        n += await delete_batch(conn, b)
                    return n
                deleted += sum(await asyncio.gather(*(worker(c) for c in conns[:max(1, min(4, len(conns)))])))
            remaining, _, _ = await s3ops.list_page(lister, self.cfg.bucket, self.prefix, max_keys=1000)
            removed = False
            if created_bucket and not remaining:
                try:
                    await s3ops.delete_bucket(lister, self.cfg.bucket)
                    removed = True
                except s3ops.S3CallError:       # something else lives in it: leave it
                    pass
        except (s3ops.S3CallError, HTTPError, OSError) as exc:
            return {"enabled": True, "deleted": deleted, "remaining": None, "seconds": round(time.perf_counter() - t, 3),
                    "bucket_removed": False, "error": str(exc)}
        return {"enabled": True, "deleted": deleted, "remaining": len(remaining),
                "seconds": round(time.perf_counter() - t, 3), "bucket_removed": removed}

    # ---- the result ----------------------------------------------------------------------------
    def result(self, stats: dict[str, OpStats], prepared: int, prep_s: float, cpu: float, wall: float,
               measured_from: float) -> dict:
        cfg = self.cfg
        ops = {name: st.to_dict() for name, st in stats.items()}
        # "part" is a breakdown of "multipart": the total counts whole operations only
        measured = [st for name, st in stats.items() if (st.ops or st.errors) and name != "part"]
        total_ops = sum(st.ops for st in measured)
        total_bytes = sum(st.bytes for st in measured)
        first = min((st.first for st in measured), default=measured_from)
        last = max((st.last for st in measured), default=measured_from)
        if self.workload.name == "small":          # phases run one after the other: add their windows
            secs = sum(st.seconds for st in measured)
        else:
            secs = max(last - first, 0.0)
        return {
            "tool": "s3free bench",
            "workload": cfg.workload,
            "endpoint": self.endpoint.url,
            "bucket": cfg.bucket,
            "prefix": self.prefix,
            "signing": SIGNING,
            "concurrency": cfg.concurrency,
            "size_min": cfg.size_min,
            "size_max": cfg.size_max,
            "duration_limit_s": cfg.duration,
            "count_limit": cfg.count,
            "mix": dict(cfg.mix) if cfg.workload == "mixed" else None,
            "part_size": cfg.part_size if cfg.workload == "multipart" else None,
            "autoterm": cfg.autoterm,
            "autoterm_stopped": list(self.autoterm_stopped),
            "objects_prepared": prepared,
            "prepare_s": round(prep_s, 3),
            "ops": ops,
            "total": {
                "ops": total_ops,
                "errors": sum(st.errors for st in measured),
                "bytes": total_bytes,
                "seconds": round(secs, 4),
                "ops_per_s": round(total_ops / secs, 3) if secs > 0 else 0.0,
                "mbps": round(total_bytes / MIB / secs, 3) if secs > 0 else 0.0,
            },
            "client": {
                "cpu_s": round(cpu, 3),
                "wall_s": round(wall, 3),
                "cpu_pct": round(100.0 * cpu / wall, 1) if wall > 0 else 0.0,   # 100 = one core busy
                "connections": len(self.conns),
                "reconnects": sum(max(c.opened - 1, 0) for c in self.conns),
                "pid": os.getpid(),
            },
        }


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime
