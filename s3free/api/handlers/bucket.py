"""Bucket operations: create, head, delete, location, listings, multi-delete."""
from __future__ import annotations

import base64
import binascii

from s3free.objects import errors as E
from s3free.objects import multipart

from .. import s3xml
from ..body import Body
from ..errors import S3Error
from ..http import Request, Response, xml
from ..numbers import decimal
from ..router import check_bucket_name, check_key
from ..translate import to_s3
from .common import bucket_info, owner, refuse_unsupported_headers

MAX_KEYS = 1000


async def create_bucket(req: Request) -> Response:
    check_bucket_name(req.bucket)
    refuse_unsupported_headers(req)
    body = Body(req.receive, req.headers, req.auth)
    location = s3xml.parse_create_bucket(await body.read_all(s3xml.MAX_CONFIG_BODY))
    region = req.app.settings.region
    if location is not None and location != region:
        raise S3Error("IllegalLocationConstraintException",
                      f"The {location} location constraint is incompatible for the region specific endpoint "
                      f"this request was sent to ({region}).")
    await req.layer.make_bucket(req.bucket, req.access_key, location or "")
    return Response(200, [("location", f"/{req.bucket}")])


async def head_bucket(req: Request) -> Response:
    bucket_info(req)
    return Response(200, [("x-amz-bucket-region", req.app.settings.region)])


async def delete_bucket(req: Request) -> Response:
    bucket_info(req)
    await req.layer.delete_bucket(req.bucket)
    return Response(204)


async def get_location(req: Request) -> Response:
    info = bucket_info(req)
    return xml(s3xml.location_xml(info.location or None))


def _max(req: Request, name: str, limit: int = MAX_KEYS) -> int:
    value = req.query.get(name)
    if value is None:
        return limit
    n = decimal(value.strip())
    if n is None:
        raise S3Error("InvalidArgument", f"Provided {name} not an integer or within integer range",
                      ArgumentName=name, ArgumentValue=value)
    return min(n, limit)


def _entries(objs, bucket_owner: str, with_owner: bool):
    who = owner(bucket_owner) if with_owner else None
    return [s3xml.ObjectEntry(o.key, o.size, o.etag, o.last_modified, o.storage_class, who,
                              (next(iter(o.checksums)).upper() if o.checksums else None)) for o in objs]


def _page(req: Request, prefix: str, delimiter: str, marker: str, max_keys: int):
    if max_keys == 0:
        return [], [], False, ""
    return req.layer.list_objects(req.bucket, prefix, delimiter, marker, max_keys)


async def list_objects(req: Request) -> Response:
    info = bucket_info(req)
    q = req.query
    enc = s3xml.parse_encoding_type(q.get("encoding-type"))
    prefix, delimiter, marker = q.get("prefix", ""), q.get("delimiter", ""), q.get("marker", "")
    max_keys = _max(req, "max-keys")
    objs, prefixes, truncated, next_marker = _page(req, prefix, delimiter, marker, max_keys)
    page = s3xml.ListPage(_entries(objs, info.owner, True), prefixes, truncated, next_marker or None)
    return xml(s3xml.list_objects_v1_xml(req.bucket, page, prefix=prefix, marker=marker, delimiter=delimiter or None,
                                         max_keys=max_keys, encoding_type=enc))


def _token(marker: str) -> str:
    return base64.urlsafe_b64encode(marker.encode("utf-8")).decode("ascii")


def _untoken(token: str) -> str:
    try:
        marker = base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
        if _token(marker) != token:      # the decoder skips what is not base64: "!!" would list from the start
            raise ValueError(token)
        return marker
    except (binascii.Error, ValueError, UnicodeError):
        raise S3Error("InvalidArgument", "The continuation token provided is incorrect",
                      ArgumentName="continuation-token", ArgumentValue=token) from None


