"""Object operations: put, get (ranges, partNumber), head, delete, copy."""
from __future__ import annotations

from urllib.parse import unquote

from s3free.objects.types import ObjectInfo

from .. import checksums, s3xml
from ..body import Body
from ..errors import S3Error
from ..http import Request, Response, xml
from ..numbers import decimal
from ..ranges import content_range, parse_range
from ..router import check_key
from .common import (bucket_info, check_conditions, check_version_id, object_headers, put_meta,
                     refuse_unsupported_headers, usable_bucket, write_if_none_match)




async def put_object(req: Request) -> Response:
    check_key(req.key)
    refuse_unsupported_headers(req)
    bucket_info(req)
    meta = put_meta(req)
    body = Body(req.receive, req.headers, req.auth, require_length=True)

    def verify() -> None:
        meta.checksums.update(body.verify())

    info = await req.layer.put_object(req.bucket, req.key, body.chunks(), meta,
                                      if_match=req.headers.get("if-match"),
                                      if_none_match=write_if_none_match(req),
                                      hashers=body.hashers(), verify=verify,
                                      size_hint=body.size_hint)
    resp = Response(200, [("etag", f'"{info.etag}"')])
    for name, value in meta.checksums.items():
        resp.header(checksums.header_name(name), value)
    return resp


def _part_range(info: ObjectInfo, number_text: str) -> tuple[int, int] | None:
    n = decimal(number_text)
    if n is None or not 1 <= n <= 10000:
        raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive",
                      ArgumentName="partNumber", ArgumentValue=number_text)
    sizes = info.part_sizes or [info.size]
    if n > len(sizes):
        raise S3Error("InvalidPartNumber", "The requested partnumber is not satisfiable", status=416,
                      PartNumberRequested=n, ActualPartCount=len(sizes))
    first = sum(sizes[:n - 1])
    if sizes[n - 1] == 0:
        return None
    return first, first + sizes[n - 1] - 1


def _read_plan(req: Request) -> tuple[ObjectInfo, tuple[int, int] | None]:
    check_key(req.key)
    check_version_id(req)
    bucket, info = req.layer.lookup(req.bucket, req.key)
    usable_bucket(req, bucket, req.bucket)
    if info is None:
        raise S3Error("NoSuchKey")
    check_conditions(info, req.headers)
    span = None
    if "partNumber" in req.query:
        if "range" in req.headers:
            raise S3Error("InvalidRequest", "Cannot specify both Range header and partNumber query parameter.")
        span = _part_range(info, req.query["partNumber"])
    else:
        span = parse_range(req.headers.get("range"), info.size)
    return info, span


def _answer(req: Request, info: ObjectInfo, span: tuple[int, int] | None) -> Response:
    resp = Response(200 if span is None else 206)
    object_headers(resp, info, req)
    if span is not None:
        resp.header("content-range", content_range(span[0], span[1], info.size))
        resp.length = span[1] - span[0] + 1
    else:
        resp.length = info.size
        if req.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED":
            for name, value in info.checksums.items():
                resp.header(checksums.header_name(name), value)
    return resp


async def get_object(req: Request) -> Response:
    info, span = _read_plan(req)
    first, last = span if span is not None else (None, None)
    info, stream = await req.layer.get_object(req.bucket, req.key, first, last, info=info)   # the version planned
    resp = _answer(req, info, span)
    resp.body = stream
    return resp


async def head_object(req: Request) -> Response:
    info, span = _read_plan(req)
    resp = _answer(req, info, span)
    resp.headers.append(("content-length", str(resp.length)))
    resp.length = None
    return resp


async def delete_object(req: Request) -> Response:
    check_key(req.key)
    check_version_id(req)
    bucket_info(req)
    await req.layer.delete_object(req.bucket, req.key)
    return Response(204)


def copy_source(req: Request) -> tuple[str, str]:
    """(bucket, key) of x-amz-copy-source: '[/]bucket/key[?versionId=null]', URL-encoded."""
    raw = req.headers["x-amz-copy-source"].strip()
    path, _, query = raw.partition("?")
    if query:
        name, _, value = query.partition("=")
        if name != "versionId" or unquote(value) != "null":
            raise S3Error("NoSuchVersion" if name == "versionId" else "InvalidArgument",
                          "Copy source must be [/]bucket/key; only versionId=null is known",
                          ArgumentName="x-amz-copy-source", ArgumentValue=raw)
    try:
        text = unquote(path, errors="strict")
    except UnicodeDecodeError:
        text = ""
    bucket, _, key = text.lstrip("/").partition("/")
    if not bucket or not key:
        raise S3Error("InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
                      ArgumentName="x-amz-copy-source", ArgumentValue=raw)
    check_key(key)
    return bucket, key


def source_info(req: Request) -> tuple[str, str, ObjectInfo]:
    src_bucket, src_key = copy_source(req)
    bucket_info(req, src_bucket)
    info = req.layer.head_object(src_bucket, src_key)
    check_conditions(info, req.headers, "x-amz-copy-source-")
    return src_bucket, src_key, info


async def copy_object(req: Request) -> Response:
    check_key(req.key)
    refuse_unsupported_headers(req)
    bucket_info(req)
    src_bucket, src_key, src = source_info(req)
    directive = req.headers.get("x-amz-metadata-directive", "COPY").strip().upper()
    if directive not in ("COPY", "REPLACE"):
        raise S3Error("InvalidArgument", "Unknown metadata directive.", ArgumentName="x-amz-metadata-directive",
                      ArgumentValue=directive)
    if (src_bucket, src_key) == (req.bucket, req.key) and directive == "COPY":
        raise S3Error("InvalidRequest", "This copy request is illegal because it is trying to copy an object to "
                      "itself without changing the object's metadata, storage class, website redirect location or "
                      "encryption attributes.")
    meta = put_meta(req) if directive == "REPLACE" else None
    info = await req.layer.copy_object(src_bucket, src_key, req.bucket, req.key, meta,
                                       if_match=req.headers.get("if-match"),
                                       if_none_match=write_if_none_match(req))
    return xml(s3xml.copy_object_xml(info.etag, info.last_modified))
