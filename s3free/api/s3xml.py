"""S3 XML: rendering the response documents and parsing the few request bodies.

Rendering takes plain dataclasses (filled by the object layer) and returns
UTF-8 bytes. Parsing is defensive, because request bodies come from anyone: a
size bound before parsing, no DTDs (so no entity expansion or external
entities), the S3 namespace optional, and every failure reported as S3Error
(MalformedXML unless a more precise S3 code exists) — never another exception.

With encoding-type=url the key-like elements S3 lists for each response are
percent-encoded (clients decode them with unquote_plus, so '+' is always
escaped). One quirk is kept on purpose: in ListObjects v1 the top-level Prefix
is left as is, because botocore (boto3, the AWS CLI) does not decode it there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import quote
from xml.parsers import expat

from .errors import S3Error, xml_text
from .numbers import decimal

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'

MAX_DELETE_BODY = 2 * 1024 * 1024
MAX_DELETE_KEYS = 1000
MAX_COMPLETE_BODY = 8 * 1024 * 1024
MAX_PART_NUMBER = 10000
MAX_CONFIG_BODY = 64 * 1024
_MAX_DEPTH = 16
CHECKSUM_FIELDS = ("ChecksumCRC32", "ChecksumCRC32C", "ChecksumCRC64NVME", "ChecksumSHA1", "ChecksumSHA256")

Timestamp = datetime | float | int
_Encode = Callable[[str], str]


# ---------------------------------------------------------------- data passed in

@dataclass
class Owner:
    id: str
    display_name: str = ""


@dataclass
class BucketEntry:
    name: str
    creation_date: Timestamp


@dataclass
class ObjectEntry:
    key: str
    size: int
    etag: str  # with or without the surrounding quotes
    last_modified: Timestamp
    storage_class: str = "STANDARD"
    owner: Owner | None = None
    checksum_algorithm: str | None = None


@dataclass
class ListPage:
    """One page of a listing: objects and common prefixes in key order."""

    contents: Sequence[ObjectEntry] = ()
    common_prefixes: Sequence[str] = ()
    is_truncated: bool = False
    next_marker: str | None = None  # v1 NextMarker (v2 takes an opaque token instead)


@dataclass
class VersionEntry:
    key: str
    version_id: str
    is_latest: bool
    last_modified: Timestamp
    etag: str = ""
    size: int = 0
    storage_class: str = "STANDARD"
    owner: Owner | None = None
    delete_marker: bool = False


@dataclass
class VersionPage:
    entries: Sequence[VersionEntry] = ()
    common_prefixes: Sequence[str] = ()
    is_truncated: bool = False
    next_key_marker: str | None = None
    next_version_id_marker: str | None = None


@dataclass
class UploadEntry:
    key: str
    upload_id: str
    initiated: Timestamp
    storage_class: str = "STANDARD"
    owner: Owner | None = None


@dataclass
class UploadPage:
    uploads: Sequence[UploadEntry] = ()
    common_prefixes: Sequence[str] = ()
    is_truncated: bool = False
    next_key_marker: str | None = None
    next_upload_id_marker: str | None = None


@dataclass
class PartEntry:
    part_number: int
    etag: str
    size: int
    last_modified: Timestamp


@dataclass
class Deleted:
    key: str
    version_id: str | None = None
    delete_marker: bool = False
    delete_marker_version_id: str | None = None


@dataclass
class DeleteError:
    key: str
    code: str
    message: str
    version_id: str | None = None


# ---------------------------------------------------------------- parsed requests

@dataclass
class ObjectToDelete:
    key: str
    version_id: str | None = None


@dataclass
class DeleteRequest:
    objects: list[ObjectToDelete]
    quiet: bool = False


@dataclass
class CompletedPart:
    part_number: int
    etag: str  # without the surrounding quotes
    checksums: dict[str, str] = field(default_factory=dict)  # e.g. {"ChecksumCRC32": "..."}


# ---------------------------------------------------------------- rendering

def iso8601(value: Timestamp) -> str:
    """S3's timestamp form: milliseconds and Z. Naive datetimes are taken as UTC.

    >>> iso8601(0)
    '1970-01-01T00:00:00.000Z'
    >>> iso8601(datetime(2026, 11, 24, 11, 2, 52, 123456))
    '2026-11-24T11:02:52.123Z'
    """
    if isinstance(value, datetime):
        when = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        when = when.astimezone(timezone.utc)
    else:
        when = datetime.fromtimestamp(float(value), timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def list_buckets_xml(owner: Owner, buckets: Iterable[BucketEntry]) -> bytes:
    body = [_owner(owner), "<Buckets>"]
    for b in buckets:
        body.append(f"<Bucket>{_el('Name', b.name)}{_el('CreationDate', iso8601(b.creation_date))}</Bucket>")
    body.append("</Buckets>")
    return _doc("ListAllMyBucketsResult", body)


def list_objects_v1_xml(bucket: str, page: ListPage, *, prefix: str = "", marker: str = "",
                        delimiter: str | None = None, max_keys: int = 1000,
                        encoding_type: str | None = None) -> bytes:
    enc = _encoder(encoding_type)
    body = [_el("Name", bucket), _el("Prefix", prefix), _el("Marker", enc(marker)), _el("MaxKeys", max_keys)]
    if delimiter:
        body.append(_el("Delimiter", enc(delimiter)))
    if encoding_type:
        body.append(_el("EncodingType", encoding_type))
    body.append(_el("IsTruncated", _bool(page.is_truncated)))
    if page.is_truncated and page.next_marker is not None:
        body.append(_el("NextMarker", enc(page.next_marker)))
    body += [_contents(o, enc, with_owner=True) for o in page.contents]
    body += [_prefix(p, enc) for p in page.common_prefixes]
    return _doc("ListBucketResult", body)


def list_objects_v2_xml(bucket: str, page: ListPage, *, prefix: str = "", delimiter: str | None = None,
                        max_keys: int = 1000, encoding_type: str | None = None,
                        start_after: str | None = None, continuation_token: str | None = None,
                        next_continuation_token: str | None = None, fetch_owner: bool = False) -> bytes:
    enc = _encoder(encoding_type)
    body = [_el("Name", bucket), _el("Prefix", enc(prefix))]
    if delimiter:
        body.append(_el("Delimiter", enc(delimiter)))
    body.append(_el("MaxKeys", max_keys))
    if encoding_type:
        body.append(_el("EncodingType", encoding_type))
    body.append(_el("KeyCount", len(page.contents) + len(page.common_prefixes)))
    body.append(_el("IsTruncated", _bool(page.is_truncated)))
    if continuation_token is not None:
        body.append(_el("ContinuationToken", continuation_token))
    if page.is_truncated and next_continuation_token is not None:
        body.append(_el("NextContinuationToken", next_continuation_token))
    if start_after:
        body.append(_el("StartAfter", enc(start_after)))
    body += [_contents(o, enc, with_owner=fetch_owner) for o in page.contents]
    body += [_prefix(p, enc) for p in page.common_prefixes]
    return _doc("ListBucketResult", body)


def list_versions_xml(bucket: str, page: VersionPage, *, prefix: str = "", key_marker: str = "",
                      version_id_marker: str = "", delimiter: str | None = None, max_keys: int = 1000,
                      encoding_type: str | None = None) -> bytes:
    enc = _encoder(encoding_type)
    body = [_el("Name", bucket), _el("Prefix", enc(prefix)), _el("KeyMarker", enc(key_marker)),
            _el("VersionIdMarker", version_id_marker), _el("MaxKeys", max_keys)]
    if delimiter:
        body.append(_el("Delimiter", enc(delimiter)))
    if encoding_type:
        body.append(_el("EncodingType", encoding_type))
    body.append(_el("IsTruncated", _bool(page.is_truncated)))
    if page.is_truncated and page.next_key_marker is not None:
        body.append(_el("NextKeyMarker", enc(page.next_key_marker)))
    if page.is_truncated and page.next_version_id_marker is not None:
        body.append(_el("NextVersionIdMarker", page.next_version_id_marker))
    for v in page.entries:
        common = (_el("Key", enc(v.key)) + _el("VersionId", v.version_id) + _el("IsLatest", _bool(v.is_latest))
                  + _el("LastModified", iso8601(v.last_modified)))
        owner = _owner(v.owner) if v.owner else ""
        if v.delete_marker:
            body.append(f"<DeleteMarker>{common}{owner}</DeleteMarker>")
        else:
            body.append(f"<Version>{common}{_el('ETag', _etag(v.etag))}{_el('Size', v.size)}"
                        f"{owner}{_el('StorageClass', v.storage_class)}</Version>")
    body += [_prefix(p, enc) for p in page.common_prefixes]
    return _doc("ListVersionsResult", body)


def list_uploads_xml(bucket: str, page: UploadPage, *, prefix: str = "", key_marker: str = "",
                     upload_id_marker: str = "", delimiter: str | None = None, max_uploads: int = 1000,
                     encoding_type: str | None = None) -> bytes:
    enc = _encoder(encoding_type)
    body = [_el("Bucket", bucket), _el("KeyMarker", enc(key_marker)), _el("UploadIdMarker", upload_id_marker),
            _el("NextKeyMarker", enc(page.next_key_marker or "")),
            _el("NextUploadIdMarker", page.next_upload_id_marker or ""), _el("Prefix", enc(prefix))]
    if delimiter:
        body.append(_el("Delimiter", enc(delimiter)))
    body.append(_el("MaxUploads", max_uploads))
    if encoding_type:
        body.append(_el("EncodingType", encoding_type))
    body.append(_el("IsTruncated", _bool(page.is_truncated)))
    for u in page.uploads:
        who = _owner(u.owner, "Initiator") + _owner(u.owner) if u.owner else ""
        body.append(f"<Upload>{_el('Key', enc(u.key))}{_el('UploadId', u.upload_id)}{who}"
                    f"{_el('StorageClass', u.storage_class)}{_el('Initiated', iso8601(u.initiated))}</Upload>")
    body += [_prefix(p, enc) for p in page.common_prefixes]
    return _doc("ListMultipartUploadsResult", body)


def list_parts_xml(bucket: str, key: str, upload_id: str, parts: Iterable[PartEntry], *,
                   part_number_marker: int = 0, next_part_number_marker: int | None = None,
                   max_parts: int = 1000, is_truncated: bool = False, owner: Owner | None = None,
                   storage_class: str = "STANDARD") -> bytes:
    body = [_el("Bucket", bucket), _el("Key", key), _el("UploadId", upload_id),
            _el("PartNumberMarker", part_number_marker)]
    if next_part_number_marker is not None:
        body.append(_el("NextPartNumberMarker", next_part_number_marker))
    body += [_el("MaxParts", max_parts), _el("IsTruncated", _bool(is_truncated))]
    for p in parts:
        body.append(f"<Part>{_el('PartNumber', p.part_number)}{_el('LastModified', iso8601(p.last_modified))}"
                    f"{_el('ETag', _etag(p.etag))}{_el('Size', p.size)}</Part>")
    if owner:
        body += [_owner(owner, "Initiator"), _owner(owner)]
    body.append(_el("StorageClass", storage_class))
    return _doc("ListPartsResult", body)


def initiate_multipart_xml(bucket: str, key: str, upload_id: str) -> bytes:
    return _doc("InitiateMultipartUploadResult", [_el("Bucket", bucket), _el("Key", key), _el("UploadId", upload_id)])


def complete_multipart_xml(location: str, bucket: str, key: str, etag: str,
                           checksums: dict[str, str] | None = None) -> bytes:
    body = [_el("Location", location), _el("Bucket", bucket), _el("Key", key), _el("ETag", _etag(etag))]
    body += [_el(name, value) for name, value in (checksums or {}).items() if name in CHECKSUM_FIELDS]
    return _doc("CompleteMultipartUploadResult", body)


def copy_object_xml(etag: str, last_modified: Timestamp) -> bytes:
    return _doc("CopyObjectResult", [_el("LastModified", iso8601(last_modified)), _el("ETag", _etag(etag))])


def copy_part_xml(etag: str, last_modified: Timestamp) -> bytes:
    return _doc("CopyPartResult", [_el("LastModified", iso8601(last_modified)), _el("ETag", _etag(etag))])


def delete_result_xml(deleted: Iterable[Deleted], errors: Iterable[DeleteError], quiet: bool = False) -> bytes:
    """DeleteObjects' answer; in quiet mode only the errors are listed."""
    body = []
    if not quiet:
        for d in deleted:
            item = _el("Key", d.key)
            if d.version_id is not None:
                item += _el("VersionId", d.version_id)
            if d.delete_marker:
                item += _el("DeleteMarker", "true")
                if d.delete_marker_version_id is not None:
                    item += _el("DeleteMarkerVersionId", d.delete_marker_version_id)
            body.append(f"<Deleted>{item}</Deleted>")
    for e in errors:
        version = _el("VersionId", e.version_id) if e.version_id is not None else ""
        body.append(f"<Error>{_el('Key', e.key)}{version}{_el('Code', e.code)}{_el('Message', e.message)}</Error>")
    return _doc("DeleteResult", body)


