"""Structured event lines about the node, and the per-worker metrics upkeep.

Every worker carries its damage reports into the bitrot counter. The worker that runs the
healer (one per node) also logs, as JSON lines on logger `s3free.events`, each disk state
change (`disk_state`), each finished scrub pass (`scrub_pass`) and the repairs since the
last look (`heal_progress`), so one line is written per event rather than one per worker.
"""
from __future__ import annotations

import asyncio
import logging

from s3free.obs.logging import event

log = logging.getLogger("s3free.events")


class EventWatcher:
    def __init__(self, layer, heal, metrics, interval: float = 2.0):
        self.layer, self.heal, self.metrics, self.interval = layer, heal, metrics, interval
        self.disks = {d.index: d.state for d in layer.disks.disks}
        self.scrub_finished = None
        self.repaired = None

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.step()
            except Exception:
                log.exception("event watcher failed")

    def step(self) -> None:
        if self.metrics is not None:
            self.metrics.sync_damage(self.layer)
        if self.heal is None or not self.heal.leading:
            return
        for disk in self.layer.disks.disks:
            old = self.disks.get(disk.index)
            if old != disk.state:
                level = logging.INFO if disk.state == "online" else logging.WARNING
                event(log, level, f"disk slot {disk.index + 1} is {disk.state}", event="disk_state",
                      slot=disk.index + 1, path=str(disk.path), old=old, state=disk.state, reason=disk.reason)
                self.disks[disk.index] = disk.state
        from s3free.heal.healer import STATS_KEY
        from s3free.heal.scrubber import RESULT_KEY
        index = self.layer.index
        with index.read() as txn:
            last = index.get(txn, "state", RESULT_KEY) or {}
            stats = index.get(txn, "state", STATS_KEY) or {}
        finished = last.get("finished")
        if self.scrub_finished is not None and finished and finished != self.scrub_finished:
            level = logging.WARNING if last.get("unrecoverable") else logging.INFO
            event(log, level, "scrub pass finished", event="scrub_pass",
                  **{k: v for k, v in last.items() if k != "request"})
        self.scrub_finished = finished or 0
        repaired = (stats.get("shards_repaired", 0), stats.get("records_repaired", 0), stats.get("unrecoverable", 0))
        if self.repaired is not None and repaired != self.repaired:
            event(log, logging.INFO, "heal progress", event="heal_progress",
                  shards_repaired=repaired[0] - self.repaired[0], records_repaired=repaired[1] - self.repaired[1],
                  unrecoverable=repaired[2] - self.repaired[2], bytes_written_total=stats.get("bytes_written", 0))
        self.repaired = repaired
