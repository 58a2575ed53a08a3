"""What a server worker runs for healing, and how the CLI reaches it.

Every worker watches its own view of the disks. Exactly one worker per node — whoever
holds `<meta>/healer.lock` — runs the heal queue worker and the scrubber; if it dies the
lock frees and another worker takes over within seconds. The CLI asks that worker for a
scrub through the index (`scrub-request`) and reads the answer (`scrub-last`); with no
server running, the CLI takes the lock and does the work itself.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid

from s3free.meta.locks import NodeLock
from s3free.heal.healer import Healer, refill_jobs
from s3free.heal.scrubber import CURSOR_KEY, RESULT_KEY, Scrubber

log = logging.getLogger("s3free.heal")

REQUEST_KEY = b"scrub-request"
MB = 1 << 20


def request_scrub(index, bucket: str | None = None) -> str:
    rid = uuid.uuid4().hex
    with index.write() as txn:
        index.put(txn, "state", REQUEST_KEY, {"id": rid, "bucket": bucket, "at": time.time()})
    return rid


def last_scrub(index) -> dict | None:
    with index.read() as txn:
        return index.get(txn, "state", RESULT_KEY)


class HealService:
    def __init__(self, layer, settings):
        self.layer = layer
        self.settings = settings
        self.lock = NodeLock(settings.meta_path())
        self.healer: Healer | None = None
        self.tasks: list[asyncio.Task] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.tasks.append(loop.create_task(self._watch_disks()))
        self.tasks.append(loop.create_task(self._lead()))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self.tasks.clear()
        self.lock.release()

    @property
    def leading(self) -> bool:
        return self.lock.fh is not None

    async def _watch_disks(self) -> None:
        interval = self.settings.disk_check_interval or 5.0
        while True:
            await asyncio.sleep(interval)
            if not self.leading:      # the leader's healer probes (and may format) disks itself
                try:
                    self.layer.disks.check(set(refill_jobs(self.layer.index)))
                except Exception:
                    log.exception("disk check failed")

    async def _lead(self) -> None:
        while not self.lock.try_acquire():
            await asyncio.sleep(5.0)
        log.info("this worker (pid %d) runs the healer and the scrubber", os.getpid())
        self.healer = Healer(self.layer, rate=self.settings.heal_rate_mb * MB,
                             auto_replace=self.settings.auto_replace, settings=self.settings)
        heal = asyncio.get_running_loop().create_task(self.healer.run(self.settings.disk_check_interval or 5.0))
        try:
            await self._scrub_loop()
        finally:
            heal.cancel()

    async def _scrub_loop(self) -> None:
        scrubber = Scrubber(self.layer, self.healer, rate=self.settings.scrub_rate_mb * MB)
        index = self.layer.index
        while True:
            with index.read() as txn:
                request = index.get(txn, "state", REQUEST_KEY)
                cursor = index.get(txn, "state", CURSOR_KEY)
            last = last_scrub(index) or {}
            due = self.settings.scrub_interval > 0 and (
                bool(cursor) or time.time() - last.get("finished", 0) >= self.settings.scrub_interval)
            if request or due:
                try:
                    stats = await scrubber.run_pass(bucket=request.get("bucket") if request else None)
                    if request:
                        with index.write() as txn:
                            result = index.get(txn, "state", RESULT_KEY) or {}
                            index.put(txn, "state", RESULT_KEY, dict(result, request=request["id"]))
                            index.delete(txn, "state", REQUEST_KEY)
                    log.info("scrub pass: %s", stats)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("scrub pass failed")
            await asyncio.sleep(1.0)
