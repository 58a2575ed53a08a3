"""The engine contract, checked on both engines (twins)."""
import asyncio
import errno
import os
import subprocess

import pytest

from s3free.ioengine import IOBatchError, ShortRead, ops
from s3free.native import AlignedBuffer


def _open(path, flags=os.O_RDWR | os.O_CREAT):
    return os.open(path, flags, 0o644)


def test_stripe_write_with_linked_syncs_then_read_back(engine, tmp_path):
    paths = [tmp_path / f"shard{i}" for i in range(9)]
    fds = [_open(p) for p in paths]
    try:
        bufs = [os.urandom(192 * 1024 + i) for i in range(9)]
        batch = []
        for fd, buf, p in zip(fds, bufs, paths):
            batch.append(ops.write(fd, buf, 4096, str(p), link=True))
            batch.append(ops.fdatasync(fd, str(p)))
        results = engine.run_checked(batch)
        assert results == [x for b in bufs for x in (len(b), 0)]
        back = [bytearray(len(b)) for b in bufs]
        engine.run_checked([ops.read(fd, out, 4096, str(p)) for fd, out, p in zip(fds, back, paths)])
        assert [bytes(b) for b in back] == bufs
        assert all(os.path.getsize(p) == 4096 + len(b) for p, b in zip(paths, bufs))
    finally:
        for fd in fds:
            os.close(fd)


def test_o_direct_aligned_io(engine, tmp_path):
    fd = _open(tmp_path / "direct", os.O_RDWR | os.O_CREAT | os.O_DIRECT)
    try:
        src = AlignedBuffer(1 << 20)
        memoryview(src)[:] = os.urandom(1 << 20)
        assert engine.run_checked([ops.write(fd, src, 0), ops.write(fd, src, 1 << 20), ops.fsync(fd)]) \
            == [1 << 20, 1 << 20, 0]
        dst = AlignedBuffer(1 << 20)
        engine.run_checked([ops.read(fd, dst, 1 << 20)])
        assert bytes(dst) == bytes(src)
        # an unaligned buffer on an O_DIRECT file is refused by the kernel, cleanly
        with pytest.raises(IOBatchError) as info:
            engine.run_checked([ops.write(fd, bytearray(1000), 0, "direct-file")])
        assert info.value.errno == errno.EINVAL and "direct-file" in str(info.value)
    finally:
        os.close(fd)


def test_write_to_read_only_fd_names_file_and_cancels_its_chain(engine, tmp_path):
    path = tmp_path / "ro"
    path.write_bytes(b"x" * 10)
    fd = os.open(path, os.O_RDONLY)
    other = _open(tmp_path / "ok")
    try:
        batch = [ops.write(fd, b"data", 0, str(path), link=True), ops.fsync(fd, str(path)),
                 ops.write(other, b"fine", 0, "ok")]
        results = engine.run(batch)
        assert results == [-errno.EBADF, -errno.ECANCELED, 4]
        with pytest.raises(IOBatchError) as info:
            ops.check(batch, results)
        err = info.value
        assert err.errno == errno.EBADF and err.filename == str(path)
        assert "write of 4 bytes at offset 0" in str(err) and len(err.failures) == 2
        assert (tmp_path / "ok").read_bytes() == b"fine"
        assert path.read_bytes() == b"x" * 10
    finally:
        os.close(fd)
        os.close(other)


def test_read_past_eof_is_short_and_named(engine, tmp_path):
    path = tmp_path / "short"
    path.write_bytes(b"abc" * 1000)
    fd = os.open(path, os.O_RDONLY)
    try:
        buf = bytearray(5000)
        assert engine.run([ops.read(fd, buf, 0)]) == [3000]
        assert bytes(buf[:3000]) == b"abc" * 1000
        assert engine.run([ops.read(fd, bytearray(10), 10_000)]) == [0]
        with pytest.raises(IOBatchError, match="returned only 0 bytes") as info:
            engine.run_checked([ops.read(fd, bytearray(10), 10_000, str(path))])
        assert info.value.filename == str(path)
        assert isinstance(info.value.failures[0][1], ShortRead)
        # a short read in a linked chain does not lose the ops after it
        assert engine.run([ops.read(fd, buf, 0, link=True), ops.read(fd, bytearray(3), 0)]) == [3000, 3]
    finally:
        os.close(fd)