def location_xml(region: str | None) -> bytes:
    """GetBucketLocation: us-east-1 (and no region) is an empty constraint, as in S3."""
    value = "" if region in (None, "", "us-east-1") else region
    return f'{_DECL}<LocationConstraint xmlns="{NAMESPACE}">{xml_text(value)}</LocationConstraint>'.encode()


def _doc(root: str, body: Iterable[str]) -> bytes:
    return f'{_DECL}<{root} xmlns="{NAMESPACE}">{"".join(body)}</{root}>'.encode("utf-8")


def _el(name: str, value: object) -> str:
    return f"<{name}>{xml_text(value)}</{name}>"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _etag(etag: str) -> str:
    return etag if len(etag) >= 2 and etag[0] == etag[-1] == '"' else f'"{etag}"'


def _owner(owner: Owner, tag: str = "Owner") -> str:
    return f"<{tag}>{_el('ID', owner.id)}{_el('DisplayName', owner.display_name)}</{tag}>"


def _contents(o: ObjectEntry, enc: _Encode, with_owner: bool) -> str:
    parts = [_el("Key", enc(o.key)), _el("LastModified", iso8601(o.last_modified)), _el("ETag", _etag(o.etag))]
    if o.checksum_algorithm:
        parts.append(_el("ChecksumAlgorithm", o.checksum_algorithm))
    parts.append(_el("Size", o.size))
    if with_owner and o.owner:
        parts.append(_owner(o.owner))
    parts.append(_el("StorageClass", o.storage_class))
    return f"<Contents>{''.join(parts)}</Contents>"


