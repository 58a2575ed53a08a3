"""The engine interface both engines implement (and tests run against, as twins)."""
from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import Sequence

from s3free.ioengine import ops as _ops

_NOWAIT = getattr(os, "RWF_NOWAIT", 0)


class IOEngine:
    """Runs batches of ops (see ops.py); `run` blocks with the GIL released, `arun`
    awaits the same on a worker thread so the event loop never blocks."""

    name = "abstract"

    def __init__(self, async_workers: int = 8):
        self._async_workers = async_workers
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._pid = os.getpid()

    def run(self, batch: list) -> list[int]:
        """Run every op; return bytes transferred or -errno per op."""
        raise NotImplementedError

    def run_checked(self, batch: list, exact_reads: bool = True) -> list[int]:
        """Like run, but raise IOBatchError naming each failed op and file."""
        return _ops.check(batch, self.run(batch), exact_reads)

    def _dispatch_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._executor is None or self._pid != os.getpid():
            self._pid = os.getpid()
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=self._async_workers, thread_name_prefix=f"s3free-{self.name}")
        return self._executor

    async def arun(self, batch: list) -> list[int]:
        return await settle(self.submit(self.run, batch))

    def submit(self, fn, *args) -> asyncio.Future:
        """Run `fn(*args)` on this engine's worker threads (where `run` may be called
        without another hop); jobs start in the order they are submitted. Await the
        result with `settle`: a job, once submitted, always runs to its end."""
        return asyncio.wrap_future(self._dispatch_pool().submit(fn, *args))

    async def aread(self, batch: list) -> list[int]:
        """Like arun for a batch of reads, but each read whose bytes are all in the page cache
        is done right here with RWF_NOWAIT (which never blocks: it answers EAGAIN instead);
        only the rest take the trip to a worker thread, in one batch."""
        results: list[int] = [0] * len(batch)
        rest = []
        for i, op in enumerate(batch):
            if _NOWAIT and op[0] & 0xFF == _ops.READ:
                want = len(memoryview(op[2]))
                try:
                    if os.preadv(op[1], [op[2]], op[3], _NOWAIT) == want:
                        results[i] = want
                        continue
                except OSError:
                    pass      # EAGAIN (not cached), or an error the engine will report
            rest.append(i)
        if rest:
            for i, res in zip(rest, await self.arun([batch[i] for i in rest])):
                results[i] = res
        return results

    async def arun_checked(self, batch: list, exact_reads: bool = True) -> list[int]:
        return _ops.check(batch, await self.arun(batch), exact_reads)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


async def settle(fut: asyncio.Future):
    """Await an engine job. If the awaiting task is cancelled meanwhile, the job still
    uses the caller's buffers and descriptors on its thread: wait until it has ended
    (however often cancelled), then let the cancellation through. Without this a
    cancelled request could close an fd under a running write (and the number, reused,
    would take it into another file) or reuse a buffer a job is still filling."""
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:
        while not fut.done():
            try:
                await asyncio.wait([fut])
            except asyncio.CancelledError:
                pass
        raise


def chains(batch: Sequence) -> list[list[int]]:
    """Group op indexes into link chains (an op with LINK continues into the next)."""
    groups: list[list[int]] = []
    current: list[int] = []
    for i, op in enumerate(batch):
        current.append(i)
        if not op[0] & _ops.LINK:
            groups.append(current)
            current = []
    if current:
        raise ValueError("the last op of a batch cannot be linked to a following op")
    return groups
