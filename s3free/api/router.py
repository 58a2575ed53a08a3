"""Which bucket, key and S3 operation a request names, sans-IO.

Path style: /<bucket>/<key>. Virtual-hosted style: Host <bucket>.<domain> (a configured
domain) and /<key>. The operation follows from method, bucket/key presence and the query's
sub-resources; sub-resources we do not serve map to their S3 operation name, so the
NotImplemented answer can say which operation it was.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_to_bytes

from .errors import S3Error

MAX_KEY_BYTES = 1024


@dataclass
class Target:
    bucket: str
    key: str
    virtual_host: bool = False


def route(raw_path: bytes, host: str, domains: list[str]) -> Target:
    """Split a request into bucket and key (both '' when absent).

    >>> route(b"/b/a%2Fb//c", "localhost:9000", [])
    Target(bucket='b', key='a/b//c', virtual_host=False)
    >>> route(b"/k/x", "b.s3.local:9000", ["s3.local"])
    Target(bucket='b', key='k/x', virtual_host=True)
    """
    try:
        path = unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        raise S3Error("InvalidURI", "The request path is not valid UTF-8.") from None
    if not path.startswith("/"):
        raise S3Error("InvalidURI")
    hostname = _hostname(host)
    for domain in domains:
        domain = domain.lower().strip(".")
        if hostname.endswith("." + domain) and hostname != domain:
            return Target(hostname[:-len(domain) - 1], path[1:], True)
    bucket, _, key = path[1:].partition("/")
    return Target(bucket, key)


def _hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def parse_query(raw: bytes) -> dict[str, str]:
    """Query parameters (the first value of each name wins); values decoded as UTF-8."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    out: dict[str, str] = {}
    try:
        for name, value in parse_qsl(text, keep_blank_values=True, errors="strict"):
            out.setdefault(name, value)
    except (UnicodeDecodeError, ValueError):
        raise S3Error("InvalidURI", "The query string is not valid UTF-8.") from None
    return out


_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")


def check_bucket_name(name: str) -> None:
    """S3's rules for new bucket names (general purpose buckets)."""
    ok = bool(_BUCKET.match(name)) and ".." not in name and ".-" not in name and "-." not in name
    if ok and not name.startswith(("xn--", "sthree-", "amzn-s3-demo-")) and not name.endswith(("-s3alias",
                                                                                               "--ol-s3", "--x-s3")):
        try:
            ipaddress.IPv4Address(name)
        except ValueError:
            return
    raise S3Error("InvalidBucketName", resource=name, BucketName=name)


def check_key(key: str) -> None:
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise S3Error("KeyTooLongError", Size=len(key.encode("utf-8")), MaxSizeAllowed=MAX_KEY_BYTES)


# sub-resources that name an operation we answer NotImplemented; value: S3 name stem
_SUBRESOURCES = {
    "acl": "Acl", "policy": "Policy", "policyStatus": "PolicyStatus", "versioning": "Versioning",
    "lifecycle": "LifecycleConfiguration", "cors": "Cors", "tagging": "Tagging", "website": "Website",
    "logging": "Logging", "notification": "NotificationConfiguration", "replication": "Replication",
    "encryption": "Encryption", "object-lock": "ObjectLockConfiguration", "requestPayment": "RequestPayment",
    "accelerate": "AccelerateConfiguration", "analytics": "AnalyticsConfiguration",
    "inventory": "InventoryConfiguration", "metrics": "MetricsConfiguration", "ownershipControls":
    "OwnershipControls", "publicAccessBlock": "PublicAccessBlock", "intelligent-tiering":
    "IntelligentTieringConfiguration", "retention": "Retention", "legal-hold": "LegalHold",
    "attributes": "Attributes", "torrent": "Torrent", "restore": "Restore", "select": "Content",
    "renameObject": "Rename", "session": "Session",
}
_VERBS = {"GET": "Get", "PUT": "Put", "DELETE": "Delete", "POST": "Post", "HEAD": "Head"}


def operation(method: str, target: Target, query: dict[str, str], headers: dict[str, str]) -> str:
    """The S3 operation name ("PutObject", ...); unknown methods are MethodNotAllowed."""
    if method not in _VERBS:
        raise S3Error("MethodNotAllowed", Method=method, ResourceType="OBJECT" if target.key else "BUCKET")
    if not target.bucket:
        if method == "GET":
            return "ListBuckets"
        if method == "POST":
            raise S3Error("NotImplemented", "This endpoint serves S3 only (no IAM, STS or other services).")
        raise S3Error("MethodNotAllowed", Method=method, ResourceType="SERVICE")
    for name, stem in _SUBRESOURCES.items():
        if name in query:
            where = "Object" if target.key else "Bucket"
            if name in ("restore", "select"):
                return {"restore": "RestoreObject", "select": "SelectObjectContent"}[name]
            if name == "session":
                return "CreateSession"
            if name == "renameObject":
                return "RenameObject"
            if name == "attributes":
                return "GetObjectAttributes"
            if name == "torrent":
                return "GetObjectTorrent"
            return f"{_VERBS[method]}{where}{stem}"
    if not target.key:
        return _bucket_operation(method, query)
    return _object_operation(method, query, headers)


def _bucket_operation(method: str, query: dict[str, str]) -> str:
    if method == "GET":
        if "location" in query:
            return "GetBucketLocation"
        if "uploads" in query:
            return "ListMultipartUploads"
        if "versions" in query:
            return "ListObjectVersions"
        if query.get("list-type") == "2":
            return "ListObjectsV2"
        return "ListObjects"
    if method == "HEAD":
        return "HeadBucket"
    if method == "PUT":
        return "CreateBucket"
    if method == "DELETE":
        return "DeleteBucket"
    if "delete" in query:
        return "DeleteObjects"
    return "PostObject"


def _object_operation(method: str, query: dict[str, str], headers: dict[str, str]) -> str:
    if method == "PUT":
        if "uploadId" in query or "partNumber" in query:
            return "UploadPartCopy" if "x-amz-copy-source" in headers else "UploadPart"
        return "CopyObject" if "x-amz-copy-source" in headers else "PutObject"
    if method == "GET":
        return "ListParts" if "uploadId" in query else "GetObject"
    if method == "HEAD":
        return "HeadObject"
    if method == "DELETE":
        return "AbortMultipartUpload" if "uploadId" in query else "DeleteObject"
    if "uploads" in query:
        return "CreateMultipartUpload"
    if "uploadId" in query:
        return "CompleteMultipartUpload"
    return "PostObject"
