"""Refills run in a child process of the healing worker.

In the worker itself a refill competes with that worker's client requests for one GIL:
every thread switch costs a waiting request up to the interpreter's switch interval, and
a refill keeps several threads busy (I/O completions, CRCs and decode), so the GET p99
doubled while a refill ran — on the worker's own loop as much as on a thread of its own.
A child process has its own GIL, loop and I/O engine, and runs at nice +19, so on busy
cores the scheduler lets client requests go first.

The child dies with its parent (PR_SET_PDEATHSIG) and holds `<meta>/refill.lock`, so two
refills never run at once; a killed child loses at most one step (the cursor is saved
after each). It rebuilds from the index's refill jobs and exits when none is left.

    python -m s3free.heal.child      (settings as JSON on stdin)
"""
from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import json
import logging
import os
import signal
import sys

from s3free.meta.locks import NodeLock

log = logging.getLogger("s3free.heal")

NICE = 19
RETRY_AFTER = 5.0          # seconds between the end of a refill process and the next
_PR_SET_PDEATHSIG = 1


async def refill(settings) -> int:
    """Run the refills in a child process; returns its exit code (cancel: it is killed)."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "s3free.heal.child",
                                                stdin=asyncio.subprocess.PIPE)
    try:
        await proc.communicate(json.dumps(dataclasses.asdict(settings)).encode())
    except BaseException:
        if proc.returncode is None:
            proc.kill()             # safe: a refill resumes from its saved cursor
            await proc.wait()
        raise
    if proc.returncode:
        log.error("refill process exited with %d; the healer retries in %gs", proc.returncode, RETRY_AFTER)
    return proc.returncode


async def _run(settings) -> None:
    from s3free.commands.common import open_layer
    from s3free.heal.healer import Healer, refill_jobs
    layer = open_layer(settings)
    try:
        layer.disks.check(set(refill_jobs(layer.index)))
        healer = Healer(layer, rate=settings.heal_rate_mb * (1 << 20), auto_replace=False)
        for slot in list(refill_jobs(layer.index)):
            if layer.disks.disks[slot].online:
                while not await healer.refill_step(slot):
                    pass
    finally:
        await layer.close()


def main() -> int:
    from s3free import config
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    os.nice(NICE)
    from s3free.obs import logging as obs_logging
    settings = config.Settings(**json.loads(sys.stdin.read()))
    obs_logging.setup(settings.log_level)          # the same JSON lines as the workers
    lock = NodeLock(settings.meta_path(), "refill.lock")
    if not lock.try_acquire():
        log.warning("another refill process is running; leaving it the work")
        return 75                   # the parent retries later
    try:
        asyncio.run(_run(settings))
    finally:
        lock.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
