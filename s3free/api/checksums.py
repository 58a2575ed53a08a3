"""x-amz-checksum-* (CRC32, CRC32C, CRC64NVME, SHA1, SHA256), sans-IO.

A client announces at most one checksum for a body: as a header with its value, or as a
trailer (x-amz-trailer) whose value arrives after an aws-chunked body. We hash the body
as it streams and compare at the end: a wrong value is BadDigest, a malformed one
InvalidRequest. The value is stored with the object and returned on GET/HEAD when the
client sends x-amz-checksum-mode: ENABLED.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping

from s3free import native

from .errors import S3Error

# name -> digest length in bytes
ALGORITHMS = {"crc32": 4, "crc32c": 4, "crc64nvme": 8, "sha1": 20, "sha256": 32}
_CRC = {"crc32": native.crc32, "crc32c": native.crc32c, "crc64nvme": native.crc64nvme}
# the element names S3 uses in XML (CompleteMultipartUpload, GetObjectAttributes)
XML_NAMES = {"crc32": "ChecksumCRC32", "crc32c": "ChecksumCRC32C", "crc64nvme": "ChecksumCRC64NVME",
             "sha1": "ChecksumSHA1", "sha256": "ChecksumSHA256"}


class Checksum:
    """A streaming checksum of one algorithm; `update` accepts any bytes-like object."""

    __slots__ = ("name", "_crc", "_value", "_hash")

    def __init__(self, name: str) -> None:
        if name not in ALGORITHMS:
            raise ValueError(name)
        self.name = name
        self._crc = _CRC.get(name)
        self._value = 0
        self._hash = None if self._crc else hashlib.new(name)

    def update(self, data) -> None:
        if self._crc is not None:
            self._value = self._crc(data, self._value)
        else:
            self._hash.update(data)

    def digest(self) -> bytes:
        if self._crc is not None:
            return self._value.to_bytes(ALGORITHMS[self.name], "big")
        return self._hash.digest()

    def b64(self) -> str:
        return base64.b64encode(self.digest()).decode("ascii")


def header_name(name: str) -> str:
    return f"x-amz-checksum-{name}"


class ChecksumPlan:
    """What a request asked for: the algorithm, and its value if it came as a header.

    `expected` is None for a trailer checksum until `set_trailer` gives the value.
    """

    def __init__(self, name: str, expected: str | None, trailer: bool) -> None:
        self.name = name
        self.expected = expected
        self.trailer = trailer
        self.hasher = Checksum(name)

    def set_trailers(self, trailers: Mapping[str, str]) -> None:
        if self.trailer:
            value = trailers.get(header_name(self.name))
            if value is None:
                raise S3Error("MalformedTrailerError", f"The trailer {header_name(self.name)} is missing.")
            self.expected = _check_value(self.name, value)

    def verify(self) -> str:
        """The computed value (base64); raise BadDigest if it differs from the client's."""
        got = self.hasher.b64()
        if self.expected is not None and got != self.expected:
            raise S3Error("BadDigest", f"The {self.name.upper()} you specified did not match the calculated "
                          "checksum.")
        return got


def plan(headers: Mapping[str, str]) -> ChecksumPlan | None:
    """The checksum a request announces (headers are lower-case names), or None."""
    given = [n for n in ALGORITHMS if header_name(n) in headers]
    trailer = headers.get("x-amz-trailer", "").strip().lower()
    if len(given) > 1:
        raise S3Error("InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are "
                      "not allowed.")
    if trailer:
        names = [t.strip() for t in trailer.split(",") if t.strip()]
        algos = [t[len("x-amz-checksum-"):] for t in names if t.startswith("x-amz-checksum-")]
        if len(algos) != len(names) or len(algos) != 1 or algos[0] not in ALGORITHMS:
            raise S3Error("InvalidRequest", f"The value specified in the x-amz-trailer header is not supported: "
                          f"{trailer}")
        if given:
            raise S3Error("InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types "
                          "are not allowed.")
        return ChecksumPlan(algos[0], None, True)
    if given:
        name = given[0]
        return ChecksumPlan(name, _check_value(name, headers[header_name(name)]), False)
    algo = headers.get("x-amz-sdk-checksum-algorithm", "").strip().lower()
    if algo:
        if algo not in ALGORITHMS:
            raise S3Error("InvalidRequest", f"Checksum algorithm provided is unsupported: {algo.upper()}")
        # announced without a value (e.g. on CreateMultipartUpload): compute it, verify nothing
        return ChecksumPlan(algo, None, False)
    return None


def _check_value(name: str, value: str) -> str:
    value = value.strip()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != ALGORITHMS[name]:
        raise S3Error("InvalidRequest", f"Value for {header_name(name)} header is invalid.")
    return value


def content_md5(value: str) -> bytes:
    """Decode a Content-MD5 header; a malformed one is InvalidDigest."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 16:
        raise S3Error("InvalidDigest")
    return raw
