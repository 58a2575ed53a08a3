"""Batch operations for the I/O engines, and how their results turn into errors.

An op is a plain tuple `(code, fd, buffer_or_None, offset, name)` so a stripe's batch is
built with one list comprehension and parsed in C without a Python call per op. `name`
(usually the file path) is used only in error messages.
"""
from __future__ import annotations

import errno as _errno
import os
from collections.abc import Sequence

READ = 0
WRITE = 1
FSYNC = 2
FDATASYNC = 3
LINK = 0x100          # or-ed into a code: the next op starts only after this one succeeds
_CODE = 0xFF

_NAMES = {READ: "read", WRITE: "write", FSYNC: "fsync", FDATASYNC: "fdatasync"}

Op = tuple


def read(fd: int, buf, offset: int, name: str = "", link: bool = False) -> Op:
    return (READ | (LINK if link else 0), fd, buf, offset, name)


def write(fd: int, buf, offset: int, name: str = "", link: bool = False) -> Op:
    return (WRITE | (LINK if link else 0), fd, buf, offset, name)


def fsync(fd: int, name: str = "", link: bool = False) -> Op:
    return (FSYNC | (LINK if link else 0), fd, None, 0, name)


def fdatasync(fd: int, name: str = "", link: bool = False) -> Op:
    return (FDATASYNC | (LINK if link else 0), fd, None, 0, name)


def describe(op: Op) -> str:
    code = op[0] & _CODE
    what = _NAMES.get(code, f"op{code}")
    where = op[4] if len(op) > 4 and op[4] else f"fd {op[1]}"
    if code in (READ, WRITE):
        return f"{what} of {len(memoryview(op[2]))} bytes at offset {op[3]} in {where}"
    return f"{what} of {where}"


class ShortRead(OSError):
    """A read ended before the buffer was full: the file is shorter than expected."""


class IOBatchError(OSError):
    """One or more ops of a batch failed. `failures` lists (index, OSError) per failed op;
    the exception's own errno is that of the first failure."""

    def __init__(self, failures: list[tuple[int, OSError]]):
        self.failures = failures
        first = failures[0][1]
        more = f" (and {len(failures) - 1} more failed ops)" if len(failures) > 1 else ""
        super().__init__(first.errno, f"{first.strerror}{more}", first.filename)

    def __str__(self) -> str:
        return "; ".join(str(e) for _, e in self.failures)


def op_error(op: Op, result: int, exact_reads: bool = True) -> OSError | None:
    """The error for one op's result, or None when it succeeded."""
    code = op[0] & _CODE
    name = op[4] if len(op) > 4 else ""
    if result < 0:
        err = -result
        return OSError(err, f"{describe(op)} failed: {os.strerror(err)}", name or None)
    if code == WRITE and result != len(memoryview(op[2])):
        return OSError(_errno.EIO, f"{describe(op)} wrote only {result} bytes", name or None)
    if code == READ and exact_reads and result != len(memoryview(op[2])):
        return ShortRead(_errno.EIO, f"{describe(op)} returned only {result} bytes (file too short)",
                         name or None)
    return None


def errors(ops: Sequence[Op], results: Sequence[int], exact_reads: bool = True) -> list[OSError | None]:
    """Per-op errors (None for success): what quorum decisions are made from."""
    return [op_error(op, res, exact_reads) for op, res in zip(ops, results)]


def check(ops: Sequence[Op], results: Sequence[int], exact_reads: bool = True) -> list[int]:
    """Raise IOBatchError if any op failed; otherwise return the results."""
    failures = [(i, e) for i, e in enumerate(errors(ops, results, exact_reads)) if e is not None]
    if failures:
        raise IOBatchError(failures)
    return list(results)
