"""Multipart uploads: create, upload part (and part copy), list parts, complete, abort."""
from __future__ import annotations

from s3free.objects import multipart

from .. import checksums, s3xml
from ..body import Body
from ..errors import S3Error
from ..http import Request, Response, xml
from ..numbers import decimal
from ..ranges import parse_copy_source_range
from ..router import check_key
from .common import bucket_info, owner, put_meta, refuse_unsupported_headers, write_if_none_match
from .object import source_info


async def create(req: Request) -> Response:
    check_key(req.key)
    refuse_unsupported_headers(req)
    bucket_info(req)
    meta = put_meta(req)
    algorithm = req.headers.get("x-amz-checksum-algorithm", "").strip().lower()
    if algorithm and algorithm not in checksums.ALGORITHMS:
        raise S3Error("InvalidRequest", f"Checksum algorithm provided is unsupported: {algorithm.upper()}")
    upload_id = await multipart.create(req.layer, req.bucket, req.key, meta, owner=req.access_key)
    resp = xml(s3xml.initiate_multipart_xml(req.bucket, req.key, upload_id))
    if algorithm:
        resp.header("x-amz-checksum-algorithm", algorithm.upper())
    return resp


def _part_number(req: Request) -> int:
    text = req.query.get("partNumber", "")
    n = decimal(text)
    if n is None or not 1 <= n <= multipart.MAX_PARTS:
        raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive",
                      ArgumentName="partNumber", ArgumentValue=text)
    return n


def _upload_id(req: Request) -> str:
    upload_id = req.query.get("uploadId", "")
    if not upload_id:
        raise S3Error("InvalidArgument", "uploadId must not be empty", ArgumentName="uploadId")
    return upload_id


async def upload_part(req: Request) -> Response:
    check_key(req.key)
    bucket_info(req)
    number, upload_id = _part_number(req), _upload_id(req)
    body = Body(req.receive, req.headers, req.auth, require_length=True)
    found: dict[str, str] = {}

    def verify() -> None:
        found.update(body.verify())

    part = await multipart.upload_part(req.layer, req.bucket, req.key, upload_id, number, body.chunks(),
                                       hashers=body.hashers(), verify=verify, size_hint=body.size_hint)
    resp = Response(200, [("etag", f'"{part.etag}"')])
    for name, value in found.items():
        resp.header(checksums.header_name(name), value)
    return resp


async def upload_part_copy(req: Request) -> Response:
    check_key(req.key)
    bucket_info(req)
    number, upload_id = _part_number(req), _upload_id(req)
    src_bucket, src_key, src = source_info(req)
    first, last = 0, src.size - 1
    if "x-amz-copy-source-range" in req.headers:
        first, last = parse_copy_source_range(req.headers["x-amz-copy-source-range"], src.size)
    _, stream = await req.layer.get_object(src_bucket, src_key, first, last)
    try:
        part = await multipart.upload_part(req.layer, req.bucket, req.key, upload_id, number, stream)
    finally:
        await stream.aclose()
    return xml(s3xml.copy_part_xml(part.etag, part.last_modified))


async def list_parts(req: Request) -> Response:
    bucket_info(req)
    upload_id = _upload_id(req)
    marker_text = req.query.get("part-number-marker", "0") or "0"
    max_text = req.query.get("max-parts", "1000")
    marker, max_parts = decimal(marker_text), decimal(max_text)
    for name, text, value in (("part-number-marker", marker_text, marker), ("max-parts", max_text, max_parts)):
        if value is None:
            raise S3Error("InvalidArgument", f"Provided {name} not an integer or within integer range",
                          ArgumentName=name, ArgumentValue=text)
    max_parts = min(max_parts, 1000)
    page = multipart.list_parts(req.layer, req.bucket, req.key, upload_id, marker, max_parts)
    parts = [s3xml.PartEntry(p.number, p.etag, p.size, p.last_modified) for p in page.parts]
    who = owner(page.upload.owner or req.access_key)
    return xml(s3xml.list_parts_xml(req.bucket, req.key, upload_id, parts, part_number_marker=marker,
                                    next_part_number_marker=page.next_marker if page.truncated else None,
                                    max_parts=max_parts, is_truncated=page.truncated, owner=who))


async def complete(req: Request) -> Response:
    check_key(req.key)
    bucket_info(req)
    upload_id = _upload_id(req)
    body = Body(req.receive, req.headers, req.auth)
    parts = s3xml.parse_complete_multipart(await body.read_all(s3xml.MAX_COMPLETE_BODY))
    info = await multipart.complete(req.layer, req.bucket, req.key, upload_id,
                                    [(p.part_number, p.etag) for p in parts],
                                    if_match=req.headers.get("if-match"),
                                    if_none_match=write_if_none_match(req))
    location = f"/{req.bucket}/{req.key}"
    return xml(s3xml.complete_multipart_xml(location, req.bucket, req.key, info.etag))


async def abort(req: Request) -> Response:
    bucket_info(req)
    await multipart.abort(req.layer, req.bucket, req.key, _upload_id(req))
    return Response(204)
