"""`s3free bench WORKLOAD`: load any S3 endpoint and report MB/s, ops/s and latencies (our warp)."""
from __future__ import annotations

import argparse
import os
import sys

DESCRIPTION = """\
Benchmark an S3 endpoint (s3free or any other). Workloads: put, get, mixed (GET/PUT/DELETE/STAT
mix), small (many tiny objects: PUT then GET), list (full ListObjectsV2 listings), multipart.
The benchmark creates its bucket if needed, works under its own random key prefix, and deletes
what it wrote afterwards (unless --no-cleanup). Requests are signed with SigV4 and
UNSIGNED-PAYLOAD (the client never hashes bodies). Sizes take KiB/MiB/GiB (powers of 2) or
KB/MB/GB; MiB/s in the report are 2**20 bytes per second."""


def register(sub) -> None:
    from s3free.bench.workloads import WORKLOADS

    p = sub.add_parser("bench", help="benchmark an S3 endpoint (PUT/GET/mixed/small/list/multipart)",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("workload", choices=list(WORKLOADS), metavar="WORKLOAD",
                   help="one of: " + ", ".join(WORKLOADS))
    p.add_argument("--endpoint", default=os.environ.get("S3FREE_BENCH_ENDPOINT", "http://127.0.0.1:9000"),
                   help="http(s)://HOST:PORT (default http://127.0.0.1:9000)")
    p.add_argument("--access-key", default=None, help="default: $AWS_ACCESS_KEY_ID")
    p.add_argument("--secret-key", default=None, help="default: $AWS_SECRET_ACCESS_KEY")
    p.add_argument("--region", default=os.environ.get("AWS_REGION", "us-east-1"))
    p.add_argument("--size", default=None,
                   help="object size, e.g. 4KiB or 64MiB, or a range 1KiB-1MiB for random sizes "
                        "(default: 1MiB; small and list 1KiB; multipart 16MiB)")
    p.add_argument("--concurrency", "-c", type=int, default=16, help="parallel requests (default 16)")
    p.add_argument("--duration", type=float, default=None,
                   help="seconds per phase (default 30; the upper limit with --autoterm)")
    p.add_argument("--count", type=int, default=0, help="operations per phase (instead of a duration)")
    p.add_argument("--bucket", default="s3free-bench", help="bucket (created if missing; default s3free-bench)")
    p.add_argument("--prefix", default="", help="key prefix to work under (default: bench-<random>/)")
    p.add_argument("--objects", type=int, default=0,
                   help="objects to prepare for get/mixed/list (default: 2 per worker up to 1 GiB "
                        "or 2500; list 1000)")
    p.add_argument("--mix", default="get=45,put=15,delete=10,stat=30",
                   help="mixed workload weights (default get=45,put=15,delete=10,stat=30)")
    p.add_argument("--part-size", default="5MiB", help="multipart part size (default 5MiB)")
    p.add_argument("--autoterm", action="store_true",
                   help="stop a phase once the per-second rate is stable (7 s within 7.5%%)")
    p.add_argument("--autoterm-samples", type=int, default=7, help=argparse.SUPPRESS)
    p.add_argument("--autoterm-pct", type=float, default=7.5, help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    p.add_argument("--no-cleanup", action="store_true", help="leave the objects written")
    p.add_argument("--insecure", action="store_true", help="do not verify the TLS certificate")
    p.add_argument("--seed", type=int, default=None, help="seed payloads and random sizes (reproducible runs)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from s3free.bench import report
    from s3free.bench.runner import Config, Runner
    from s3free.bench.stats import parse_size, parse_size_range
    from s3free.bench.workloads import WORKLOADS, parse_mix

    def fail(message: str) -> int:
        print(f"s3free bench: {message}", file=sys.stderr)
        return 2

    access = args.access_key or os.environ.get("AWS_ACCESS_KEY_ID")
    secret = args.secret_key or os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not access or not secret:
        return fail("credentials needed: --access-key/--secret-key or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
    try:
        lo, hi = parse_size_range(args.size or WORKLOADS[args.workload].default_size)
        part_size = parse_size(args.part_size)
        mix = parse_mix(args.mix)
    except ValueError as exc:
        return fail(str(exc))
    if args.concurrency < 1:
        return fail("--concurrency must be >= 1")
    if args.count < 0 or (args.duration is not None and args.duration <= 0):
        return fail("--count must be >= 0 and --duration > 0")
    if args.workload == "multipart" and part_size < 1:
        return fail("--part-size must be > 0")
    duration = args.duration if args.duration is not None else (0.0 if args.count else 30.0)
    cfg = Config(workload=args.workload, endpoint=args.endpoint, access_key=access, secret_key=secret,
                 size_min=lo, size_max=hi, concurrency=args.concurrency, duration=duration, count=args.count,
                 bucket=args.bucket, prefix=args.prefix, objects=args.objects, mix=mix, part_size=part_size,
                 autoterm=args.autoterm, autoterm_samples=args.autoterm_samples, autoterm_pct=args.autoterm_pct,
                 cleanup=not args.no_cleanup, region=args.region, insecure=args.insecure,
                 progress=sys.stderr.isatty(), seed=args.seed)
    if not args.json:
        print(f"s3free bench: signing with SigV4 UNSIGNED-PAYLOAD; {args.workload} on {cfg.endpoint}",
              file=sys.stderr, flush=True)
    try:
        result = Runner(cfg).run()
    except KeyboardInterrupt:
        return fail("interrupted")
    except (RuntimeError, OSError, ValueError) as exc:
        return fail(str(exc))
    except Exception as exc:  # an S3 error during set-up (bad credentials, no such bucket...)
        return fail(f"{type(exc).__name__}: {exc}")
    print(report.to_json(result) if args.json else report.table(result), flush=True)
    return 1 if result["total"]["errors"] else 0
