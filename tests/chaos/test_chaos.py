"""Chaos: random bit flips, truncations and deletions of shard files and segment regions —
always within the erasure code's tolerance — while clients read and write. Nothing wrong
may be served and nothing may be lost.

Marked `chaos`. CI runs the short mode (S3FREE_CHAOS_SECONDS, default 15 s); run longer
locally with e.g. `S3FREE_CHAOS_SECONDS=300 ./dev test -m chaos -s`.
"""
import asyncio
import hashlib
import json
import os
import random
import subprocess
import time

import pytest

from loadgen import Load
from serverkit import BIN, start_server, stop_server
from support import disk_problems

pytestmark = pytest.mark.chaos

SECONDS = float(os.environ.get("S3FREE_CHAOS_SECONDS", "15"))
K, M = 6, 3
ENV = {"S3FREE_DISK_CHECK_INTERVAL": "0.5", "S3FREE_HEAL_RATE_MB": "0", "S3FREE_SCRUB_INTERVAL": "0"}


class Injector:
    """Damages objects the load wrote: each victim gets 1..m damaged shards, once."""

    def __init__(self, data, seed: int = 7):
        self.data = data
        self.rng = random.Random(seed)
        self.victims: set[str] = set()
        self.faults = 0
        self.kinds = {"flip": 0, "truncate": 0, "delete": 0, "segment": 0}

    def _manifest(self, index, key: str):
        with index.read() as txn:
            return index.get_object(txn, "chaos", key)

    def strike(self, index, keys: list[str]) -> None:
        from s3free.storage.segments import Location
        from s3free.storage.shards import PartInfo
        candidates = [k for k in keys if k not in self.victims]
        if not candidates:
            return
        key = self.rng.choice(candidates)
        m = self._manifest(index, key)
        if m is None:
            return
        self.victims.add(key)
        count = self.rng.randint(1, M)
        disks = [self.data / f"disk{i}" for i in range(1, K + M + 1)]
        if "parts" not in m:
            loc = Location.from_list(m["loc"])
            for d in self.rng.sample(range(K + M), count):
                path = disks[d] / "segments" / f"{loc.segment}.seg"
                _flip(path, loc.offset + self.rng.randrange(loc.length))
                self.kinds["segment"] += 1
                self.faults += 1
            return
        part = PartInfo.from_manifest(self.rng.choice(m["parts"]))
        for s in self.rng.sample(range(K + M), count):
            path = disks[part.placement[s]] / "objects" / part.data_id[:2] / part.data_id[2:4] / \
                f"{part.data_id}.{part.number}.bxl"
            kind = self.rng.choice(["flip", "truncate", "delete"])
            try:
                if kind == "flip":
                    _flip(path, self.rng.randrange(os.path.getsize(path)))
                elif kind == "truncate":
                    os.truncate(path, self.rng.randrange(os.path.getsize(path)))
                else:
                    os.unlink(path)
            except OSError:
                continue
            self.kinds[kind] += 1
            self.faults += 1


def _flip(path, offset: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        b = fh.read(1)
        if b:
            fh.seek(offset)
            fh.write(bytes([b[0] ^ (1 << random.randrange(8))]))


def _cli(server, *args) -> dict:
    proc = subprocess.run([str(BIN / "s3free"), *args, str(server.data / f"disk{{1...{K + M}}}"), "--ec", f"{K}+{M}",
                           "--meta-dir", str(server.data / "meta"), "--json"], capture_output=True, text=True,
                          timeout=600, env=server.env)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_chaos_within_tolerance(tmp_path):
    from s3free.meta.index import Index
    server = start_server(tmp_path / "srv", extra_env=ENV)      # 9 disks, 6+3, 2 workers
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="chaos")
        load = Load(server, "chaos", threads=3)
        injector = Injector(server.data)
        index = Index(str(server.data / "meta"))
        with load:
            end = time.monotonic() + SECONDS
            while time.monotonic() < end:
                time.sleep(0.1)
                with load.lock:
                    keys = list(load.objects)
                if keys:
                    injector.strike(index, keys)
        # let the heal queue settle, then one scrub pass to find what no GET touched
        deadline = time.monotonic() + 120
        while _cli(server, "admin", "heal", "status")["queue_depth"] and time.monotonic() < deadline:
            time.sleep(0.5)
        scrub = _cli(server, "admin", "scrub", "--now")
        wrong, lost = 0, 0
        for key, md5 in load.objects.items():
            try:
                body = s3.get_object(Bucket="chaos", Key=key)["Body"].read()
                wrong += hashlib.md5(body).hexdigest() != md5
            except Exception:
                lost += 1
        heal = _cli(server, "admin", "heal", "status")
        repairs = heal["shards_repaired"] + heal["records_repaired"]
        wrong += sum(1 for f in load.failures if f.startswith("wrong bytes"))
        print(f"\nchaos summary: {SECONDS:.0f}s, objects written {len(load.objects)}, client ops {load.ops}, "
              f"faults injected {injector.faults} {injector.kinds}, wrong bytes served {wrong}, "
              f"objects lost {lost}, repairs done {repairs}, scrub found {scrub['shards_damaged']}, "
              f"failed requests {len(load.failures)}")
        index.close()
        assert wrong == 0 and lost == 0
        assert load.failures == [], load.failures[:5]
        assert injector.faults > 0 and repairs > 0
        assert scrub["unrecoverable"] == 0 and heal["unrecoverable"] == [], (scrub, heal["unrecoverable"])

        from s3free.objects.layer import EngineConfig, ObjectLayer
        layer = ObjectLayer.open([str(server.data / f"disk{i}") for i in range(1, 10)], str(server.data / "meta"),
                                 EngineConfig(k=K, m=M))
        try:
            assert disk_problems(layer) == []
        finally:
            asyncio.run(layer.close())
    finally:
        stop_server(server)
