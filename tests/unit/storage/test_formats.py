"""BeeXL headers/footers and segment records: round trips, and fuzzed bytes never raise
anything but the format's own error."""
import uuid

import pytest
from hypothesis import given, settings, strategies as st

from s3free.storage import beexl, records


def _header():
    return beexl.ShardHeader(6, 3, 4, 176128, 12345, 180224, 1, 2, uuid.uuid4(), uuid.uuid4(), (99, 7),
                             {"b": "bkt", "k": "é/key", "size": 12345})


def test_header_footer_roundtrip():
    h = _header()
    raw = h.encode()
    assert len(raw) % 4096 == 0
    assert beexl.parse_header(raw) == h
    f = beexl.ShardFooter(3, 180224, 1, b"\x11" * 32)
    assert beexl.parse_footer(f.encode()) == f
    with pytest.raises(ValueError):
        h.encode(header_len=4096 * 0 + 10)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_header_parser_fuzz(data):
    raw = bytearray(_header().encode())
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    try:
        beexl.parse_header(bytes(raw[:cut]))
    except beexl.FormatError:
        pass


@given(st.binary(max_size=5000))
def test_footer_and_header_reject_garbage(blob):
    for parse in (beexl.parse_header, beexl.parse_footer):
        try:
            parse(blob)
        except beexl.FormatError:
            pass


def test_record_roundtrip_and_damage():
    meta = records.pack_meta({"b": "x", "k": "y"})
    raw = records.encode(records.DATA, 2, 6, 3, (5, 6), meta, b"shard-bytes")
    rec = records.parse(raw)
    assert (rec.type, rec.shard, rec.stamp, rec.meta, rec.body) == (records.DATA, 2, (5, 6), {"b": "x", "k": "y"},
                                                                     b"shard-bytes")
    bad = bytearray(raw)
    bad[-1] ^= 1
    with pytest.raises(records.RecordError, match="body"):
        records.parse(bytes(bad))
    bad = bytearray(raw)
    bad[45] ^= 1
    with pytest.raises(records.RecordError, match="head"):
        records.parse(bytes(bad))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.data())
def test_record_parser_fuzz(blob, data):
    raw = bytearray(records.encode(records.OBJECT, 0, 2, 1, (1, 2), records.pack_meta({"a": 1}), b""))
    raw[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
    for candidate in (bytes(raw), blob):
        try:
            records.parse(candidate)
        except records.RecordError:
            pass
