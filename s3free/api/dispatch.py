"""One HTTP request, start to end: route, authenticate, run the handler, answer.

Every answer carries x-amz-request-id; every failure is S3 XML. Client mistakes are 4xx
S3Errors; anything unexpected is logged with the request id and answered InternalError.
"""
from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import logging
import os
import time

from s3free.objects.errors import ObjectError
from s3free.obs.logging import write_access

from . import auth, router
from .body import ClientDisconnected, drain
from .errors import S3Error, error_xml
from .handlers import bucket, multipart, object, service
from .http import Request, Response, send_response
from .translate import to_s3

log = logging.getLogger("s3free.api")
access_log = logging.getLogger("s3free.access")

HANDLERS = {
    "ListBuckets": service.list_buckets,
    "CreateBucket": bucket.create_bucket,
    "HeadBucket": bucket.head_bucket,
    "DeleteBucket": bucket.delete_bucket,
    "GetBucketLocation": bucket.get_location,
    "ListObjects": bucket.list_objects,
    "ListObjectsV2": bucket.list_objects_v2,
    "ListObjectVersions": bucket.list_object_versions,
    "ListMultipartUploads": bucket.list_uploads,
    "DeleteObjects": bucket.delete_objects,
    "PutObject": object.put_object,
    "GetObject": object.get_object,
    "HeadObject": object.head_object,
    "DeleteObject": object.delete_object,
    "CopyObject": object.copy_object,
    "CreateMultipartUpload": multipart.create,
    "UploadPart": multipart.upload_part,
    "UploadPartCopy": multipart.upload_part_copy,
    "ListParts": multipart.list_parts,
    "CompleteMultipartUpload": multipart.complete,
    "AbortMultipartUpload": multipart.abort,
}

HEALTH_PREFIX = "/_s3free/"


def _fresh_ids() -> None:
    global _id_prefix, _id_counter
    _id_prefix = os.urandom(4).hex().upper()
    _id_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))


_fresh_ids()
os.register_at_fork(after_in_child=_fresh_ids)      # every worker its own prefix


def new_request_id() -> str:
    """16 hex digits like S3's: a random prefix per process and a counter (no
    getrandom(2) per request)."""
    return f"{_id_prefix}{next(_id_counter) & 0xFFFFFFFF:08X}"


