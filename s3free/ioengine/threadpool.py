"""The fallback engine: the same batches on a thread pool with pread/pwrite/fsync.

Used when io_uring cannot be set up (old kernel, kernel.io_uring_disabled, a seccomp
profile) or when forced. Chains run in order on one thread; chains run in parallel.
"""
from __future__ import annotations

import concurrent.futures
import errno
import os

from s3free.ioengine import ops as _ops
from s3free.ioengine.base import IOEngine, chains


def _run_op(op) -> int:
    code, fd, buf, offset = op[0] & 0xFF, op[1], op[2], op[3]
    try:
        if code == _ops.READ:
            view = memoryview(buf).cast("B")
            done = 0
            while done < len(view):
                n = os.preadv(fd, [view[done:]], offset + done)
                if n == 0:
                    break
                done += n
            return done
        if code == _ops.WRITE:
            view = memoryview(buf).cast("B")
            done = 0
            while done < len(view):
                n = os.pwrite(fd, view[done:], offset + done)
                if n == 0:
                    return -errno.EIO
                done += n
            return done
        if code == _ops.FSYNC:
            os.fsync(fd)
            return 0
        if code == _ops.FDATASYNC:
            os.fdatasync(fd)
            return 0
    except OSError as exc:
        return -(exc.errno or errno.EIO)
    raise ValueError(f"unknown op code {op[0]}")


def _run_chain(batch: list, indexes: list[int], results: list[int]) -> None:
    failed = False
    for i in indexes:
        if failed:
            results[i] = -errno.ECANCELED
            continue
        res = results[i] = _run_op(batch[i])
        op = batch[i]
        code = op[0] & 0xFF
        if res < 0 or (code == _ops.WRITE and res != len(memoryview(op[2]))):
            failed = True


class ThreadPoolEngine(IOEngine):
    name = "threadpool"

    def __init__(self, workers: int = 16, async_workers: int = 8):
        super().__init__(async_workers)
        self.workers = workers
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool_pid = 0

    def _io_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._pool is None or self._pool_pid != os.getpid():
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=self.workers, thread_name_prefix="s3free-io")
            self._pool_pid = os.getpid()
        return self._pool

    def run(self, batch: list) -> list[int]:
        results = [0] * len(batch)
        groups = chains(batch)
        for op in batch:
            if op[0] & 0xFF not in (_ops.READ, _ops.WRITE, _ops.FSYNC, _ops.FDATASYNC):
                raise ValueError(f"unknown op code {op[0]}")
        if len(groups) == 1:
            _run_chain(batch, groups[0], results)
            return results
        pool = self._io_pool()
        for f in [pool.submit(_run_chain, batch, g, results) for g in groups]:
            f.result()
        return results

    def close(self) -> None:
        super().close()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
