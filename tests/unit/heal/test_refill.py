"""Refilling a replaced disk: a process killed mid-refill (between span writes, or after
renames but before the step's directory sync and cursor save, or in a segment's
rebuild) leaves nothing wrong; the
next healer resumes from the saved cursor, finishes, and GC clears the temp files."""
import asyncio
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from support import body, disk_problems, open_layer, payload, read_all, run
from s3free.heal.healer import Healer, refill_jobs
from s3free.objects.maintenance import gc

SCRIPT = Path(__file__).parent / "scripts" / "refill_victim.py"
MIB = 1 << 20
SLOT = 2


def _sizes() -> dict[str, int]:
    return {f"k{i:02d}": (3 * MIB + i if i % 3 == 0 else 400_000 + i if i % 3 == 1 else 2000 + i) for i in range(24)}


@pytest.mark.parametrize("where,n", [("span", 1), ("span", 9), ("dirsync", 1), ("dirsync", 3),
                                     ("segment", 1)])
def test_killed_refill_resumes_and_leaves_nothing_wrong(tmp_path, where, n):
    objs = {key: payload(size, seed=size) for key, size in _sizes().items()}

    async def fill():
        layer = open_layer(tmp_path, k=4, m=2)
        try:
            await layer.make_bucket("r", "o")
            for key, value in objs.items():
                await layer.put_object("r", key, body(value))
        finally:
            await layer.close()
    run(fill())
    shutil.rmtree(tmp_path / f"disk{SLOT + 1}")
    (tmp_path / f"disk{SLOT + 1}").mkdir()                      # an empty replacement
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), where, str(n), str(SLOT)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    temps = list(tmp_path.rglob("*.heal-*"))
    assert bool(temps) == (where != "dirsync"), temps       # killed mid-file, or after the renames

    async def resume():
        layer = open_layer(tmp_path, k=4, m=2)
        healer = Healer(layer, rate=0)
        try:
            job = refill_jobs(layer.index)[SLOT]
            assert job["phase"] == ("segments" if where == "segment" else "objects")
            if where == "dirsync" and n > 1:
                assert job["parts_done"] > 0 and job["cursor"], "earlier steps were saved"
            healer.check_disks()
            assert layer.disks.disks[SLOT].state == "refilling"
            await healer.refill_all()
            await healer.drain()
            assert layer.disks.disks[SLOT].state == "online" and not refill_jobs(layer.index)
            assert disk_problems(layer) == []
            for key, value in objs.items():
                assert await read_all(layer, "r", key) == value, key
            await gc(layer, grace=0)
            assert not list(tmp_path.rglob("*.heal-*")), "GC removes a killed rebuild's temp files"
        finally:
            await layer.close()
    run(resume())
