"""settle: a cancelled wait for an engine job still waits for the job to end."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from s3free.ioengine.threadpool import ThreadPoolEngine
from s3free.ioengine.base import settle


def test_cancelled_caller_waits_for_the_running_job_and_queued_jobs_still_run():
    engine = ThreadPoolEngine(async_workers=1)
    started, ended, later = threading.Event(), [], []

    def slow():
        started.set()
        time.sleep(0.3)
        ended.append(time.monotonic())

    async def main():
        job = engine.submit(slow)
        queued = engine.submit(lambda: later.append(True))
        waiter = asyncio.ensure_future(settle(job))
        await asyncio.get_running_loop().run_in_executor(None, started.wait)
        waiter.cancel()
        waiter.cancel()                 # twice: still waits
        with pytest.raises(asyncio.CancelledError):
            await waiter
        cancelled_at = time.monotonic()
        assert ended and ended[0] <= cancelled_at      # the job had ended before the cancel got through
        await settle(queued)
        assert later == [True]                         # a job queued behind it was not dropped
    asyncio.run(main())
    engine.close()


def test_job_errors_come_through():
    engine = ThreadPoolEngine(async_workers=1)

    def boom():
        raise OSError(5, "EIO")

    async def main():
        with pytest.raises(OSError):
            await settle(engine.submit(boom))
    asyncio.run(main())
    engine.close()