async def list_objects_v2(req: Request) -> Response:
    info = bucket_info(req)
    q = req.query
    enc = s3xml.parse_encoding_type(q.get("encoding-type"))
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    start_after = q.get("start-after", "")
    token = q.get("continuation-token")
    marker = max(start_after, _untoken(token)) if token is not None else start_after
    max_keys = _max(req, "max-keys")
    fetch_owner = q.get("fetch-owner", "").lower() == "true"
    objs, prefixes, truncated, next_marker = _page(req, prefix, delimiter, marker, max_keys)
    page = s3xml.ListPage(_entries(objs, info.owner, fetch_owner), prefixes, truncated)
    return xml(s3xml.list_objects_v2_xml(
        req.bucket, page, prefix=prefix, delimiter=delimiter or None, max_keys=max_keys, encoding_type=enc,
        start_after=start_after or None, continuation_token=token,
        next_continuation_token=_token(next_marker) if truncated else None, fetch_owner=fetch_owner))


async def list_object_versions(req: Request) -> Response:
    """Without versioning every object has one version, "null", which is the latest."""
    info = bucket_info(req)
    q = req.query
    enc = s3xml.parse_encoding_type(q.get("encoding-type"))
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    key_marker, vid_marker = q.get("key-marker", ""), q.get("version-id-marker", "")
    if vid_marker and not key_marker:
        raise S3Error("InvalidArgument", "A version-id marker cannot be specified without a key marker.",
                      ArgumentName="version-id-marker", ArgumentValue=vid_marker)
    if vid_marker and vid_marker != "null":
        raise S3Error("InvalidArgument", "Invalid version id specified", ArgumentName="version-id-marker",
                      ArgumentValue=vid_marker)
    max_keys = _max(req, "max-keys")
    objs, prefixes, truncated, next_marker = _page(req, prefix, delimiter, key_marker, max_keys)
    who = owner(info.owner)
    entries = [s3xml.VersionEntry(o.key, "null", True, o.last_modified, o.etag, o.size, o.storage_class, who)
               for o in objs]
    last_is_key = bool(objs) and (not prefixes or objs[-1].key > prefixes[-1])
    page = s3xml.VersionPage(entries, prefixes, truncated, next_marker or None,
                             "null" if truncated and last_is_key else None)
    return xml(s3xml.list_versions_xml(req.bucket, page, prefix=prefix, key_marker=key_marker,
                                       version_id_marker=vid_marker, delimiter=delimiter or None,
                                       max_keys=max_keys, encoding_type=enc))


async def list_uploads(req: Request) -> Response:
    bucket_info(req)
    q = req.query
    enc = s3xml.parse_encoding_type(q.get("encoding-type"))
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    key_marker, uid_marker = q.get("key-marker", ""), q.get("upload-id-marker", "")
    max_uploads = _max(req, "max-uploads")
    page = multipart.list_uploads(req.layer, req.bucket, prefix, delimiter, key_marker, uid_marker, max_uploads)
    uploads = [s3xml.UploadEntry(u.key, u.upload_id, u.initiated, "STANDARD", owner(u.owner or req.access_key))
               for u in page.uploads]
    doc = s3xml.UploadPage(uploads, page.prefixes, page.truncated,
                           page.next_key_marker or None, page.next_upload_id_marker or None)
    return xml(s3xml.list_uploads_xml(req.bucket, doc, prefix=prefix, key_marker=key_marker,
                                      upload_id_marker=uid_marker, delimiter=delimiter or None,
                                      max_uploads=max_uploads, encoding_type=enc))


async def delete_objects(req: Request) -> Response:
    bucket_info(req)
    body = Body(req.receive, req.headers, req.auth)
    request = s3xml.parse_delete(await body.read_all(s3xml.MAX_DELETE_BODY))
    deleted, errors = [], []
    for obj in request.objects:
        try:
            if obj.version_id not in (None, "null"):
                raise S3Error("NoSuchVersion")
            check_key(obj.key)
            await req.layer.delete_object(req.bucket, obj.key)
            deleted.append(s3xml.Deleted(obj.key, obj.version_id))
        except S3Error as exc:
            errors.append(s3xml.DeleteError(obj.key, exc.code, exc.message, obj.version_id))
        except E.ObjectError as exc:
            err = to_s3(exc)
            errors.append(s3xml.DeleteError(obj.key, err.code, err.message, obj.version_id))
    return xml(s3xml.delete_result_xml(deleted, errors, request.quiet))