def test_closed_fd_is_ebadf(engine, tmp_path):
    fd = _open(tmp_path / "gone")
    os.close(fd)
    with pytest.raises(IOBatchError) as info:
        engine.run_checked([ops.read(fd, bytearray(4), 0, "gone")])
    assert info.value.errno == errno.EBADF


def test_enospc_on_dev_full(engine):
    fd = os.open("/dev/full", os.O_WRONLY)
    try:
        with pytest.raises(IOBatchError) as info:
            engine.run_checked([ops.write(fd, b"z" * 4096, 0, "/dev/full")])
        assert info.value.errno == errno.ENOSPC and "/dev/full" in str(info.value)
    finally:
        os.close(fd)


@pytest.fixture
def small_tmpfs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here: {proc.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_enospc_on_full_filesystem_is_reported_not_silent(engine, small_tmpfs):
    path = small_tmpfs / "big"
    fd = _open(path)
    try:
        chunk = os.urandom(64 * 1024)
        batch = [ops.write(fd, chunk, i * len(chunk), str(path)) for i in range(8)]  # 512 KiB > 256 KiB
        results = engine.run(batch)
        failures = [e for e in ops.errors(batch, results) if e is not None]
        assert failures and all(e.errno == errno.ENOSPC for e in failures)
        assert sum(r for r in results if r > 0) <= 256 * 1024
    finally:
        os.close(fd)


def test_batch_larger_than_ring(engine, tmp_path):
    fd = _open(tmp_path / "many")
    try:
        data = [os.urandom(512) for _ in range(300)]
        engine.run_checked([ops.write(fd, d, i * 512) for i, d in enumerate(data)])
        assert (tmp_path / "many").read_bytes() == b"".join(data)
    finally:
        os.close(fd)


def test_bad_batches_are_value_errors(engine):
    with pytest.raises(ValueError):
        engine.run([(99, 0, None, 0, "")])
    with pytest.raises(ValueError):
        engine.run([ops.fsync(0, link=True)])


def test_arun_keeps_the_event_loop_serving_timers(engine, tmp_path):
    """A large batch in flight must not stall the loop: timers keep firing."""
    fds = [_open(tmp_path / f"f{i}") for i in range(4)]
    payload = os.urandom(8 << 20)
    batch = [op for i, fd in enumerate(fds) for j in range(8)
             for op in [ops.write(fd, payload, j * len(payload))]] + [ops.fsync(fd) for fd in fds]

    async def main():
        ticks = []
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        async def ticker():
            while not stop.is_set():
                ticks.append(loop.time())
                await asyncio.sleep(0.005)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0.02)
        start = loop.time()
        results = await engine.arun_checked(batch)
        end = loop.time()
        stop.set()
        await task
        return results, ticks, start, end

    try:
        results, ticks, start, end = asyncio.run(main())
        assert len(results) == len(batch)
        during = [t for t in ticks if start <= t <= end]
        gaps = [b - a for a, b in zip(ticks, ticks[1:])]
        assert max(gaps) < 0.25, f"the loop stalled for {max(gaps):.3f}s"
        assert len(during) >= min(3, int((end - start) / 0.02)), (len(during), end - start)
    finally:
        for fd in fds:
            os.close(fd)


def test_aread_matches_arun_cached_or_not(engine, tmp_path):
    """aread serves page-cache hits inline and the rest through the engine: same results."""
    path = tmp_path / "cached"
    data = os.urandom(300_000)
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    closed = 999_999          # never a valid descriptor (a closed one's number may be reused)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)      # make some reads miss the cache
        batch = [ops.read(fd, bytearray(4096), 0), ops.read(fd, bytearray(200_000), 50_000),
                 ops.read(fd, bytearray(10), 299_995), ops.read(fd, bytearray(10), 400_000),
                 ops.read(closed, bytearray(4), 0)]
        got = asyncio.run(engine.aread(batch))
        assert got == [4096, 200_000, 5, 0, -errno.EBADF]
        assert bytes(batch[1][2]) == data[50_000:250_000]
        again = [ops.read(fd, bytearray(200_000), 50_000)]           # now cached: served inline
        assert asyncio.run(engine.aread(again)) == [200_000] and bytes(again[0][2]) == data[50_000:250_000]
    finally:
        os.close(fd)
