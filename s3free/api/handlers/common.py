"""Helpers the resource handlers share: bucket access, metadata from headers, object headers."""
from __future__ import annotations

import re
from email.utils import parsedate_to_datetime

from s3free.objects.types import BucketInfo, ObjectInfo, PutMeta

from ..auth import check_owner
from ..errors import S3Error
from ..http import Request, Response, encode_headers, http_date
from ..s3xml import Owner

STORED_HEADERS = ("content-encoding", "content-disposition", "content-language", "cache-control", "expires")
MAX_USER_META = 2048


def bucket_info(req: Request, name: str | None = None) -> BucketInfo:
    """The bucket the request names, if it exists and the caller may use it."""
    name = req.bucket if name is None else name
    return usable_bucket(req, req.layer.bucket(name), name)


def usable_bucket(req: Request, info: BucketInfo | None, name: str) -> BucketInfo:
    """`info` (bucket `name` as looked up), if it exists and the caller may use it."""
    if info is None:
        raise S3Error("NoSuchBucket", resource=f"/{name}", BucketName=name)
    check_owner(info.owner, req.access_key, req.is_root, name)
    return info


def owner(access_key: str) -> Owner:
    return Owner(access_key, access_key)


def refuse_unsupported_headers(req: Request) -> None:
    """Headers asking for features we do not have: NotImplemented, never silently ignored."""
    acl = req.headers.get("x-amz-acl")
    if acl is not None and acl.strip() != "private":
        raise S3Error("NotImplemented", f"Only the canned ACL 'private' is supported, not {acl!r}.")
    for name in req.headers:
        if name.startswith("x-amz-grant-"):
            raise S3Error("NotImplemented", "ACL grants are not supported.")
        if name.startswith("x-amz-server-side-encryption"):
            raise S3Error("NotImplemented", "Server-side encryption is not supported.")
        if name.startswith("x-amz-object-lock") or name == "x-amz-bucket-object-lock-enabled":
            if req.headers[name].strip().lower() not in ("", "false"):
                raise S3Error("NotImplemented", "Object lock is not supported.")
        if name == "x-amz-tagging":
            raise S3Error("NotImplemented", "Object tagging is not supported.")
        if name == "x-amz-website-redirect-location":
            raise S3Error("NotImplemented", "Website redirects are not supported.")
    storage_class = req.headers.get("x-amz-storage-class")
    if storage_class is not None and storage_class.strip() != "STANDARD":
        raise S3Error("InvalidStorageClass", StorageClassRequested=storage_class)


def put_meta(req: Request, headers: dict[str, str] | None = None) -> PutMeta:
    """What the client says about a new object: type, x-amz-meta-*, stored headers."""
    headers = req.headers if headers is None else headers
    user = {n[len("x-amz-meta-"):]: v for n, v in headers.items() if n.startswith("x-amz-meta-")}
    if sum(len(n) + len(v.encode("utf-8", "surrogateescape")) for n, v in user.items()) > MAX_USER_META:
        raise S3Error("MetadataTooLarge", MaxSizeAllowed=MAX_USER_META)
    stored = {}
    for name in STORED_HEADERS:
        if name in headers:
            value = headers[name]
            if name == "content-encoding":  # aws-chunked is the transfer framing, not the object's encoding
                value = ",".join(v.strip() for v in value.split(",") if v.strip().lower() != "aws-chunked")
                if not value:
                    continue
            stored[name] = value
    return PutMeta(headers.get("content-type") or "binary/octet-stream", user, stored)


_OVERRIDES = {"response-content-type": "content-type", "response-content-language": "content-language",
              "response-expires": "expires", "response-cache-control": "cache-control",
              "response-content-disposition": "content-disposition",
              "response-content-encoding": "content-encoding"}


_WIRE: dict[tuple, list[tuple[bytes, bytes]]] = {}


