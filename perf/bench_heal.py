"""Healing benchmark: how fast a replaced disk is refilled, and what it costs clients.

Starts s3free (9 disk folders, RS(6,3), default heal rate limit), fills it with mixed
objects (16 GiB by default: enough for a refill of >= 10 s at the 256 MiB/s limit),
starts one continuous small-object GET load (`getload.py`), takes its quiet p99 over
`--seconds`, then pulls one disk and puts an empty folder in its place (the healer formats
and refills it). It reports the refill rate (MB/s of rebuilt shard data) beside the same
run's raw O_DIRECT write rate, and the p99 of exactly the GETs that started while the
refill ran (and how many there were). Prints a table and one JSON line.

It also measures the bound that applies to the refill on this machine: the device's
O_DIRECT read and write rates at the queue depths the refill keeps. Every rebuilt byte
costs k bytes read and one written; when all disk folders sit on one device (as on a
test box) they share it, so the refill can at best reach 1 / (k/read + 1/write), about a
seventh of the device's rate for 6+3. On a node with a device per disk each source disk
reads its share in parallel and the bound is about one disk's write rate, the figure
`refill_vs_disk_write` compares with.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ceilings  # noqa: E402
import servers  # noqa: E402
from getload import GetLoad, p99_in  # noqa: E402

MIB = 1 << 20


def _client(endpoint: str):
    import boto3
    from botocore.config import Config
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=servers.ROOT_USER,
                        aws_secret_access_key=servers.ROOT_PASSWORD, region_name="us-east-1",
                        config=Config(max_pool_connections=16, retries={"total_max_attempts": 1}))


def fill(endpoint: str, gib: float) -> int:
    """Mixed objects: 64 MiB, 1 MiB and 1-100 KiB ones; returns bytes written."""
    s3 = _client(endpoint)
    s3.create_bucket(Bucket="healbench")
    big, mid = os.urandom(64 * MIB), os.urandom(MIB)
    jobs = []
    total = 0
    target = int(gib * (1 << 30))
    i = 0
    while total < target:
        kind = i % 10
        size = 64 * MIB if kind == 0 else MIB if kind < 4 else 1024 + (i * 997) % (100 * 1024)
        body = big if kind == 0 else mid if kind < 4 else mid[:size]
        jobs.append((f"o{i:06d}", body))
        total += size
        i += 1
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda kv: s3.put_object(Bucket="healbench", Key=kv[0], Body=kv[1]), jobs))
    return total


def _ready(endpoint: str) -> dict:
    try:
        with urllib.request.urlopen(f"{endpoint}/_s3free/health/ready", timeout=5) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as err:
        return json.loads(err.read())


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def device_bound(k: int, read: float | None, write: float | None, shared: bool) -> float | None:
    """MiB/s of rebuilt data the disks allow: 1/(k/read + 1/write) when the sources and
    the target share one device, else the target's write rate.

    >>> round(device_bound(6, 1200.0, 2400.0, True), 1)
    184.6
    >>> device_bound(6, 1200.0, 2400.0, False)
    2400.0
    """
    if not read or not write:
        return None
    return 1 / (k / read + 1 / write) if shared else write


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", default=os.getcwd())
    ap.add_argument("--gib", type=float, default=16.0, help="data to fill in (16: a refill of >= 10 s)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=8.0, help="quiet GET load measured before the pull")
    args = ap.parse_args(argv)
    from s3free import config
    from s3free.commands.admin import heal_status
    from s3free.heal.healer import REFILL_PARALLEL
    from s3free.heal.spans import SPAN
    k = 6
    base = Path(tempfile.mkdtemp(prefix="s3free-heal-", dir=args.data_dir))
    served = servers.start_s3free(base, args.workers)
    load = None
    try:
        filled = fill(served.endpoint, args.gib)
        _, disk_write, _ = ceilings.disk_mbps(str(base))
        # the refill keeps REFILL_PARALLEL parts in flight, each reading k spans then writing one
        dev_write, dev_read, dev_note = ceilings.disk_mbps_at_depth(str(base), SPAN, REFILL_PARALLEL * k,
                                                                    REFILL_PARALLEL)
        shared = len({os.stat(base / f"disk{i}").st_dev for i in range(1, 10)}) == 1
        load = GetLoad(served.endpoint)
        load.start()
        q0 = time.monotonic()
        time.sleep(args.seconds)
        q1 = time.monotonic()
        settings = config.Settings(meta_dir=str(base / "meta"))
        victim = base / "disk5"
        os.rename(victim, base / "disk5.pulled")
        shutil.rmtree(base / "disk5.pulled")
        while not _ready(served.endpoint).get("degraded"):
            time.sleep(0.2)
        victim.mkdir()
        while not heal_status(settings)["refills"]:
            time.sleep(0.05)
        start = time.monotonic()
        while heal_status(settings)["refills"]:
            time.sleep(0.1)
        end = time.monotonic()
        seconds = end - start
        samples = load.stop()
        rebuilt = du(victim)
    finally:
        if load is not None and load.proc is not None and load.proc.poll() is None:
            load.proc.kill()
        servers.stop(served)
        shutil.rmtree(base, ignore_errors=True)
    refill = rebuilt / seconds / MIB
    (q99, quiet_n), (h99, during_n) = p99_in(samples, q0, q1), p99_in(samples, start, end)
    bound = device_bound(k, dev_read, dev_write, shared)
    limit = config.Settings().heal_rate_mb
    if shared:
        which = (f"all 9 disk folders share one device: each rebuilt byte costs {k} bytes read + 1 written "
                 f"on it, so the device bound 1/({k}/read + 1/write) applies, not the disk write rate")
    else:
        which = "each disk folder has its own device: about one disk's write rate bounds the refill"
    if limit and bound and limit < bound:
        which += f"; the heal rate limit ({limit:g} MiB/s) is below it and caps the refill first"
    result = {"filled_mib": round(filled / MIB), "rebuilt_mib": round(rebuilt / MIB, 1),
              "refill_seconds": round(seconds, 2), "refill_mbps": round(refill, 1),
              "disk_write_mbps": round(disk_write, 1) if disk_write else None,
              "refill_vs_disk_write": round(refill / disk_write, 3) if disk_write else None,
              "quiet_get_p99_ms": q99, "healing_get_p99_ms": h99, "quiet_gets": quiet_n, "healing_gets": during_n,
              "p99_ratio": round(h99 / q99, 2) if q99 and h99 else None,
              "heal_rate_limit_mbps": limit,
              "device_read_mbps": round(dev_read, 1) if dev_read else None,
              "device_write_mbps": round(dev_write, 1) if dev_write else None,
              "device_probe": dev_note, "shared_device": shared,
              "device_bound_mbps": round(bound, 1) if bound else None,
              "refill_vs_device_bound": round(refill / bound, 3) if bound else None,
              "bound_applies": which}
    for name, v in result.items():
        print(f"{name:24s} {v}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
