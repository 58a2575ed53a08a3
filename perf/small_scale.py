"""Small-object PUT rate as the bucket grows (issue 7): the rate after N objects (default
1,000,000) must be within 15% of the rate at 10,000.

    .venv/bin/python perf/small_scale.py                      # its own s3free in a temp dir
    .venv/bin/python perf/small_scale.py --objects 100000     # quicker
    .venv/bin/python perf/small_scale.py --endpoint http://127.0.0.1:9000   # a running server

Fills one bucket with 1 KiB objects in steps (`s3free bench put --no-cleanup`), and at
--base objects and again at --objects measures the PUT rate with the same settings
(`s3free bench put --count M`, which deletes its own objects afterwards, so the bucket
stays at the fill level). Prints progress, then one JSON line. It takes long at the
default size: about N / (fill rate) seconds to fill.
"""
from __future__ import annotations

import os
import sys

try:
    import s3free  # noqa: F401
except ImportError:
    venv = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".venv"))
    if os.path.exists(os.path.join(venv, "bin", "python")) and os.path.normpath(sys.prefix) != venv:
        os.execv(os.path.join(venv, "bin", "python"), [os.path.join(venv, "bin", "python")] + sys.argv)
    raise

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers  # noqa: E402

BUCKET = "small-scale"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def bench_put(endpoint: str, creds: tuple[str, str], count: int, concurrency: int, size: str, prefix: str,
              keep: bool) -> dict:
    cmd = [str(servers.BIN / "s3free"), "bench", "put", "--endpoint", endpoint, "--access-key", creds[0],
           "--secret-key", creds[1], "--bucket", BUCKET, "--prefix", prefix, "--count", str(count),
           "--concurrency", str(concurrency), "--size", size, "--json"] + (["--no-cleanup"] if keep else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"s3free bench put failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result = json.loads(lines[-1])
    if result["total"]["errors"]:
        raise RuntimeError(f"s3free bench put: errors: {result['ops']['put']['error_samples'][:3]}")
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=1_000_000, help="the large bucket size (default 1,000,000)")
    ap.add_argument("--base", type=int, default=10_000, help="the small bucket size (default 10,000)")
    ap.add_argument("--measure", type=int, default=5000, help="PUTs per measurement (default 5000)")
    ap.add_argument("--repeat", type=int, default=3, help="measurements at each size; the best counts (default 3)")
    ap.add_argument("--size", default="1KiB", help="object size (default 1KiB)")
    ap.add_argument("--concurrency", type=int, default=16, help="measurement concurrency (default 16)")
    ap.add_argument("--fill-concurrency", type=int, default=32, help="fill concurrency (default 32)")
    ap.add_argument("--step", type=int, default=100_000, help="objects per fill step (default 100,000)")
    ap.add_argument("--endpoint", help="use this server (else start s3free in a temp dir)")
    ap.add_argument("--access-key", default=os.environ.get("AWS_ACCESS_KEY_ID"))
    ap.add_argument("--secret-key", default=os.environ.get("AWS_SECRET_ACCESS_KEY"))
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--data-dir", default=tempfile.gettempdir())
    args = ap.parse_args(argv)
    if args.objects <= args.base:
        ap.error("--objects must be larger than --base")

    work = None
    served = None
    t0 = time.monotonic()
    try:
        if args.endpoint:
            if not (args.access_key and args.secret_key):
                ap.error("--endpoint needs --access-key/--secret-key (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
            endpoint, creds = args.endpoint, (args.access_key, args.secret_key)
        else:
            work = Path(tempfile.mkdtemp(prefix="s3free-scale-", dir=args.data_dir))
            served = servers.start_s3free(work / "s3free", args.workers)
            endpoint, creds = served.endpoint, (servers.ROOT_USER, servers.ROOT_PASSWORD)

        filled, series = 0, []

        def fill_to(target: int) -> None:
            nonlocal filled
            while filled < target:
                n = min(args.step, target - filled)
                r = bench_put(endpoint, creds, n, args.fill_concurrency, args.size, f"fill-{filled:09d}/", keep=True)
                filled += n
                series.append({"objects": filled, "ops_per_s": r["ops"]["put"]["ops_per_s"]})
                log(f"small_scale: {filled} objects ({r['ops']['put']['ops_per_s']:.0f} PUT/s while filling, "
                    f"{time.monotonic() - t0:.0f}s)")

        def measure(tag: str) -> dict:
            best = None
            for i in range(args.repeat):
                r = bench_put(endpoint, creds, args.measure, args.concurrency, args.size, f"measure-{tag}-{i}/",
                              keep=False)
                st = r["ops"]["put"]
                log(f"small_scale: at {filled} objects: {st['ops_per_s']:.0f} PUT/s, p99 {st['latency_ms']['p99']} ms")
                if best is None or st["ops_per_s"] > best["ops_per_s"]:
                    best = st
            return best

        fill_to(args.base)
        low = measure("low")
        fill_to(args.objects)
        high = measure("high")
        ratio = high["ops_per_s"] / low["ops_per_s"] if low["ops_per_s"] else 0.0
        print(json.dumps({
            "objects_low": args.base, "objects_high": filled,
            "put_ops_low": low["ops_per_s"], "put_ops_high": high["ops_per_s"],
            "put_p99_ms_low": low["latency_ms"]["p99"], "put_p99_ms_high": high["latency_ms"]["p99"],
            "ratio": round(ratio, 3), "within_15pct": ratio >= 0.85,
            "size": args.size, "concurrency": args.concurrency, "measure_ops": args.measure,
            "fill_series": series, "seconds": round(time.monotonic() - t0, 1),
        }), flush=True)
        return 0
    finally:
        if served is not None:
            servers.stop(served)
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
