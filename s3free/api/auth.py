"""Who is asking: SigV4 verification against the configured users, and bucket ownership.

Every user is its own owner: it lists and touches only the buckets it created (until
bucket policies exist). The root user may reach every bucket, as an administrator.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from s3free.native import sigv4_verify_fast

from . import sigv2, sigv4
from .errors import S3Error


@dataclass
class Users:
    secrets: dict[str, str]   # access key -> secret
    root: str = ""

    def lookup(self, access_key: str) -> str | None:
        return self.secrets.get(access_key)

    def signing_key(self, access_key: str, date: str, region: str) -> bytes | None:
        """The SigV4 signing key for that day and region, or None for an unknown access key."""
        secret = self.secrets.get(access_key)
        return None if secret is None else sigv4.signing_key(secret, date, region)


def authenticate(users: Users, scope: dict, header_pairs: list[tuple[bytes, bytes]]) -> sigv4.AuthResult:
    """Verify the request's signature (SigV4 header or presigned, or a SigV2 presigned URL);
    anonymous requests are refused. The common SigV4 request is verified by compiled code;
    anything else, and every failure, by the full Python verifier (which says why)."""
    raw_query = scope.get("query_string", b"")
    raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")
    now = time.time()
    fast = sigv4_verify_fast(scope["method"].encode("latin-1"), raw_path, raw_query, header_pairs,
                             users.signing_key, now, sigv4.MAX_SKEW_SECONDS)
    if fast is not None:
        access_key, region, amz_date, signature, payload, signed, key = fast
        return sigv4.AuthResult(access_key, region, f"{amz_date[:8]}/{region}/{sigv4.SERVICE}/{sigv4.TERMINATOR}",
                                amz_date, signature.lower(), payload, signed, False, key)
    query = raw_query.decode("latin-1")
    headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in header_pairs]
    # what boto3 / AWS CLI v1 presign by default; with an Authorization header as well, the
    # SigV4 verifier refuses the pair (only one auth mechanism allowed)
    if sigv2.is_presigned_v2(query) and not any(n.lower() == "authorization" for n, _ in headers):
        host = next((v for n, v in headers if n.lower() == "host"), "").split(":")[0]
        label = host.split(".")[0] if "." in host and not host.replace(".", "").isdigit() else None
        return sigv2.verify_presigned(scope["method"], raw_path.decode("latin-1"), query, headers, now,
                                      users.lookup, host_bucket=label)
    return sigv4.verify_request(scope["method"], raw_path.decode("latin-1"), query, headers, now, users.lookup)


def check_owner(bucket_owner: str, access_key: str, is_root: bool, bucket: str) -> None:
    if not is_root and bucket_owner != access_key:
        raise S3Error("AccessDenied", resource=f"/{bucket}")