def _prefix(prefix: str, enc: _Encode) -> str:
    return f"<CommonPrefixes>{_el('Prefix', enc(prefix))}</CommonPrefixes>"


def parse_encoding_type(value: str | None) -> str | None:
    """Validate the encoding-type query parameter: "url" or absent, as S3 accepts.

    >>> parse_encoding_type("url"), parse_encoding_type(None)
    ('url', None)
    """
    if value is None:
        return None
    if value.lower() != "url":
        raise S3Error("InvalidArgument", "Invalid Encoding Method specified in Request",
                      ArgumentName="encoding-type", ArgumentValue=value)
    return "url"


def _encoder(encoding_type: str | None) -> _Encode:
    if parse_encoding_type(encoding_type) is None:
        return lambda s: s
    return lambda s: quote(s, safe="/")


# ---------------------------------------------------------------- parsing

class _Node:
    __slots__ = ("name", "children", "text")

    def __init__(self, name: str) -> None:
        self.name = name
        self.children: list[_Node] = []
        self.text: list[str] = []

    @property
    def value(self) -> str:
        return "".join(self.text)

    def all(self, name: str) -> list[_Node]:
        return [c for c in self.children if c.name == name]

    def one(self, name: str) -> _Node | None:
        found = self.all(name)
        if len(found) > 1:
            raise S3Error("MalformedXML")
        return found[0] if found else None


