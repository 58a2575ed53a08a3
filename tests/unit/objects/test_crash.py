"""Crash safety: SIGKILL a busy writer at random moments; every acknowledged write reads
back byte-exact, nothing unacknowledged is partially visible, and GC removes orphans."""
import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from support import open_layer, payload, run
from s3free.objects import errors as E
from s3free.objects.maintenance import gc

SCRIPT = Path(__file__).parent / "scripts" / "crash_writer.py"
ROUNDS = 20


def _expected(log_lines):
    """Per key: the last acknowledged state, plus every op begun after it (in flight)."""
    state = {}
    for line in log_lines:
        parts = line.split()
        if len(parts) != 4:
            continue
        kind, op, key, gen = parts[0], parts[1], parts[2], int(parts[3])
        entry = state.setdefault(key, {"acked": None, "inflight": []})
        if kind == "BEGIN":
            entry["inflight"].append((op, gen))
        elif kind == "ACK":
            entry["acked"] = (op, gen)
            entry["inflight"] = [x for x in entry["inflight"] if x[1] > gen]
    return state


def _verify(root):
    sys.path.insert(0, str(SCRIPT.parent))
    from crash_writer import seed, size_for   # the writer's own content rules

    lines = (root / "ops.log").read_text().splitlines()
    state = _expected(lines)

    async def check():
        layer = open_layer(root, k=4, m=2)
        try:
            for key, st in state.items():
                allowed = []
                if st["acked"] is not None:
                    allowed.append(st["acked"])
                allowed += st["inflight"]
                try:
                    info, stream = await layer.get_object("crash", key)
                    data = b"".join([c async for c in stream])
                except E.NoSuchKey:
                    data = None
                ok = False
                for op, gen in allowed:
                    if op == "DEL" and data is None:
                        ok = True
                    if op == "PUT" and data is not None and data == payload(size_for(gen), seed(key, gen)):
                        ok = True
                if not allowed:
                    ok = data is None
                # an acknowledged PUT with nothing in flight after it must be exactly that
                assert ok, (key, st, None if data is None else len(data))
        finally:
            await layer.close()
    run(check())


def test_sigkill_at_random_moments(tmp_path):
    rng = random.Random(1234)
    acked_total = 0
    for round_no in range(1, ROUNDS + 1):
        proc = subprocess.Popen([sys.executable, str(SCRIPT), str(tmp_path), str(round_no)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 30
        while time.time() < deadline:
            log = tmp_path / "ops.log"
            if log.exists() and f"READY {round_no}" in log.read_text():
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.02)
        time.sleep(rng.uniform(0.05, 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _verify(tmp_path)
    acked_total = sum(1 for ln in (tmp_path / "ops.log").read_text().splitlines() if ln.startswith("ACK"))
    assert acked_total > 40, "the writer should have made progress between kills"

    async def collect():
        layer = open_layer(tmp_path, k=4, m=2)
        try:
            stats = await gc(layer, grace=0.0)
            with layer.index.read() as txn:
                referenced = {k.decode() for k, _ in layer.index.items(txn, "data")}
            files = {p.name.split(".")[0] for p in tmp_path.rglob("*.bxl")}
            assert files <= referenced, files - referenced
            return stats
        finally:
            await layer.close()
    stats = run(collect())
    print(f"{ROUNDS} kills, {acked_total} acknowledged ops, GC removed {stats.shard_files_removed} orphan shard files")
    _verify(tmp_path)
