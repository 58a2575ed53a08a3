"""The raw Granian ceiling: an ASGI app that does no storage work at all.

PUT sinks the request body and answers 200 with an ETag; GET streams preallocated bytes
(the size from `?size=N`, else $S3FREE_CEILING_SIZE, default 1 MiB); HEAD answers with that
Content-Length; DELETE answers 204. Just enough S3 shape (bucket PUT/DELETE, an empty
ListObjectsV2, an empty DeleteObjects result) that `s3free bench` runs against it unchanged,
set-up and clean-up included. Authentication is ignored.

    S3FREE_CEILING_SIZE=67108864 python -m granian --interface asgi --app-dir perf ceiling_app:app

perf/run.py serves it with exactly the Granian command line `s3free server` uses.
"""
from __future__ import annotations

import os
from urllib.parse import parse_qs

CHUNK = 1 << 20
_BLOCK = os.urandom(CHUNK)
_TAILS: dict[int, bytes] = {}
_DEFAULT_SIZE = int(os.environ.get("S3FREE_CEILING_SIZE", str(1 << 20)))
_ETAG = b'"d41d8cd98f00b204e9800998ecf8427e"'
_LIST = (b'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/'
         b'2006-03-01/"><Name>ceiling</Name><Prefix></Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys>'
         b'<IsTruncated>false</IsTruncated></ListBucketResult>')
_DELETE_RESULT = b'<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult></DeleteResult>'


def _tail(n: int) -> bytes:
    """The last, partial chunk of a body (made once per length, then reused)."""
    tail = _TAILS.get(n)
    if tail is None:
        tail = _TAILS[n] = _BLOCK[:n]
    return tail


def _size(query: bytes) -> int:
    if b"size=" in query:
        values = parse_qs(query.decode("latin-1")).get("size")
        if values and values[0].isdigit():
            return int(values[0])
    return _DEFAULT_SIZE


async def _sink(receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _reply(send, status: int, body: bytes = b"", headers: list | None = None) -> None:
    hdrs = [(b"content-length", str(len(body)).encode())] + (headers or [])
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": body})


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    method = scope["method"]
    query = scope.get("query_string", b"")
    path = scope["path"]
    is_bucket = path.strip("/").count("/") == 0
    if method in ("PUT", "POST"):
        await _sink(receive)
        if method == "POST" and b"delete" in query:
            return await _reply(send, 200, _DELETE_RESULT, [(b"content-type", b"application/xml")])
        return await _reply(send, 200, b"", [] if is_bucket else [(b"etag", _ETAG)])
    if method == "DELETE":
        return await _reply(send, 204)
    if method == "GET" and is_bucket:
        return await _reply(send, 200, _LIST, [(b"content-type", b"application/xml")])
    size = _size(query)
    headers = [(b"content-length", str(size).encode()), (b"etag", _ETAG),
               (b"content-type", b"application/octet-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    if method == "HEAD":
        await send({"type": "http.response.body", "body": b""})
        return
    left = size
    while left > CHUNK:
        await send({"type": "http.response.body", "body": _BLOCK, "more_body": True})
        left -= CHUNK
    await send({"type": "http.response.body", "body": _tail(left)})
