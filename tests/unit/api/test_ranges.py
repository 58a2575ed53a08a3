"""Range header arithmetic with S3 semantics."""

import doctest

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3free.api import ranges
from s3free.api.errors import S3Error
from s3free.api.ranges import content_range, parse_copy_source_range, parse_range, unsatisfied_content_range


def test_doctests():
    assert doctest.testmod(ranges).failed == 0


@pytest.mark.parametrize("header,size,expected", [
    ("bytes=0-0", 1, (0, 0)),
    ("bytes=0-9", 10, (0, 9)),
    ("bytes=0-99", 10, (0, 9)),
    ("bytes=3-", 10, (3, 9)),
    ("bytes=9-", 10, (9, 9)),
    ("bytes=-1", 10, (9, 9)),
    ("bytes=-10", 10, (0, 9)),
    ("bytes=-11", 10, (0, 9)),
    ("Bytes=2-3", 10, (2, 3)),
    (" bytes = 2-3 ", 10, (2, 3)),
    (None, 10, None),
    ("", 10, None),
    ("bytes", 10, None),
    ("bytes=", 10, None),
    ("bytes=-", 10, None),
    ("bytes=a-b", 10, None),
    ("bytes=5-2", 10, None),
    ("bytes=0-1,3-4", 10, None),
    ("bytes=0-1, 3-4", 10, None),
    ("bytes=1-2-3", 10, None),
    ("bytes=+1-2", 10, None),
    ("bytes=١-٢", 10, None),  # non-ASCII digits are not digits here
    ("lines=0-1", 10, None),
])
def test_parse_range(header, size, expected):
    assert parse_range(header, size) == expected


@pytest.mark.parametrize("header,size", [
    ("bytes=10-", 10), ("bytes=10-20", 10), ("bytes=-0", 10),
    ("bytes=0-", 0), ("bytes=0-0", 0), ("bytes=-1", 0), ("bytes=-0", 0),
])
def test_unsatisfiable(header, size):
    with pytest.raises(S3Error) as info:
        parse_range(header, size)
    err = info.value
    assert (err.code, err.status) == ("InvalidRange", 416)
    assert err.extra == {"RangeRequested": header, "ActualObjectSize": str(size)}


@given(size=st.integers(0, 10**12), first=st.integers(0, 10**12), length=st.integers(0, 10**12))
def test_explicit_range_model(size, first, length):
    last = first + length
    header = f"bytes={first}-{last}"
    if first >= size:
        with pytest.raises(S3Error):
            parse_range(header, size)
    else:
        start, end = parse_range(header, size)
        assert (start, end) == (first, min(last, size - 1))
        assert content_range(start, end, size) == f"bytes {start}-{end}/{size}"


@given(size=st.integers(0, 10_000), suffix=st.integers(0, 20_000))
def test_suffix_range_matches_slicing(size, suffix):
    header = f"bytes=-{suffix}"
    data = range(size)
    if suffix == 0 or size == 0:
        with pytest.raises(S3Error):
            parse_range(header, size)
        return
    start, end = parse_range(header, size)
    assert list(data[start:end + 1]) == list(data[-suffix:])


def test_content_range_strings():
    assert content_range(5, 5, 6) == "bytes 5-5/6"
    assert unsatisfied_content_range(0) == "bytes */0"


def test_copy_source_range():
    assert parse_copy_source_range("bytes=0-0", 1) == (0, 0)
    assert parse_copy_source_range("bytes=2-9", 10) == (2, 9)
    for bad in ("bytes=-5", "bytes=5-", "bytes=5-4", "bytes=0-1,2-3", "0-4", "bytes=a-b"):
        with pytest.raises(S3Error) as info:
            parse_copy_source_range(bad, 10)
        assert info.value.code == "InvalidArgument"
    with pytest.raises(S3Error) as info:
        parse_copy_source_range("bytes=0-10", 10)
    assert info.value.code == "InvalidArgument" and "size: 10" in info.value.message