def object_headers(resp: Response, info: ObjectInfo, req: Request) -> Response:
    """The headers GET and HEAD answer with (response-* query overrides applied). Without
    a query they are the same bytes for every request of an object version (a version id
    is never reused): encoded once, then shared."""
    if not req.query:
        key = (info.bucket, info.key, info.version_id, info.etag, info.last_modified)
        wire = _WIRE.get(key)
        if wire is None:
            if len(_WIRE) >= 4096:
                _WIRE.clear()
            plain = Response()
            _object_headers(plain, info, req)
            wire = _WIRE[key] = encode_headers(plain.headers)
        resp.wire = wire
        return resp
    return _object_headers(resp, info, req)


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")    # tab is allowed in a header value


def _object_headers(resp: Response, info: ObjectInfo, req: Request) -> Response:
    resp.header("etag", f'"{info.etag}"')
    resp.header("last-modified", http_date(info.last_modified))
    resp.header("accept-ranges", "bytes")
    content_type = info.content_type
    stored = info.headers
    q = req.query
    if q:
        stored = dict(stored)
        for param, name in _OVERRIDES.items():
            if param in q:
                if _CONTROL.search(q[param]):       # it would become a header line of its own, or none
                    raise S3Error("InvalidArgument", f"{param} must not contain control characters",
                                  ArgumentName=param, ArgumentValue=q[param])
                if name == "content-type":
                    content_type = q[param]
                else:
                    stored[name] = q[param]
    resp.header("content-type", content_type)
    for name, value in stored.items():
        resp.header(name, value)
    for name, value in info.user_meta.items():
        resp.header(f"x-amz-meta-{name}", value)
    if info.parts_count:
        resp.header("x-amz-mp-parts-count", info.parts_count)
    return resp


def write_if_none_match(req: Request) -> str | None:
    """If-None-Match on a write: S3 takes only `*` (write only if the key does not exist);
    an ETag there is answered 501, as AWS does, instead of being ignored."""
    value = req.headers.get("if-none-match")
    if value is not None and value.strip() != "*":
        raise S3Error("NotImplemented", "A header you provided implies functionality that is not implemented",
                      Header="If-None-Match")
    return value


def parse_http_date(value: str):
    try:
        when = parsedate_to_datetime(value.strip())
        return when.timestamp() if when is not None else None
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _etag_matches(header: str, etag: str) -> bool:
    return any(t.strip().strip('"') in ("*", etag) for t in header.split(","))


def check_conditions(info: ObjectInfo, headers: dict[str, str], prefix: str = "", *, read: bool = True) -> None:
    """If-Match / If-None-Match / If-(Un)Modified-Since with S3's precedence rules.

    `prefix` is "x-amz-copy-source-" for CopyObject's conditions (which fail with 412 only).
    """
    mtime = int(info.last_modified)
    if_match = headers.get(prefix + "if-match")
    if_none = headers.get(prefix + "if-none-match")
    since = headers.get(prefix + "if-modified-since")
    unmod = headers.get(prefix + "if-unmodified-since")
    not_modified = "PreconditionFailed" if prefix else "NotModified"
    if if_match is not None:
        if not _etag_matches(if_match, info.etag):
            raise S3Error("PreconditionFailed", Condition="If-Match")
    elif unmod is not None:
        t = parse_http_date(unmod)
        if t is not None and mtime > t:
            raise S3Error("PreconditionFailed", Condition="If-Unmodified-Since")
    if if_none is not None:
        if _etag_matches(if_none, info.etag):
            raise S3Error(not_modified, Condition="If-None-Match") if prefix else _not_modified(info)
    elif since is not None:
        t = parse_http_date(since)
        if t is not None and mtime <= t:
            raise S3Error(not_modified, Condition="If-Modified-Since") if prefix else _not_modified(info)


def _not_modified(info: ObjectInfo) -> S3Error:
    err = S3Error("NotModified")
    err.etag = info.etag
    err.last_modified = info.last_modified
    return err


def check_version_id(req: Request) -> None:
    """Without versioning the only version of an object is "null"."""
    version = req.query.get("versionId")
    if version is not None and version != "null":
        raise S3Error("NoSuchVersion", resource=req.resource, Key=req.key, VersionId=version)