def _headers(pairs: list[tuple[bytes, bytes]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in pairs:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        out[key] = f"{out[key]},{text}" if key in out else text
    return out


def _decode_meta(headers: dict[str, str]) -> dict[str, str]:
    """x-amz-meta-* values arrive as UTF-8 bytes (read above as latin-1): take them as text."""
    for name, value in headers.items():
        if name.startswith("x-amz-meta-") and not value.isascii():
            try:
                headers[name] = value.encode("latin-1").decode("utf-8")
            except UnicodeDecodeError:
                pass
    return headers


async def handle(state, scope: dict, receive, send) -> None:
    """Serve one request and account for it: metrics, one access-log line."""
    metrics = getattr(state, "metrics", None)
    if metrics is None:
        await _handle(state, scope, receive, send, time.monotonic(), [0])
        return
    metrics.begin()
    started, received = time.monotonic(), [0]
    try:
        req = await _handle(state, scope, receive, send, started, received)
    finally:
        metrics.end()
    if req is not None:
        metrics.observe(req.operation or "Unknown", req.status, time.monotonic() - started, received[0], req.sent)
        metrics.sync_damage(state.layer)


async def _handle(state, scope: dict, receive, send, started: float, received: list[int]) -> Request | None:
    request_id = new_request_id()
    method = scope["method"]
    raw_headers = scope.get("headers", [])
    headers = _headers(raw_headers)
    done = []

    idle = state.settings.body_idle_timeout

    async def tracked_receive() -> dict:  # counts body bytes, remembers when the body has ended
        if idle > 0 and not done:        # a body that stalls fails (after it: waiting for a disconnect)
            try:
                async with asyncio.timeout(idle):
                    message = await receive()
            except TimeoutError:
                raise S3Error("RequestTimeout") from None
        else:
            message = await receive()
        received[0] += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            done.append(True)
        return message

    req = Request(scope, tracked_receive, method, "", "", {}, headers, request_id, app=state)
    req.body_done = done
    path = scope.get("path", "/")
    if path.startswith(HEALTH_PREFIX):
        resp = admin_endpoint(state, path, headers)
        req.operation = "Metrics" if path == METRICS_PATH else "Health"
        req.status = resp.status
        req.sent = await send_response(send, resp, request_id, head=method == "HEAD")
        return req
    sent = 0
    try:
        target = router.route(scope.get("raw_path") or path.encode(), headers.get("host", ""),
                              state.settings.domain)
        req.bucket, req.key = target.bucket, target.key
        req.query = router.parse_query(scope.get("query_string", b""))
        try:    # named before authentication, so refused requests count under their API too
            req.operation = router.operation(method, target, req.query, headers)
            refused = None
        except S3Error as exc:
            refused = exc
        result = auth.authenticate(state.users, scope, raw_headers)
        req.auth, req.access_key = result, result.access_key
        req.is_root = result.access_key == state.users.root
        if refused is not None:     # authenticated callers learn why the request is not an operation
            raise refused
        _decode_meta(headers)
        handler = HANDLERS.get(req.operation)
        if handler is None:
            raise S3Error("NotImplemented", f"{req.operation} is not implemented by s3free.",
                          Operation=req.operation)
        resp = await handler(req)
    except ClientDisconnected:
        _log(req, 499, 0, started, received[0])
        req.status, req.sent = 499, 0
        return req
    except S3Error as exc:
        resp = await _error(req, exc)
    except ObjectError as exc:
        resp = await _error(req, to_s3(exc))
    except Exception:
        log.exception("request %s (%s %s) failed", request_id, method, req.resource)
        resp = await _error(req, S3Error("InternalError"))
    req.status = resp.status
    try:
        sent = await send_response(send, resp, request_id, head=method == "HEAD")
    except Exception:
        log.exception("request %s (%s %s): response aborted", request_id, method, req.resource)
        _log(req, resp.status, sent, started, received[0], "ResponseAborted")
        raise
    req.sent = sent
    _log(req, resp.status, sent, started, received[0])
    return req


async def _error(req: Request, exc: S3Error) -> Response:
    req.error_code = exc.code
    if exc.status == 500:
        log.error("request %s: %s", req.request_id, exc)
    if exc.code == "NotModified":
        resp = Response(304)
        if getattr(exc, "etag", None):
            resp.header("etag", f'"{exc.etag}"')
        return resp
    try:  # leave the connection reusable when the client already sent a small body
        if (req.method in ("PUT", "POST") and not req.body_done and exc.code != "RequestTimeout"
                and int(req.headers.get("content-length", "0") or 0) <= 65536):
            await drain(req.receive)
    except (ValueError, ClientDisconnected, S3Error):     # S3Error: the rest of the body stalled
        pass
    resp = Response(exc.status, [("content-type", "application/xml")], error_xml(exc, req.resource, req.request_id))
    if exc.code == "InvalidRange" and "ActualObjectSize" in exc.extra:
        resp.header("content-range", f"bytes */{exc.extra['ActualObjectSize']}")
    if exc.status in (301, 307) or exc.code == "MethodNotAllowed":
        resp.header("allow", "GET, PUT, HEAD, POST, DELETE")
    return resp


METRICS_PATH = "/_s3free/metrics"


def admin_endpoint(state, path: str, headers: dict[str, str]) -> Response:
    """Under /_s3free/ (no bucket name can start with "_"): health and metrics."""
    if path == METRICS_PATH:
        return metrics_response(state, headers)
    return health(state, path)


def metrics_response(state, headers: dict[str, str]) -> Response:
    """Prometheus text; with `metrics_token` set, only for `Authorization: Bearer <token>`."""
    token = state.settings.metrics_token
    if token and not hmac.compare_digest(headers.get("authorization", "").encode(), f"Bearer {token}".encode()):
        return Response(401, [("content-type", "application/json"), ("www-authenticate", 'Bearer realm="s3free"')],
                        b'{"status":"unauthorized","reason":"metrics need a bearer token"}')
    if getattr(state, "metrics", None) is None:
        return Response(503, [("content-type", "application/json")], b'{"status":"unavailable"}')
    body = state.metrics.render(state.layer)
    return Response(200, [("content-type", "text/plain; version=0.0.4; charset=utf-8")], body)


def health(state, path: str) -> Response:
    """/_s3free/health/live: the process answers; /ready: enough disks to serve (>= k online)."""
    if path == "/_s3free/health/live":
        return Response(200, [("content-type", "application/json")], b'{"status":"ok"}')
    if path == "/_s3free/health/ready":
        return Response(*readiness(state.layer))
    return Response(404, [("content-type", "application/json")], b'{"status":"not found"}')


def readiness(layer) -> tuple[int, list, bytes]:
    """Ready when the index answers and at least k disks are usable; degraded (still ready)
    when any disk is not fully online, naming each one."""
    if layer is None:
        return 503, [("content-type", "application/json")], b'{"status":"unavailable","reason":"starting"}'
    try:
        with layer.index.read() as txn:
            layer.index.get(txn, "state", b"layout")
        index_ok = True
    except Exception:
        index_ok = False
    disks = layer.disks
    online = [d for d in disks.disks if d.online]
    ready = index_ok and len(online) >= layer.k
    not_ok = [{"slot": d.index + 1, "path": str(d.path), "state": d.state, "reason": d.reason}
              for d in disks.disks if d.state != "online"]
    body = {"status": "ready" if ready else "unavailable", "degraded": bool(not_ok), "index": index_ok,
            "disks_online": len(online), "disks": disks.n, "k": layer.k, "m": layer.m, "problem_disks": not_ok}
    return (200 if ready else 503), [("content-type", "application/json")], json.dumps(body).encode()


def _log(req: Request, status: int, sent: int, started: float, received: int, error: str = "") -> None:
    """The access log: one JSON line per S3 request (docs/operations.md#logs)."""
    if access_log.isEnabledFor(logging.INFO):
        client = req.scope.get("client") or ("", 0)
        write_access(req.request_id, client[0] if client else "", req.operation, req.method, req.bucket, req.key,
                     status, received, sent, req.access_key, round((time.monotonic() - started) * 1000, 2),
                     error or getattr(req, "error_code", "") or "")
