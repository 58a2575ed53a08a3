"""Checksums on ISA-L equal the reference implementations, streamed or not."""
import os
import zlib

import crc32c as crc32c_pkg
from hypothesis import given, strategies as st

from s3free import native


@given(st.binary(max_size=5000), st.integers(0, 64), st.integers(0, 64))
def test_crc32c_equals_package_on_unaligned_slices(data, a, b):
    view = memoryview(data)[min(a, len(data)):max(len(data) - b, min(a, len(data)))]
    assert native.crc32c(view) == crc32c_pkg.crc32c(bytes(view))


@given(st.binary(max_size=3000), st.integers(0, 3000))
def test_crc32c_streams_with_seed(data, cut):
    cut = min(cut, len(data))
    assert native.crc32c(data[cut:], native.crc32c(data[:cut])) == crc32c_pkg.crc32c(data)


def test_crc32c_known_values_and_large_buffer():
    assert native.crc32c(b"") == 0
    assert native.crc32c(b"123456789") == 0xE3069283          # the CRC-32C check value
    big = os.urandom(3 * 1024 * 1024 + 5)
    assert native.crc32c(big) == crc32c_pkg.crc32c(big)
    assert native.crc32c(bytearray(big)) == crc32c_pkg.crc32c(big)


def test_crc32c_chunks_table():
    data = os.urandom(10 * 4096 + 17)
    table = native.crc32c_chunks(data, 4096)
    assert len(table) == 4 * 11
    expect = b"".join(crc32c_pkg.crc32c(data[i:i + 4096]).to_bytes(4, "little")
                      for i in range(0, len(data), 4096))
    assert table == expect
    assert native.crc32c_chunks(b"", 4096) == b""


@given(st.binary(max_size=2000), st.integers(0, 2000))
def test_crc32_equals_zlib(data, cut):
    cut = min(cut, len(data))
    assert native.crc32(data) == zlib.crc32(data)
    assert native.crc32(data[cut:], native.crc32(data[:cut])) == zlib.crc32(data)


def test_crc64nvme_check_value_and_streaming():
    assert native.crc64nvme(b"123456789") == 0xAE8B14860A799888   # CRC-64/NVME check value
    data = os.urandom(5000)
    assert native.crc64nvme(data[1234:], native.crc64nvme(data[:1234])) == native.crc64nvme(data)
