"""A private event loop thread and I/O engine for a refill.

A refill keeps dozens of 4 MiB reads in flight and opens, creates, renames and syncs
files by the thousand. On the worker's own event loop and I/O engine, every one of those
steps is a chance for a client request to wait: behind a 4 MiB read in the engine's
thread pool, behind a file creation that blocks on the filesystem journal, behind a span's
bookkeeping. So the healer runs each refill step here — its own loop on its own thread,
its own engine (own threads and rings) — and the worker's loop only awaits the result.
Both are made for a refill and closed when it ends.

The thread also runs at a lower CPU priority (nice +10; threads it starts — the engine's
and the decode executor's — inherit it): on a node whose cores are busy serving, the
scheduler lets client requests go first and the refill takes what is left. It needs little
CPU (the reads and writes are O_DIRECT, the CRCs and the decode run in C), so on an idle
node it loses nothing.
"""
from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine

from s3free.ioengine import IOEngine, open_engine

NICE = 10


class OffLoop:
    def __init__(self, engine_kind: str | None = None):
        self.engine: IOEngine = open_engine(engine_kind)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._main, name="s3free-refill", daemon=True)
        self.thread.start()

    def _main(self) -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)   # this thread only
        except (OSError, AttributeError):
            pass
        self.loop.run_forever()

    async def run(self, coro: Coroutine):
        """Run `coro` on the private loop; cancelling the caller cancels it there."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def close(self) -> None:
        """Cancel what still runs there (a cancelled caller does not wait for it), let it
        clean up, then stop the loop, its thread and the engine."""
        async def cancel_rest() -> None:
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in rest:
                if not task.cancelling():     # a second cancel would cut its cleanup short
                    task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)
            await asyncio.get_running_loop().shutdown_default_executor()
        try:
            asyncio.run_coroutine_threadsafe(cancel_rest(), self.loop).result(timeout=60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join()
            self.loop.close()
            self.engine.close()
