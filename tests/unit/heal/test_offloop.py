"""The refill's private loop thread: work runs there (not on the caller's thread, not on
the caller's engine), a cancelled caller cancels it, and close() lets it clean up."""
import asyncio
import threading

from support import run
from s3free.heal.offloop import OffLoop


def test_runs_on_its_own_thread_and_engine():
    async def main():
        off = OffLoop("threadpool")
        try:
            async def where():
                await asyncio.sleep(0)
                return threading.current_thread().name
            assert await off.run(where()) == "s3free-refill"
            assert off.engine.name == "threadpool"
        finally:
            off.close()
        assert not off.thread.is_alive()
    run(main())


def test_cancelling_the_caller_cancels_the_work_and_close_waits_for_its_cleanup():
    cleaned = threading.Event()

    async def main():
        off = OffLoop("threadpool")
        started = threading.Event()

        async def work():
            started.set()
            try:
                await asyncio.sleep(60)
            finally:
                await asyncio.sleep(0.05)       # cleanup that needs the loop
                cleaned.set()
        task = asyncio.ensure_future(off.run(work()))
        while not started.is_set():
            await asyncio.sleep(0.01)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        off.close()
    run(main())
    assert cleaned.is_set()