class _Rejected(Exception):
    pass


def _parse(body: bytes, root: str, limit: int) -> _Node:
    if len(body) > limit:
        raise S3Error("MaxMessageLengthExceeded", f"Your request was too big (limit {limit} bytes).")
    if not body.strip():
        raise S3Error("MalformedXML")
    stack: list[_Node] = []
    roots: list[_Node] = []

    def start(name: str, _attrs: object) -> None:
        if len(stack) >= _MAX_DEPTH:
            raise _Rejected("too deep")
        node = _Node(name.rpartition(" ")[2])  # "namespace local" -> local: any namespace or none
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)

    def end(_name: str) -> None:
        stack.pop()

    def text(data: str) -> None:
        if stack:
            stack[-1].text.append(data)

    def reject(*_args: object) -> None:
        raise _Rejected("DTDs and entities are not allowed")

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = reject
    parser.EntityDeclHandler = reject
    parser.UnparsedEntityDeclHandler = reject
    parser.ExternalEntityRefHandler = reject
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.buffer_text = True
    try:
        parser.Parse(body, True)
    except Exception:  # expat errors, our rejections, bad encodings: all the client's XML
        raise S3Error("MalformedXML") from None
    if len(roots) != 1 or roots[0].name != root:
        raise S3Error("MalformedXML")
    return roots[0]


