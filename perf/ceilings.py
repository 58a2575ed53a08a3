"""The machine's own ceilings, measured in the same run as the servers: MD5 on one core,
O_DIRECT sequential disk write/read, page-cache residency of files, and a description of
the machine (for docs/performance.md)."""
from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import mmap
import os
import platform
import subprocess
import time
from pathlib import Path

MIB = 1 << 20


def md5_mbps(size: int = 64 * MIB, rounds: int = 3) -> float:
    """hashlib.md5 over one buffer on one core, best of `rounds`, MiB/s."""
    data = os.urandom(size)
    best = 0.0
    for _ in range(rounds):
        t = time.perf_counter()
        hashlib.md5(data).digest()
        best = max(best, size / (time.perf_counter() - t))
    return best / MIB


def disk_mbps(directory: str, total: int = 512 * MIB, block: int = MIB) -> tuple[float | None, float | None, str]:
    """O_DIRECT sequential write (then fdatasync) and read of `total` bytes in `block`-byte
    requests, on the filesystem holding `directory`. Returns (write MiB/s, read MiB/s, note);
    (None, None, why) where O_DIRECT is refused (tmpfs, some overlay filesystems)."""
    from s3free.native import AlignedBuffer

    direct = getattr(os, "O_DIRECT", 0)
    if not direct:
        return None, None, "no O_DIRECT on this platform"
    path = os.path.join(directory, f".s3free-disk-probe-{os.getpid()}")
    buf = AlignedBuffer(block)
    view = memoryview(buf)
    view[:] = os.urandom(block)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | direct, 0o600)
    except OSError as exc:
        return None, None, f"O_DIRECT refused: {exc.strerror}"
    try:
        t = time.perf_counter()
        for off in range(0, total, block):
            if os.pwrite(fd, view, off) != block:
                raise OSError("short O_DIRECT write")
        os.fdatasync(fd)
        write = total / (time.perf_counter() - t) / MIB
        os.close(fd)
        fd = os.open(path, os.O_RDONLY | direct)
        t = time.perf_counter()
        for off in range(0, total, block):
            if os.preadv(fd, [view], off) != block:
                raise OSError("short O_DIRECT read")
        read = total / (time.perf_counter() - t) / MIB
    finally:
        os.close(fd)
        os.unlink(path)
    return write, read, f"O_DIRECT, {block // MIB} MiB requests, {total // MIB} MiB, queue depth 1"


def disk_mbps_at_depth(directory: str, block: int, read_depth: int, write_depth: int,
                       total: int = 512 * MIB) -> tuple[float | None, float | None, str]:
    """O_DIRECT write (then fdatasync) and read of `total` bytes in `block`-byte requests
    through s3free's I/O engine, `write_depth` resp. `read_depth` requests per batch: the
    device's rates at the queue depths a workload (the refill) keeps. Returns (write MiB/s,
    read MiB/s, note), or (None, None, why) where O_DIRECT is refused."""
    from s3free.ioengine import open_engine, ops
    from s3free.native import AlignedBuffer

    direct = getattr(os, "O_DIRECT", 0)
    if not direct:
        return None, None, "no O_DIRECT on this platform"
    path = os.path.join(directory, f".s3free-depth-probe-{os.getpid()}")
    bufs = [AlignedBuffer(block) for _ in range(max(read_depth, write_depth))]
    for buf in bufs:
        memoryview(buf)[:] = os.urandom(block)
    n = total // block
    engine = open_engine()
    rates = {}
    try:
        for kind, flags, depth, op in (("write", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, write_depth, ops.write),
                                       ("read", os.O_RDONLY, read_depth, ops.read)):
            try:
                fd = os.open(path, flags | direct, 0o600)
            except OSError as exc:
                return None, None, f"O_DIRECT refused: {exc.strerror}"
            try:
                t = time.perf_counter()
                for i in range(0, n, depth):
                    engine.run_checked([op(fd, bufs[j], (i + j) * block, path) for j in range(min(depth, n - i))])
                if kind == "write":
                    os.fdatasync(fd)
                rates[kind] = n * block / (time.perf_counter() - t) / MIB
            finally:
                os.close(fd)
    finally:
        engine.close()
        try:
            os.unlink(path)
        except OSError:
            pass
    return rates["write"], rates["read"], (f"O_DIRECT via {engine.name}, {block // 1024} KiB requests, "
                                           f"{n * block // MIB} MiB, depth {write_depth} (write) / {read_depth} (read)")


_libc = None


def _mincore_fn():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        _libc.mmap.restype = ctypes.c_void_p
        _libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                               ctypes.c_long]
        _libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        _libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    return _libc


def cached_fraction(roots: list[str], min_size: int = MIB) -> float | None:
    """Share of the pages of files (>= min_size bytes) under `roots` that sit in the page
    cache (mincore(2)); None if there are no such files. Give data folders only: a sparse
    LMDB map would be walked page by page."""
    libc = _mincore_fn()
    page = mmap.PAGESIZE
    resident = pages = 0
    walk = [entry for root in roots for entry in os.walk(root)]
    for dirpath, _, files in walk:
        for name in files:
            path = os.path.join(dirpath, name)
            try:
                size = os.path.getsize(path)
                if size < min_size:
                    continue
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
                if addr in (None, ctypes.c_void_p(-1).value):
                    continue
                n = (size + page - 1) // page
                vec = ctypes.create_string_buffer(n)
                if libc.mincore(addr, size, vec) == 0:
                    resident += sum(b & 1 for b in vec.raw)
                    pages += n
                libc.munmap(addr, size)
            finally:
                os.close(fd)
    return resident / pages if pages else None


def machine(data_dir: str) -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = int(line.split()[1]) * 1024
    except OSError:
        pass
    fs = ""
    try:
        out = subprocess.run(["df", "-PT", data_dir], capture_output=True, text=True, timeout=10).stdout.splitlines()
        if len(out) > 1:
            parts = out[1].split()
            fs = f"{parts[1]} on {parts[0]} mounted at {parts[-1]}"
    except (OSError, subprocess.SubprocessError):
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gib": round(ram / (1 << 30), 1), "filesystem": fs,
            "kernel": platform.release(), "python": platform.python_version()}
