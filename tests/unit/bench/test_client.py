"""s3free.bench.client: its SigV4 signatures pass our verifier; its HTTP/1.1 reader handles
Content-Length, chunked, HEAD, close-delimited bodies, keep-alive and stale connections."""
from __future__ import annotations

import asyncio
import time

import pytest

from s3free.api import sigv4
from s3free.bench.client import Connection, Endpoint, HTTPError, Signer, canonical_query, object_path


@pytest.mark.parametrize("method,bucket,key,params", [
    ("PUT", "bench", "a/b c+d~é.bin", None),
    ("GET", "bench", "", {"list-type": "2", "prefix": "bench-x/", "continuation-token": "a b/c=="}),
    ("POST", "bench", "k", {"uploads": ""}),
    ("DELETE", "bench", "k", {"uploadId": "u-1", "partNumber": "3"}),
])
def test_signature_verifies_with_unsigned_payload(method, bucket, key, params):
    signer = Signer("AKIDBENCH", "bench-secret-123")
    path, query = object_path(bucket, key), canonical_query(params)
    now = time.time()
    headers = signer.sign(method, path, query, "127.0.0.1:9000", {"content-length": "5"}, now=now)
    assert headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    result = sigv4.verify_request(method, path, query, list(headers.items()), now,
                                  {"AKIDBENCH": "bench-secret-123"}.get)
    assert result.access_key == "AKIDBENCH" and result.payload == "UNSIGNED-PAYLOAD"
    assert "content-length" in result.signed_headers


def test_wrong_secret_fails_verification():
    signer = Signer("AKIDBENCH", "not-the-secret")
    headers = signer.sign("GET", "/b/k", "", "h", {})
    with pytest.raises(sigv4.S3Error):
        sigv4.verify_request("GET", "/b/k", "", list(headers.items()), time.time(), {"AKIDBENCH": "secret"}.get)


class Scripted:
    """A local server answering each request with the next scripted raw response."""

    def __init__(self, responses: list[bytes], close_after: int | None = None):
        self.responses = list(responses)
        self.requests: list[bytes] = []
        self.close_after = close_after
        self.connections = 0

    async def handle(self, reader, writer):
        self.connections += 1
        served = 0
        try:
            while self.responses:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                writer.write(self.responses.pop(0))
                await writer.drain()
                served += 1
                if self.close_after is not None and served >= self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


async def _with_server(script: Scripted, fn):
    server = await asyncio.start_server(script.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        conn = Connection(Endpoint(f"http://127.0.0.1:{port}"), Signer("a", "b"), buffer_size=16384)
        try:
            return await fn(conn)
        finally:
            conn.close()
    finally:
        server.close()
        await server.wait_closed()


def test_reads_lengths_chunks_head_and_keeps_alive():
    big = bytes(range(256)) * 200          # 51,200 bytes: several buffer fills
    script = Scripted([
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nETag: \"x\"\r\n\r\n" % len(big) + big,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n",          # HEAD: no body follows
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 40\r\n\r\n<Error><Code>NoSuchKey</Code></Error>\n\n\n",
    ])

    async def go(conn):
        r1 = await conn.request("PUT", "/b/k", body=memoryview(b"12345"))
        r2 = await conn.request("GET", "/b/k", keep_body=True)
        r3 = await conn.request("HEAD", "/b/k")
        r4 = await conn.request("DELETE", "/b/k")
        r5 = await conn.request("GET", "/b/missing")
        return r1, r2, r3, r4, r5
    r1, r2, r3, r4, r5 = asyncio.run(_with_server(script, go))
    assert (r1.status, r1.length, r1.body, r1.headers["etag"]) == (200, len(big), b"", '"x"')
    assert (r2.length, r2.body) == (11, b"hello world")
    assert (r3.status, r3.length, r4.status, r4.length) == (200, 0, 204, 0)
    assert r5.status == 404 and b"NoSuchKey" in r5.body        # error bodies are always kept
    assert script.connections == 1                               # one kept-alive connection
    assert script.requests[0].endswith(b"\r\n\r\n12345") and b"content-length: 5" in script.requests[0]
    assert 0 < r1.ttfb <= r1.latency


def test_reconnects_when_the_server_closed_an_idle_connection():
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    script = Scripted([ok, ok], close_after=1)

    async def go(conn):
        a = await conn.request("GET", "/b/1")
        await asyncio.sleep(0.05)
        b = await conn.request("GET", "/b/2")
        return a, b, conn.opened
    a, b, opened = asyncio.run(_with_server(script, go))
    assert (a.status, b.status, opened) == (200, 200, 2)


def test_body_until_close_and_truncation():
    script = Scripted([b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabcdef"], close_after=1)
    r = asyncio.run(_with_server(script, lambda c: c.request("GET", "/b/k", keep_body=True)))
    assert r.body == b"abcdef"
    script = Scripted([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"], close_after=1)
    with pytest.raises(HTTPError):
        asyncio.run(_with_server(script, lambda c: c.request("GET", "/b/k")))