def parse_create_bucket(body: bytes) -> str | None:
    """CreateBucketConfiguration's LocationConstraint; None when the body or the element is absent."""
    if not body.strip():
        return None
    config = _parse(body, "CreateBucketConfiguration", MAX_CONFIG_BODY)
    node = config.one("LocationConstraint")
    return (node.value.strip() or None) if node is not None else None


def parse_delete(body: bytes) -> DeleteRequest:
    """DeleteObjects' request: up to 1000 keys, each with an optional VersionId, and Quiet."""
    root = _parse(body, "Delete", MAX_DELETE_BODY)
    quiet = False
    if (node := root.one("Quiet")) is not None:
        flag = node.value.strip().lower()
        if flag not in ("true", "false"):
            raise S3Error("MalformedXML")
        quiet = flag == "true"
    nodes = root.all("Object")
    if not nodes or len(nodes) > MAX_DELETE_KEYS:
        raise S3Error("MalformedXML", "The XML you provided was not well-formed or did not validate against our "
                      f"published schema (1 to {MAX_DELETE_KEYS} objects per request).")
    objects = []
    for obj in nodes:
        key = obj.one("Key")
        if key is None or not key.value:
            raise S3Error("MalformedXML")
        version = obj.one("VersionId")
        objects.append(ObjectToDelete(key.value, (version.value.strip() or None) if version is not None else None))
    return DeleteRequest(objects, quiet)


def parse_complete_multipart(body: bytes) -> list[CompletedPart]:
    """CompleteMultipartUpload's part list: ascending part numbers, ETags unquoted, checksums kept."""
    root = _parse(body, "CompleteMultipartUpload", MAX_COMPLETE_BODY)
    nodes = root.all("Part")
    if not nodes or len(nodes) > MAX_PART_NUMBER:
        raise S3Error("MalformedXML")
    parts: list[CompletedPart] = []
    for node in nodes:
        number, etag = node.one("PartNumber"), node.one("ETag")
        if number is None or etag is None:
            raise S3Error("MalformedXML")
        text = number.value.strip()
        if not (text.isascii() and text.isdigit()):
            raise S3Error("MalformedXML")
        n = decimal(text)
        if n is None or not 1 <= n <= MAX_PART_NUMBER:
            raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive",
                          ArgumentName="partNumber", ArgumentValue=text)
        if parts and n <= parts[-1].part_number:
            raise S3Error("InvalidPartOrder")
        checksums = {}
        for name in CHECKSUM_FIELDS:
            if (c := node.one(name)) is not None:
                checksums[name] = c.value.strip()
        parts.append(CompletedPart(n, etag.value.strip().strip('"'), checksums))
    return parts
