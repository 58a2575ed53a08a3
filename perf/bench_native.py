"""Native core benchmark: our codec, checksum and I/O batching beside their references.

Prints a few human lines, then one JSON object on the last line. Runs in well under a
minute. Ratios matter, not absolute numbers (docs/native.md records what we measured).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time

import crc32c as crc32c_pkg

from s3free import native
from s3free.ioengine import open_engine, ops

MIB = 1 << 20


def rate(fn, nbytes: int, seconds: float) -> float:
    """Best-of-several throughput in bytes/s of fn() processing nbytes per call."""
    fn()
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        calls = 0
        start = time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed > 0.1:
                break
        best = max(best, calls * nbytes / elapsed)
    return best


def bench_rs(seconds: float) -> dict:
    k, m = 6, 3
    codec = native.RSCodec(k, m)
    shard = -(-MIB // k)
    block = memoryview(os.urandom(shard * k))
    data = [block[i * shard:(i + 1) * shard] for i in range(k)]
    parity = [bytearray(shard) for _ in range(m)]
    ours = rate(lambda: codec.encode(data, parity), MIB, seconds)

    from pyeclib.ec_iface import ECDriver
    driver = ECDriver(k=k, m=m, ec_type="isa_l_rs_cauchy")
    payload = bytes(block[:MIB])
    theirs = rate(lambda: driver.encode(payload), MIB, seconds)

    shards = data + [bytes(p) for p in parity]
    lost = [1, 4, 7]                      # two data shards and one parity shard
    survivors = [None if i in lost else s for i, s in enumerate(shards)]
    outs = [bytearray(shard) for _ in lost]
    recon = rate(lambda: codec.reconstruct_into(survivors, lost, outs), MIB, seconds)
    assert [bytes(o) for o in outs] == [bytes(shards[i]) for i in lost]
    return {"rs_encode_gbps": ours / 1e9, "pyeclib_encode_gbps": theirs / 1e9,
            "rs_encode_vs_pyeclib": ours / theirs, "rs_reconstruct_gbps": recon / 1e9}


def bench_hashes(seconds: float) -> dict:
    buf = os.urandom(MIB)
    ours = rate(lambda: native.crc32c(buf), MIB, seconds)
    pkg = rate(lambda: crc32c_pkg.crc32c(buf), MIB, seconds)
    md5 = rate(lambda: hashlib.md5(buf).digest(), MIB, seconds)
    return {"crc32c_gbps": ours / 1e9, "crc32c_pkg_gbps": pkg / 1e9,
            "crc32c_vs_pkg": ours / pkg, "md5_gbps": md5 / 1e9}


def bench_durable_batch(seconds: float, directory: str, engine_kind: str | None) -> dict:
    """9 shard writes of 192 KiB + fdatasync each: one batch vs 9 x (pwrite + fdatasync)."""
    engine = open_engine(engine_kind)
    size = 192 * 1024
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        fds = [os.open(os.path.join(tmp, f"shard{i}"), os.O_RDWR | os.O_CREAT, 0o644) for i in range(9)]
        bufs = [native.AlignedBuffer(size) for _ in range(9)]
        for b in bufs:
            memoryview(b)[:] = os.urandom(size)
        for fd in fds:
            os.posix_fallocate(fd, 0, 64 * MIB)

        def timed(step) -> float:
            n, offset = 0, 0
            start = time.perf_counter()
            while time.perf_counter() - start < seconds:
                step(offset)
                offset = (offset + size) % (64 * MIB - size)
                n += 1
            return n / (time.perf_counter() - start)

        def batched(offset):
            engine.run_checked([op for fd, b in zip(fds, bufs)
                                for op in (ops.write(fd, b, offset, link=True), ops.fdatasync(fd))])

        def sequential(offset):
            for fd, b in zip(fds, bufs):
                os.pwrite(fd, b, offset)
                os.fdatasync(fd)

        seq = timed(sequential)
        bat = timed(batched)
        for fd in fds:
            os.close(fd)
    name = engine.name
    engine.close()
    return {"durable_batches_per_s": bat, "pwrite_batches_per_s": seq,
            "durable_batch_vs_pwrite": bat / seq, "engine": name}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.5, help="time per measurement")
    parser.add_argument("--dir", default=os.getcwd(), help="where to put the durable-write files")
    parser.add_argument("--engine", default=None, help="io engine: auto, io_uring, threadpool")
    args = parser.parse_args(argv)
    result: dict = {}
    result.update(bench_rs(args.seconds))
    result.update(bench_hashes(args.seconds))
    result.update(bench_durable_batch(args.seconds * 2, args.dir, args.engine))
    result = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in result.items()}
    targets = {"rs_encode_vs_pyeclib": 2.0, "crc32c_vs_pkg": 1.0, "durable_batch_vs_pwrite": 1.5}
    for key, target in targets.items():
        status = "ok" if result[key] >= target else "BELOW TARGET"
        print(f"{key:28s} {result[key]:8.2f}   target >= {target}   {status}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
