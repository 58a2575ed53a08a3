import os

import pytest

from s3free.native import AlignedBuffer, BufferPool


def test_aligned_buffer_is_aligned_zeroed_and_writable():
    buf = AlignedBuffer(3 * 4096 + 5)
    assert buf.address % 4096 == 0
    view = memoryview(buf)
    assert len(view) == len(buf) == 3 * 4096 + 5
    assert bytes(view[:16]) == bytes(16)
    view[:5] = b"hello"
    assert bytes(buf)[:5] == b"hello"
    buf.zero()
    assert bytes(view[:5]) == bytes(5)
    assert AlignedBuffer(100, alignment=65536).address % 65536 == 0
    with pytest.raises(ValueError):
        AlignedBuffer(10, alignment=3000)


def test_pool_reuses_and_bounds_free_list():
    pool = BufferPool(8192, keep=2)
    a, b, c = pool.get(), pool.get(), pool.get()
    assert pool.allocated == 3
    for x in (a, b, c):
        pool.put(x)
    assert pool.get() in (a, b)
    assert pool.allocated == 3
    with pytest.raises(ValueError):
        pool.put(AlignedBuffer(4096))


def test_pread_bytes_fills_only_the_slice_it_is_given(tmp_path):
    from s3free.native import crc32c, new_bytes, pread_bytes

    chunks = [bytes([i]) * 4096 for i in range(1, 4)]
    fds = []
    for i, chunk in enumerate(chunks):
        path = tmp_path / f"c{i}"
        path.write_bytes(b"H" * 10 + chunk)
        fds.append(os.open(path, os.O_RDONLY))
    try:
        data = new_bytes(3 * 4096 - 100 + 50)
        results, crcs = pread_bytes(data, fds, 10, 4096, 100, 50, len(data))
        assert results == [4096] * 3 and crcs == [crc32c(c) for c in chunks]
        assert data[50:] == b"".join(chunks)[100:]
        with pytest.raises(ValueError):
            pread_bytes(data, fds, 10, 4096, 0, 10, 5)
        with pytest.raises(ValueError):
            pread_bytes(data, fds, 10, 4096, 0, 0, len(data) + 1)
    finally:
        for fd in fds:
            os.close(fd)
