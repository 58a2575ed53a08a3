"""Object engine benchmark, in process (no HTTP): RS(6,3) on 9 disk folders.

Large PUT/GET MB/s and small PUT/GET ops/s beside the same run's raw ceilings: MD5 of the
same bytes on one core, and 9 plain buffered file writes (+fdatasync) of the same shard
sizes. Prints a table, then one JSON line.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from support import pattern_body, open_layer  # noqa: E402

MIB = 1 << 20


def md5_ceiling(size: int) -> float:
    data = os.urandom(size)
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        hashlib.md5(data).digest()
        best = max(best, size / (time.perf_counter() - t))
    return best / MIB


def raw_write_ceiling(root: str, size: int) -> float:
    """Object bytes per second when just writing 9 shard-sized files and syncing them."""
    shard = os.urandom(size // 6)
    best = 0.0
    for rep in range(2):
        paths = [os.path.join(root, f"raw{rep}-{i}") for i in range(9)]
        t = time.perf_counter()
        for p in paths:
            with open(p, "wb") as fh:
                for off in range(0, len(shard), MIB):
                    fh.write(shard[off:off + MIB])
                fh.flush()
                os.fdatasync(fh.fileno())
        best = max(best, size / (time.perf_counter() - t))
        for p in paths:
            os.unlink(p)
    return best / MIB


async def engine(root: str, large: int, count: int, small_seconds: float, concurrency: int) -> dict:
    layer = open_layer(root)
    try:
        await layer.make_bucket("bench", "o")
        t = time.perf_counter()
        for i in range(count):
            await layer.put_object("bench", f"large{i}", pattern_body(large, seed=i))
        put_mbps = count * large / (time.perf_counter() - t) / MIB
        t = time.perf_counter()
        for i in range(count):
            _, stream = await layer.get_object("bench", f"large{i}")
            async for _ in stream:
                pass
        get_mbps = count * large / (time.perf_counter() - t) / MIB
        payload = os.urandom(4096)

        async def loop(fn, seconds):
            done = 0
            end = time.perf_counter() + seconds

            async def worker(w):
                nonlocal done
                i = 0
                while time.perf_counter() < end:
                    await fn(w, i)
                    i += 1
                    done += 1
            t0 = time.perf_counter()
            await asyncio.gather(*(worker(w) for w in range(concurrency)))
            return done / (time.perf_counter() - t0)

        async def one(data):
            yield data

        async def put(w, i):
            await layer.put_object("bench", f"s/{w}/{i}", one(payload))

        put_ops = await loop(put, small_seconds)

        async def get(w, i):
            _, stream = await layer.get_object("bench", f"s/{w}/{i % 50}")
            async for _ in stream:
                pass
        get_ops = await loop(get, small_seconds)
        return {"large_put_mbps": put_mbps, "large_get_mbps": get_mbps, "small_put_ops": put_ops,
                "small_get_ops": get_ops, "io_engine": layer.engine.name,
                "small_put_batches": layer.log.batches}
    finally:
        await layer.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", default=os.getcwd(), help="where to create the disk folders")
    ap.add_argument("--size-mib", type=int, default=64)
    ap.add_argument("--count", type=int, default=4)
    ap.add_argument("--small-seconds", type=float, default=3.0)
    ap.add_argument("--concurrency", type=int, default=32)
    args = ap.parse_args(argv)
    root = tempfile.mkdtemp(prefix="s3free-bench-", dir=args.dir)
    try:
        size = args.size_mib * MIB
        res = asyncio.run(engine(root, size, args.count, args.small_seconds, args.concurrency))
        res["md5_mbps"] = md5_ceiling(size)
        res["raw_write_mbps"] = raw_write_ceiling(root, size)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    res["put_vs_md5"] = res["large_put_mbps"] / res["md5_mbps"]
    res["put_vs_raw_write"] = res["large_put_mbps"] / res["raw_write_mbps"]
    res = {k: round(v, 3) if isinstance(v, float) else v for k, v in res.items()}
    for key in ("large_put_mbps", "large_get_mbps", "small_put_ops", "small_get_ops", "md5_mbps",
                "raw_write_mbps", "put_vs_md5", "put_vs_raw_write"):
        print(f"{key:20s} {res[key]:>10}")
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
