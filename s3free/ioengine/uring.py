"""The io_uring engine: a ring per thread (rings are not thread-safe), per process."""
from __future__ import annotations

import os
import threading

from s3free import _native
from s3free.ioengine.base import IOEngine


class UringEngine(IOEngine):
    name = "io_uring"

    def __init__(self, entries: int = 256, async_workers: int = 8):
        super().__init__(async_workers)
        self.entries = entries
        self._local = threading.local()
        self._rings: list = []
        self._lock = threading.Lock()
        self._ring()  # fail now, not on first use, if io_uring is unavailable

    def _ring(self) -> "_native.Ring":
        ring = getattr(self._local, "ring", None)
        if ring is None or self._local.pid != os.getpid():
            ring = _native.Ring(self.entries)
            self._local.ring = ring
            self._local.pid = os.getpid()
            with self._lock:
                self._rings.append(ring)
        return ring

    def run(self, batch: list) -> list[int]:
        return self._ring().run(batch)

    @property
    def submits(self) -> int:
        """Submit calls made by all this engine's rings (tests check batching with it)."""
        with self._lock:
            return sum(r.submits for r in self._rings)

    def close(self) -> None:
        super().close()
        with self._lock:
            for ring in self._rings:
                try:
                    ring.close()
                except RuntimeError:
                    pass
            self._rings.clear()
        self._local = threading.local()
