"""A small asyncio HTTP/1.1 keep-alive client that signs S3 requests (SigV4).

Built so the load generator is not the bottleneck:
- one connection per worker task, kept alive;
- responses land through a `BufferedProtocol` in one reusable buffer per connection and
  are counted, not kept, unless the caller asks (error bodies are always kept: they are
  small and name the S3 error);
- a body is sent as a memoryview of a precomputed payload; over plain HTTP with
  `loop.sock_sendall` on a duplicate descriptor of the socket, so nothing is copied in
  user space (TLS writes go through the transport, which copies);
- SigV4 with x-amz-content-sha256 = UNSIGNED-PAYLOAD, so no body is ever hashed here;
  the signing key is derived once per day and the date string once per second.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_NO_BODY_STATUS = (204, 304)


class HTTPError(Exception):
    """The connection broke or the server spoke something that is not HTTP/1.1."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]          # lower-case names; last value wins
    body: bytes                      # empty unless the request asked to keep it
    length: int                      # body bytes received (kept or not)
    ttfb: float                      # seconds from the first byte sent to the first byte back
    latency: float                   # seconds from the first byte sent to the last byte back


def canonical_query(params: dict[str, str] | None) -> str:
    if not params:
        return ""
    return "&".join(f"{quote(k, safe='-_.~')}={quote(str(v), safe='-_.~')}" for k, v in sorted(params.items()))


def object_path(bucket: str, key: str = "") -> str:
    """Path-style request path, already URI-encoded the way SigV4 wants it for S3."""
    path = "/" + quote(bucket, safe="-_.~")
    if key:
        path += "/" + quote(key, safe="/-_.~")
    return path


class Signer:
    """SigV4 Authorization headers for path-style S3 requests with an unsigned payload."""

    def __init__(self, access_key: str, secret_key: str, region: str = "us-east-1", service: str = "s3"):
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.service = service
        self._day = ""
        self._key = b""
        self._second = -1
        self._amz_date = ""

    def _key_for(self, day: str) -> bytes:
        if day != self._day:
            key = hmac.new(("AWS4" + self.secret_key).encode(), day.encode(), hashlib.sha256).digest()
            for part in (self.region, self.service, "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._day, self._key = day, key
        return self._key

    def amz_date(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        second = int(now)
        if second != self._second:
            self._second = second
            self._amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
        return self._amz_date

    def sign(self, method: str, path: str, query: str, host: str, headers: dict[str, str],
             payload: str = UNSIGNED_PAYLOAD, now: float | None = None) -> dict[str, str]:
        """Add host, x-amz-date, x-amz-content-sha256 and authorization to `headers` (lower-case
        names) and return it. `path` and `query` must already be canonical (see helpers above)."""
        amz_date = self.amz_date(now)
        day = amz_date[:8]
        headers["host"] = host
        headers["x-amz-date"] = amz_date
        headers["x-amz-content-sha256"] = payload
        names = sorted(headers)
        signed = ";".join(names)
        canonical = "\n".join((method, path, query, "".join(f"{n}:{headers[n].strip()}\n" for n in names),
                               signed, payload))
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.digest(self._key_for(day), to_sign.encode(), "sha256").hex()
        headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
                                    f"SignedHeaders={signed}, Signature={signature}")
        return headers


class Endpoint:
    """Where requests go: scheme, host and port, plus the TLS context for https."""

    def __init__(self, url: str, insecure: bool = False):
        parts = urlsplit(url if "://" in url else "http://" + url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"endpoint must be http:// or https://, got {url!r}")
        self.url = f"{parts.scheme}://{parts.netloc}"
        self.tls = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.tls else 80)
        self.netloc = parts.netloc
        self.ssl_context: ssl.SSLContext | None = None
        if self.tls:
            self.ssl_context = ssl.create_default_context()
            if insecure:
                self.ssl_context.check_hostname = False
                self.ssl_context.verify_mode = ssl.CERT_NONE


