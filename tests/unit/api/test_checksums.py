import base64
import hashlib
import zlib

import pytest

from s3free.api import checksums
from s3free.api.errors import S3Error


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_streaming_values_match_references():
    data = b"hello world" * 1000
    for name, ref in [("crc32", zlib.crc32(data).to_bytes(4, "big")), ("sha1", hashlib.sha1(data).digest()),
                      ("sha256", hashlib.sha256(data).digest())]:
        c = checksums.Checksum(name)
        c.update(data[:7])
        c.update(memoryview(data)[7:])
        assert c.digest() == ref


def test_plan_header_and_trailer():
    value = b64(zlib.crc32(b"abc").to_bytes(4, "big"))
    p = checksums.plan({"x-amz-checksum-crc32": value})
    p.hasher.update(b"abc")
    assert p.verify() == value
    p = checksums.plan({"x-amz-checksum-crc32": value})
    p.hasher.update(b"abd")
    with pytest.raises(S3Error) as exc:
        p.verify()
    assert exc.value.code == "BadDigest"
    t = checksums.plan({"x-amz-trailer": "x-amz-checksum-sha256"})
    t.hasher.update(b"x")
    t.set_trailers({"x-amz-checksum-sha256": b64(hashlib.sha256(b"x").digest())})
    t.verify()


def test_plan_refuses_bad_input():
    for headers in ({"x-amz-checksum-crc32": "zz"}, {"x-amz-checksum-crc32": "AAAAAA==", "x-amz-checksum-sha1": "x"},
                    {"x-amz-trailer": "x-amz-checksum-md5"}, {"x-amz-sdk-checksum-algorithm": "MD5"}):
        with pytest.raises(S3Error) as exc:
            checksums.plan(headers)
        assert exc.value.code == "InvalidRequest"
    with pytest.raises(S3Error) as exc:
        checksums.content_md5("short")
    assert exc.value.code == "InvalidDigest"
