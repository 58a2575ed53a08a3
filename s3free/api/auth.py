"""Who is asking: SigV4 verification against the configured users, and bucket ownership.

Every user is its own owner: it lists and touches only the buckets it created (until
bucket policies exist). The root user may reach every bucket, as an administrator.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from . import sigv2, sigv4
from .errors import S3Error


@dataclass
class Users:
    secrets: dict[str, str]   # access key -> secret
    root: str = ""

    def lookup(self, access_key: str) -> str | None:
        return self.secrets.get(access_key)


def authenticate(users: Users, scope: dict, header_pairs: list[tuple[bytes, bytes]]) -> sigv4.AuthResult:
    """Verify the request's signature (SigV4 header or presigned, or a SigV2 presigned URL);
    anonymous requests are refused."""
    query = scope.get("query_string", b"").decode("latin-1")
    raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")
    headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in header_pairs]
    if sigv2.is_presigned_v2(query):        # what boto3 / AWS CLI v1 presign by default
        host = next((v for n, v in headers if n.lower() == "host"), "").split(":")[0]
        label = host.split(".")[0] if "." in host and not host.replace(".", "").isdigit() else None
        return sigv2.verify_presigned(scope["method"], raw_path.decode("latin-1"), query, headers, time.time(),
                                      users.lookup, host_bucket=label)
    return sigv4.verify_request(scope["method"], raw_path.decode("latin-1"), query, headers, time.time(),
                                users.lookup)


def check_owner(bucket_owner: str, access_key: str, is_root: bool, bucket: str) -> None:
    if not is_root and bucket_owner != access_key:
        raise S3Error("AccessDenied", resource=f"/{bucket}")
