"""The request context handlers receive and the response they return, plus sending it.

Granian sends only bytes/bytearray bodies (a memoryview goes out empty), so every body
piece is checked here, in one place.
"""
from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from .sigv4 import AuthResult


@dataclass
class Request:
    """One S3 request after routing and authentication."""
    scope: dict
    receive: Any
    method: str
    bucket: str
    key: str
    query: dict[str, str]
    headers: dict[str, str]               # lower-case names; repeated headers joined by ","
    request_id: str
    operation: str = ""
    access_key: str = ""
    is_root: bool = False
    auth: AuthResult | None = None
    app: Any = None                       # the worker's AppState (layer, settings, users)
    body_done: list = field(default_factory=list)  # non-empty once the body was read to its end
    status: int = 0                       # the answer, for metrics and the access log
    sent: int = 0                         # response body bytes sent
    error_code: str = ""                  # the S3 error code of a failed request

    @property
    def layer(self):
        return self.app.layer

    @property
    def resource(self) -> str:
        if not self.bucket:
            return "/"
        return f"/{self.bucket}/{self.key}" if self.key else f"/{self.bucket}"


@dataclass
class Response:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | AsyncIterator[bytes] = b""
    length: int | None = None              # Content-Length of a streamed body
    wire: list[tuple[bytes, bytes]] | None = None   # headers already encoded (shared: never changed)

    def header(self, name: str, value: object) -> "Response":
        self.headers.append((name, str(value)))
        return self


def xml(body: bytes, status: int = 200) -> Response:
    return Response(status, [("content-type", "application/xml")], body)


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@functools.lru_cache(maxsize=4096)
def _http_date_of_second(sec: int) -> str:
    t = time.gmtime(sec)
    return (f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon]} {t.tm_year:04d} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT")


def http_date(ts: float) -> str:
    """RFC 7231 IMF-fixdate (what email.utils.formatdate(usegmt=True) gives, ~10x cheaper).

    >>> http_date(0)
    'Thu, 01 Jan 1970 00:00:00 GMT'
    """
    return _http_date_of_second(int(ts // 1))    # objects written in one second share it


def _encode(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:  # user metadata is UTF-8 text; S3 sends it raw as well
        return value.encode("utf-8")


def encode_headers(pairs: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), _encode(value)) for name, value in pairs]


async def send_response(send, resp: Response, request_id: str, head: bool = False) -> int:
    """Send `resp`; returns the number of body bytes sent. A streamed body that fails midway
    raises after the headers went out: the server then drops the connection, and the client
    sees a short body (the Content-Length does not match), never wrong bytes."""
    headers = [(b"x-amz-request-id", request_id.encode()), (b"x-amz-id-2", request_id.encode())]
    headers += encode_headers(resp.headers)
    if resp.wire:
        headers += resp.wire
    body = resp.body
    if isinstance(body, (bytes, bytearray)):
        if resp.status not in (204, 304) and not any(n == "content-length" for n, _ in resp.headers):
            headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": resp.status, "headers": headers})
        payload = b"" if head or resp.status in (204, 304) else bytes(body)
        await send({"type": "http.response.body", "body": payload, "more_body": False})
        return len(payload)
    if resp.length is not None:
        headers.append((b"content-length", str(resp.length).encode()))
    await send({"type": "http.response.start", "status": resp.status, "headers": headers})
    sent = 0
    try:
        if resp.length and not head:     # a body that comes in one piece goes out in one message
            try:
                first = await anext(body)
            except StopAsyncIteration:
                first = b""
            if not isinstance(first, (bytes, bytearray)):
                first = bytes(first)
            if len(first) == resp.length:
                await send({"type": "http.response.body", "body": first, "more_body": False})
                return len(first)
            if first:
                sent += len(first)
                await send({"type": "http.response.body", "body": first, "more_body": True})
        async for piece in body:
            if not isinstance(piece, (bytes, bytearray)):
                piece = bytes(piece)
            if piece:
                sent += len(piece)
                await send({"type": "http.response.body", "body": piece, "more_body": True})
    finally:
        closer = getattr(body, "aclose", None)
        if closer is not None:
            await closer()
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    return sent


def now() -> float:
    return time.time()
