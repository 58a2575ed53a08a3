"""Reading a request body from ASGI `receive`, with everything S3 layers on top of it.

The body may be plain (Content-Length, or chunked transfer coding with no length) or
aws-chunked (decoded by `chunked.AwsChunkedDecoder`, which checks chunk signatures as it
goes). What the client claimed about the payload — x-amz-content-sha256 as a hex digest,
an x-amz-checksum-* header or trailer, Content-MD5 — is checked by hashers fed the same
bytes; the object layer feeds them off the event loop for object bodies (`hashers()`),
and calls `verify()` after the last byte and before the index commit, so a body that
fails a check never becomes visible. Expect: 100-continue is answered by Granian itself
when the app first calls `receive()`.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

from s3free.native import MD5

from . import checksums
from .chunked import AwsChunkedDecoder
from .errors import S3Error
from .numbers import decimal
from .sigv4 import AuthResult

Receive = Callable[[], Awaitable[dict]]


class ClientDisconnected(Exception):
    """The client went away mid-request; there is no one left to answer."""


class Body:
    """One request's body. Iterate `chunks()` once (or call `read_all()`), then `verify()`."""

    def __init__(self, receive: Receive, headers: Mapping[str, str], auth: AuthResult | None,
                 *, require_length: bool = False) -> None:
        self._receive = receive
        self.length = _content_length(headers)
        chunked_te = "chunked" in headers.get("transfer-encoding", "").lower()
        if require_length and self.length is None and not chunked_te:
            raise S3Error("MissingContentLength")
        self._decoder = None
        self.decoded_length: int | None = None
        if auth is not None and auth.streaming:
            decoded = headers.get("x-amz-decoded-content-length")
            if decoded is not None:
                self.decoded_length = decimal(decoded.strip())
                if self.decoded_length is None:
                    raise S3Error("InvalidArgument", "x-amz-decoded-content-length must be a number",
                                  ArgumentName="x-amz-decoded-content-length", ArgumentValue=decoded)
            trailer = headers.get("x-amz-trailer", "")
            self._decoder = AwsChunkedDecoder(auth.payload, auth, [t for t in trailer.split(",") if t.strip()],
                                              decoded_length=self.decoded_length)
        elif "aws-chunked" in headers.get("content-encoding", "").lower():
            raise S3Error("InvalidArgument", "Content-Encoding aws-chunked needs a STREAMING-* x-amz-content-sha256",
                          ArgumentName="x-amz-content-sha256")
        self._payload = auth.payload_hasher() if auth is not None else None
        self.checksum = checksums.plan(headers)
        md5 = headers.get("content-md5")
        self._md5_expected = checksums.content_md5(md5) if md5 is not None else None
        self._md5 = MD5() if md5 is not None else None     # the object layer takes it as the ETag's
        self.received = 0
        self._consumed = False

    @property
    def size_hint(self) -> int | None:
        """The payload size if the client declared it (a decoded length is never more
        than the bytes on the wire)."""
        if self._decoder is None:
            return self.length
        if self.decoded_length is not None and self.length is not None:
            return min(self.decoded_length, self.length)
        return self.decoded_length

    def hashers(self) -> list:
        """Objects whose `update()` must see every payload byte before `verify()`."""
        hs = [self._payload, self._md5, self.checksum.hasher if self.checksum else None]
        return [h for h in hs if h is not None]

    async def chunks(self) -> AsyncIterator[bytes]:
        """The payload (decoded), as it arrives. Raises S3Error or ClientDisconnected."""
        if self._consumed:
            raise RuntimeError("request body already consumed")
        self._consumed = True
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected()
            data = message.get("body", b"")
            more = message.get("more_body", False)
            if data:
                self.received += len(data)
                if self.length is not None and self.received > self.length:
                    raise S3Error("IncompleteBody", "The body is longer than Content-Length.")
                if self._decoder is None:
                    yield bytes(data) if not isinstance(data, bytes) else data
                else:
                    for piece in self._decoder.feed(data):
                        yield piece
            if not more:
                break
        if self.length is not None and self.received < self.length:
            raise S3Error("IncompleteBody")
        if self._decoder is not None:
            trailers = self._decoder.finish()
            if self.checksum is not None:
                self.checksum.set_trailers(trailers)
        elif self.checksum is not None and self.checksum.trailer:
            raise S3Error("InvalidRequest", "x-amz-trailer needs an aws-chunked body")

    async def read_all(self, limit: int) -> bytes:
        """The whole (small) body, verified; for XML request documents."""
        buf = bytearray()
        async for piece in self.chunks():
            buf += piece
            if len(buf) > limit:
                raise S3Error("MaxMessageLengthExceeded", f"Your request was too big (limit {limit} bytes).")
        data = bytes(buf)
        for h in self.hashers():
            h.update(data)
        self.verify()
        return data

    def verify(self) -> dict[str, str]:
        """Check every claim about the payload; return {algorithm: base64 value} of its checksum."""
        if self._payload is not None:
            self._payload.finish()
        if self._md5 is not None and self._md5.digest() != self._md5_expected:
            raise S3Error("BadDigest")
        if self.checksum is not None:
            return {self.checksum.name: self.checksum.verify()}
        return {}


async def drain(receive: Receive, limit: int = 1 << 20) -> None:
    """Read and drop a small body (so keep-alive stays usable); stop at `limit`."""
    seen = 0
    while seen <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def _content_length(headers: Mapping[str, str]) -> int | None:
    value = headers.get("content-length")
    if value is None:
        return None
    length = decimal(value.strip())
    if length is None:
        raise S3Error("InvalidArgument", "Content-Length is not a number", ArgumentName="Content-Length",
                      ArgumentValue=value)
    return length
