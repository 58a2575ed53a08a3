"""Batched disk I/O: the io_uring engine, or its thread-pool twin as a fallback.

`open_engine()` picks io_uring when the kernel allows it and says once, in the log, which
engine is active. `S3FREE_IO_ENGINE=io_uring|threadpool|auto` forces a choice (tests use
it to run everything against both engines).
"""
from __future__ import annotations

import logging
import os

from s3free.ioengine import ops
from s3free.ioengine.base import IOEngine
from s3free.ioengine.ops import IOBatchError, ShortRead
from s3free.ioengine.threadpool import ThreadPoolEngine

log = logging.getLogger("s3free.ioengine")

ENGINES = ("auto", "io_uring", "threadpool")

__all__ = ["ENGINES", "IOBatchError", "IOEngine", "ShortRead", "ThreadPoolEngine",
           "open_engine", "ops", "uring_unavailable_reason"]


def uring_unavailable_reason() -> str | None:
    """None when an io_uring ring can be set up here, else why not."""
    try:
        from s3free.ioengine.uring import UringEngine
        UringEngine(entries=4).close()
    except OSError as exc:
        return f"io_uring setup failed: {exc.strerror or exc}"
    except ImportError as exc:
        return f"io_uring library unavailable: {exc}"
    return None


def open_engine(kind: str | None = None, entries: int = 256, workers: int = 16) -> IOEngine:
    """Open the configured engine; 'auto' falls back to the thread pool with a warning."""
    kind = (kind or os.environ.get("S3FREE_IO_ENGINE") or "auto").strip().lower()
    if kind not in ENGINES:
        raise ValueError(f"unknown io engine {kind!r}; choose one of {', '.join(ENGINES)}")
    if kind in ("auto", "io_uring"):
        try:
            from s3free.ioengine.uring import UringEngine
            engine: IOEngine = UringEngine(entries=entries)
            log.info("io engine: io_uring (ring of %d entries per thread)", entries)
            return engine
        except (OSError, ImportError) as exc:
            if kind == "io_uring":
                raise OSError(getattr(exc, "errno", None) or 0,
                              f"io_uring was requested but cannot be used: {exc}") from exc
            log.warning("io engine: io_uring unavailable (%s); falling back to the thread "
                        "pool with pread/pwrite", exc)
    else:
        log.info("io engine: threadpool (forced by configuration)")
    return ThreadPoolEngine(workers=workers)