class _Reader(asyncio.BufferedProtocol):
    """Lands received bytes straight in the connection's buffer (no intermediate copies) and
    wakes the one coroutine waiting for them. The socket stays registered with the event
    loop for the connection's life, so a request costs no epoll_ctl calls."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def get_buffer(self, sizehint: int):
        c = self.conn
        return c.view[c._pos + c._have:]

    def buffer_updated(self, nbytes: int) -> None:
        c = self.conn
        if c._proto is not self:      # a connection this one replaced
            return
        c._have += nbytes
        if c._pos + c._have >= len(c.buf) - 4096:     # nearly full: wait until the reader consumes
            self.transport.pause_reading()
            c._paused = True
        c._wake(nbytes)

    def eof_received(self) -> bool:
        if self.conn._proto is self:
            self.conn._eof = True
            self.conn._wake(0)
        return False

    def connection_lost(self, exc) -> None:
        c = self.conn
        if c._proto is not self:
            return
        c._eof = True
        c._lost = exc or True
        c._wake(0)
        c._wake_writer()

    def pause_writing(self) -> None:
        if self.conn._proto is self:
            self.conn._write_paused = True

    def resume_writing(self) -> None:
        if self.conn._proto is self:
            self.conn._write_paused = False
            self.conn._wake_writer()


class Connection:
    """One keep-alive HTTP/1.1 connection; one request at a time.

    Reads go through a `_Reader` protocol into `buf`. Plain-HTTP bodies are sent with
    `loop.sock_sendall` on a duplicate of the socket's descriptor, so a large body is sent
    straight from the caller's memoryview (an asyncio transport would copy what the socket
    does not take at once); TLS writes go through the transport.
    """

    def __init__(self, endpoint: Endpoint, signer: Signer, buffer_size: int = 256 * 1024):
        self.endpoint = endpoint
        self.signer = signer
        self.buf = bytearray(buffer_size)
        self.view = memoryview(self.buf)
        self.loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._proto: _Reader | None = None
        self._wsock: socket.socket | None = None
        self._have = 0          # bytes in buf not yet consumed (they start at self._pos)
        self._pos = 0
        self._eof = False
        self._lost = None
        self._paused = False
        self._write_paused = False
        self._waiter: asyncio.Future | None = None
        self._write_waiter: asyncio.Future | None = None
        self.opened = 0         # connections made (1 = never reconnected)

    @property
    def connected(self) -> bool:
        return self._transport is not None and not self._lost and not self._eof

    async def _connect(self) -> None:
        ep = self.endpoint
        self._have = self._pos = 0
        self._eof, self._lost, self._paused, self._write_paused = False, None, False, False
        proto = self._proto = _Reader(self)
        if ep.tls:
            transport, _ = await self.loop.create_connection(lambda: proto, ep.host, ep.port, ssl=ep.ssl_context)
        else:
            transport, _ = await self.loop.create_connection(lambda: proto, ep.host, ep.port)
            sock = transport.get_extra_info("socket")
            self._wsock = socket.socket(fileno=os.dup(sock.fileno()))
            self._wsock.setblocking(False)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._transport = transport
        self.opened += 1

    def close(self) -> None:
        if self._wsock is not None:
            self._wsock.close()
        if self._transport is not None:
            self._transport.abort()
        self._wsock = self._transport = self._proto = None
        self._have = self._pos = 0

    def _wake(self, n: int) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(n)

    def _wake_writer(self) -> None:
        w = self._write_waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def _send(self, head: bytes, body) -> None:
        if self._wsock is not None:
            if body is not None and len(body) <= 65536:
                await self.loop.sock_sendall(self._wsock, head + bytes(body))
                return
            await self.loop.sock_sendall(self._wsock, head)
            if body is not None:
                await self.loop.sock_sendall(self._wsock, body)
            return
        self._transport.write(head)
        if body is not None:
            view = memoryview(body)
            for off in range(0, len(view), 1 << 20):       # bounded copies into the TLS transport
                self._transport.write(view[off:off + (1 << 20)])
                while self._write_paused and not self._lost:
                    self._write_waiter = self.loop.create_future()
                    await self._write_waiter
                if self._lost:
                    raise ConnectionResetError("connection lost while sending")

    async def _fill(self) -> int:
        """Wait for more bytes after the unconsumed ones; return how many arrived (0: EOF)."""
        if self._have == 0:
            self._pos = 0
        elif self._pos + self._have >= len(self.buf) - 4096:     # compact the tail to the front
            self.buf[:self._have] = self.buf[self._pos:self._pos + self._have]
            self._pos = 0
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        if self._eof:
            if isinstance(self._lost, BaseException):
                raise ConnectionResetError(str(self._lost))
            return 0
        self._waiter = self.loop.create_future()
        try:
            n = await self._waiter
        finally:
            self._waiter = None
        if n == 0 and isinstance(self._lost, BaseException):
            raise ConnectionResetError(str(self._lost))
        return n

    async def request(self, method: str, path: str, params: dict[str, str] | None = None,
                      body=None, headers: dict[str, str] | None = None, keep_body: bool = False) -> Response:
        """Send one signed request and read its whole response (reconnecting once if a kept-alive
        connection turns out to be closed before any response byte)."""
        query = canonical_query(params)
        hdrs = dict(headers) if headers else {}
        if body is not None or method in ("PUT", "POST"):
            hdrs["content-length"] = str(len(body) if body is not None else 0)
        self.signer.sign(method, path, query, self.endpoint.netloc, hdrs)
        target = f"{path}?{query}" if query else path
        head = (f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
                + "\r\n").encode("latin-1")
        for attempt in (0, 1):
            fresh = not self.connected
            if fresh:
                self.close()
                await self._connect()
            t0 = time.perf_counter()
            try:
                try:
                    await self._send(head, body)
                except OSError as exc:        # a kept-alive connection the server had closed
                    exc.before_response = True
                    raise
                return await self._response(method, t0, keep_body)
            except (ConnectionError, HTTPError, OSError) as exc:
                self.close()
                if fresh or attempt or not getattr(exc, "before_response", False):
                    raise HTTPError(f"{method} {path}: {exc or type(exc).__name__}") from exc
        raise AssertionError("not reached")

    async def _response(self, method: str, t0: float, keep_body: bool) -> Response:
        ttfb = 0.0
        # head
        while True:
            end = self.buf.find(b"\r\n\r\n", self._pos, self._pos + self._have)
            if end >= 0:
                break
            if self._have >= len(self.buf) - 4096:
                raise HTTPError("response head too large")
            try:
                n = await self._fill()
            except (ConnectionError, OSError) as exc:
                if not ttfb:
                    exc.before_response = True
                raise
            if n == 0:
                exc = HTTPError("connection closed by the server")
                exc.before_response = not ttfb
                raise exc
            if not ttfb:
                ttfb = time.perf_counter() - t0
        lines = bytes(self.buf[self._pos:end]).decode("latin-1").split("\r\n")
        consumed = end + 4 - self._pos
        self._pos += consumed
        self._have -= consumed
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise HTTPError(f"not an HTTP/1.x response: {lines[0][:80]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        kept = bytearray() if keep_body or status >= 300 else None  # error bodies are small: keep them
        if method == "HEAD" or status in _NO_BODY_STATUS or 100 <= status < 200:
            length = 0
        elif headers.get("transfer-encoding", "").lower().endswith("chunked"):
            length = await self._chunked(kept)
        elif "content-length" in headers:
            length = int(headers["content-length"])
            await self._exactly(length, kept)
        else:  # body until close
            length = await self._until_close(kept)
        latency = time.perf_counter() - t0
        if headers.get("connection", "").lower() == "close" or parts[0] == "HTTP/1.0":
            self.close()
        return Response(status, headers, bytes(kept) if kept is not None else b"", length, ttfb, latency)

    async def _exactly(self, n: int, kept: bytearray | None) -> None:
        while n:
            if not self._have and not await self._fill():
                raise HTTPError(f"connection closed with {n} body bytes missing")
            take = min(n, self._have)
            if kept is not None:
                kept += self.view[self._pos:self._pos + take]
            self._pos += take
            self._have -= take
            n -= take

    async def _line(self) -> bytes:
        while True:
            end = self.buf.find(b"\r\n", self._pos, self._pos + self._have)
            if end >= 0:
                line = bytes(self.buf[self._pos:end])
                used = end + 2 - self._pos
                self._pos += used
                self._have -= used
                return line
            if self._have >= len(self.buf) - 4096:
                raise HTTPError("chunk line too long")
            if not await self._fill():
                raise HTTPError("connection closed inside a chunked body")

    async def _chunked(self, kept: bytearray | None) -> int:
        total = 0
        while True:
            size = int((await self._line()).split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while await self._line():      # trailers, then the empty line
                    pass
                return total
            await self._exactly(size, kept)
            total += size
            if await self._line():
                raise HTTPError("chunk not followed by CRLF")

    async def _until_close(self, kept: bytearray | None) -> int:
        total = 0
        while True:
            if self._have:
                if kept is not None:
                    kept += self.view[self._pos:self._pos + self._have]
                total += self._have
                self._pos += self._have
                self._have = 0
            if not await self._fill():
                self.close()
                return total
