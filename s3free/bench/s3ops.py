"""The S3 calls the benchmark makes, over one `client.Connection` each.

Every call returns the `Response` and raises `S3CallError` (with the S3 error code when
there is one) on a non-2xx status, so workloads count errors in one place.
"""
from __future__ import annotations

import base64
import hashlib
import re
from xml.sax.saxutils import escape

from s3free.bench.client import Connection, Response, object_path

_CODE = re.compile(rb"<Code>([^<]*)</Code>")
_KEY = re.compile(rb"<Key>([^<]*)</Key>")
_TOKEN = re.compile(rb"<NextContinuationToken>([^<]*)</NextContinuationToken>")
_TRUNCATED = re.compile(rb"<IsTruncated>\s*true\s*</IsTruncated>")
_UPLOAD_ID = re.compile(rb"<UploadId>([^<]*)</UploadId>")
_ETAG_XML = re.compile(rb"<ETag>([^<]*)</ETag>")
_UPLOAD = re.compile(rb"<Upload>.*?<Key>([^<]*)</Key>.*?<UploadId>([^<]*)</UploadId>.*?</Upload>", re.S)


class S3CallError(Exception):
    def __init__(self, what: str, resp: Response):
        m = _CODE.search(resp.body)
        self.status = resp.status
        self.code = m.group(1).decode() if m else ""
        super().__init__(f"{what}: HTTP {resp.status}{' ' + self.code if self.code else ''}")


def _check(what: str, resp: Response, ok: tuple[int, ...] = (200, 204)) -> Response:
    if resp.status not in ok:
        raise S3CallError(what, resp)
    return resp


def _unxml(raw: bytes) -> str:
    return (raw.decode("utf-8").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
            .replace("&apos;", "'").replace("&amp;", "&"))


async def create_bucket(conn: Connection, bucket: str) -> bool:
    """Create `bucket`; True if this call created it, False if we already own it."""
    resp = await conn.request("PUT", object_path(bucket))
    if resp.status == 200:
        return True
    err = S3CallError(f"create bucket {bucket}", resp)
    if err.code == "BucketAlreadyOwnedByYou":
        return False
    raise err


async def delete_bucket(conn: Connection, bucket: str) -> None:
    _check(f"delete bucket {bucket}", await conn.request("DELETE", object_path(bucket)))


async def put(conn: Connection, bucket: str, key: str, body) -> Response:
    return _check(f"PUT {key}", await conn.request("PUT", object_path(bucket, key), body=body))


async def get(conn: Connection, bucket: str, key: str) -> Response:
    return _check(f"GET {key}", await conn.request("GET", object_path(bucket, key)))


async def stat(conn: Connection, bucket: str, key: str) -> Response:
    return _check(f"HEAD {key}", await conn.request("HEAD", object_path(bucket, key)))


async def delete(conn: Connection, bucket: str, key: str) -> Response:
    return _check(f"DELETE {key}", await conn.request("DELETE", object_path(bucket, key)))


async def list_page(conn: Connection, bucket: str, prefix: str, token: str = "",
                    max_keys: int = 1000) -> tuple[list[str], str, Response]:
    """One ListObjectsV2 page: (keys, next continuation token or "", response)."""
    params = {"list-type": "2", "prefix": prefix, "max-keys": str(max_keys)}
    if token:
        params["continuation-token"] = token
    resp = _check(f"LIST {prefix}", await conn.request("GET", object_path(bucket), params, keep_body=True))
    keys = [_unxml(k) for k in _KEY.findall(resp.body)]
    nxt = ""
    if _TRUNCATED.search(resp.body):
        m = _TOKEN.search(resp.body)
        nxt = _unxml(m.group(1)) if m else ""
    return keys, nxt, resp


async def delete_many(conn: Connection, bucket: str, keys: list[str]) -> int:
    """DeleteObjects (quiet) for up to 1000 keys; returns how many the server reported failed."""
    body = ("<Delete><Quiet>true</Quiet>" + "".join(f"<Object><Key>{escape(k)}</Key></Object>" for k in keys)
            + "</Delete>").encode()
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    resp = _check("DeleteObjects", await conn.request("POST", object_path(bucket), {"delete": ""}, body=body,
                                                      headers={"content-md5": md5}, keep_body=True))
    return resp.body.count(b"<Error>")


async def multipart_create(conn: Connection, bucket: str, key: str) -> str:
    resp = _check(f"CreateMultipartUpload {key}",
                  await conn.request("POST", object_path(bucket, key), {"uploads": ""}, keep_body=True))
    m = _UPLOAD_ID.search(resp.body)
    if not m:
        raise S3CallError(f"CreateMultipartUpload {key}: no UploadId", resp)
    return _unxml(m.group(1))


async def multipart_part(conn: Connection, bucket: str, key: str, upload_id: str, number: int, body) -> str:
    resp = _check(f"UploadPart {key}#{number}",
                  await conn.request("PUT", object_path(bucket, key),
                                     {"partNumber": str(number), "uploadId": upload_id}, body=body))
    return resp.headers.get("etag", "")


async def multipart_complete(conn: Connection, bucket: str, key: str, upload_id: str,
                             etags: list[str]) -> Response:
    body = ("<CompleteMultipartUpload>" + "".join(
        f"<Part><PartNumber>{i}</PartNumber><ETag>{escape(e)}</ETag></Part>" for i, e in enumerate(etags, 1))
        + "</CompleteMultipartUpload>").encode()
    resp = _check(f"CompleteMultipartUpload {key}",
                  await conn.request("POST", object_path(bucket, key), {"uploadId": upload_id}, body=body,
                                     keep_body=True))
    if b"<Error>" in resp.body:   # S3 may report a failed completion inside a 200
        raise S3CallError(f"CompleteMultipartUpload {key}", resp)
    return resp


async def multipart_abort(conn: Connection, bucket: str, key: str, upload_id: str) -> None:
    _check(f"AbortMultipartUpload {key}",
           await conn.request("DELETE", object_path(bucket, key), {"uploadId": upload_id}))


async def list_uploads(conn: Connection, bucket: str, prefix: str) -> list[tuple[str, str]]:
    resp = _check("ListMultipartUploads", await conn.request(
        "GET", object_path(bucket), {"uploads": "", "prefix": prefix}, keep_body=True))
    return [(_unxml(k), _unxml(u)) for k, u in _UPLOAD.findall(resp.body)]
