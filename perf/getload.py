"""A small-object GET load that runs until told to stop, for measuring latency in a window.

`bench_heal.py` needs the GET p99 exactly while a refill runs, whose length it does not
know in advance; a fixed-duration load mixes quiet time in. So this load runs in its own
process (the measuring process polls the index and must not steal its GIL), prepares its
objects, says `ready`, then GETs until its stdin closes and prints every GET as
[start, latency] (CLOCK_MONOTONIC seconds, shared by all processes, and milliseconds).
The caller cuts windows out of one continuous run: `p99_in(samples, t0, t1)`.

    python perf/getload.py --endpoint http://127.0.0.1:9000 [-c 8] [--size 4096]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import servers  # noqa: E402


def p99_in(samples: list, t0: float, t1: float) -> tuple[float | None, int]:
    """(p99 latency in ms, count) of the GETs that started in [t0, t1].

    >>> p99_in([[float(i), float(i)] for i in range(200)], 0, 99.5)
    (98.01, 100)
    >>> p99_in([], 0, 1)
    (None, 0)
    """
    from s3free.bench.stats import percentile
    lat = [ms for t, ms in samples if t0 <= t <= t1]
    return (round(percentile(lat, 99), 3) if lat else None), len(lat)


class GetLoad:
    """The load as a child process: start(), then stop() -> samples."""

    def __init__(self, endpoint: str, concurrency: int = 8, size: int = 4096, objects: int = 256):
        self.args = [sys.executable, __file__, "--endpoint", endpoint, "-c", str(concurrency),
                     "--size", str(size), "--objects", str(objects)]
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"GET load failed to start (exit {self.proc.wait()})")

    def stop(self) -> list:
        out, _ = self.proc.communicate(timeout=120)
        return json.loads(out.strip().splitlines()[-1])


async def _run(args) -> list:
    from s3free.bench import s3ops
    from s3free.bench.client import Connection, Endpoint, Signer
    ep, signer = Endpoint(args.endpoint), Signer(servers.ROOT_USER, servers.ROOT_PASSWORD)
    conns = [Connection(ep, signer) for _ in range(args.concurrency)]
    bucket = "getload"
    try:
        await s3ops.create_bucket(conns[0], bucket)
    except s3ops.S3CallError:
        pass
    body = os.urandom(args.size)
    keys = [f"g{i:05d}" for i in range(args.objects)]
    for i in range(0, len(keys), len(conns)):
        await asyncio.gather(*(s3ops.put(c, bucket, k, body) for c, k in zip(conns, keys[i:i + len(conns)])))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    threading.Thread(target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)), daemon=True).start()
    samples: list = []

    async def worker(n: int, conn) -> None:
        i = n
        while not stop.is_set():
            t0 = time.monotonic()
            await s3ops.get(conn, bucket, keys[i % len(keys)])
            samples.append([t0, round((time.monotonic() - t0) * 1000, 3)])
            i += len(conns)
    print("ready", flush=True)
    await asyncio.gather(*(worker(n, c) for n, c in enumerate(conns)))
    for c in conns:
        c.close()
    return samples


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("-c", "--concurrency", type=int, default=8)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--objects", type=int, default=256)
    args = ap.parse_args(argv)
    print(json.dumps(asyncio.run(_run(args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
