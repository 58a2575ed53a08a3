"""S3 Signature Version 2 presigned URLs (query string authentication), sans-IO.

boto3 and the AWS CLI v1 still presign S3 URLs this way by default
(`?AWSAccessKeyId=…&Expires=…&Signature=…`), so a server that refuses them breaks
`generate_presigned_url` and `aws s3 presign` for users who changed nothing. Only the
query form is accepted; SigV2 Authorization headers are refused (clients send SigV4).

    StringToSign = VERB \\n Content-MD5 \\n Content-Type \\n Expires \\n
                   CanonicalizedAmzHeaders CanonicalizedResource
    Signature    = Base64(HMAC-SHA1(secret, StringToSign))
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from urllib.parse import parse_qsl, unquote

from .errors import S3Error
from .numbers import decimal
from .sigv4 import UNSIGNED_PAYLOAD, AuthResult

# query parameters that are part of the signed resource (as S3 defines them)
SUB_RESOURCES = frozenset("""acl accelerate analytics cors defaultObjectAcl delete encryption inventory
lifecycle location logging metrics notification object-lock partNumber policy replication
requestPayment response-cache-control response-content-disposition response-content-encoding
response-content-language response-content-type response-expires restore retention select
select-type storageClass tagging torrent uploadId uploads versionId versioning versions website""".split())


def is_presigned_v2(raw_query: str) -> bool:
    return "Signature=" in raw_query and "AWSAccessKeyId=" in raw_query


def _resource(path: str, query: list[tuple[str, str]]) -> str:
    subs = sorted((k, v) for k, v in query if k in SUB_RESOURCES)
    if not subs:
        return path
    return path + "?" + "&".join(f"{k}={v}" if v != "" else k for k, v in subs)


def verify_presigned(method: str, raw_path: str, raw_query: str, headers: list[tuple[str, str]], now: float,
                     lookup_secret, host_bucket: str | None = None) -> AuthResult:
    """Verify a SigV2 presigned request; returns an AuthResult (payload unsigned)."""
    query = parse_qsl(raw_query, keep_blank_values=True)
    params = dict(query)
    access, expires, signature = params.get("AWSAccessKeyId"), params.get("Expires"), params.get("Signature")
    if not access or not expires or not signature:
        raise S3Error("AccessDenied", "Query-string authentication requires the Signature, Expires and "
                      "AWSAccessKeyId parameters")
    expiry = decimal(expires)
    if expiry is None:
        raise S3Error("AccessDenied", "Invalid date (should be seconds since epoch)")
    if expiry < now:
        raise S3Error("AccessDenied", "Request has expired")
    secret = lookup_secret(access)
    if secret is None:
        raise S3Error("InvalidAccessKeyId")
    hdrs: dict[str, str] = {}
    for name, value in headers:
        hdrs.setdefault(name.lower(), value.strip())
    amz = "".join(f"{k}:{hdrs[k]}\n" for k in sorted(h for h in hdrs if h.startswith("x-amz-")))
    head = f"{method}\n{hdrs.get('content-md5', '')}\n{hdrs.get('content-type', '')}\n{expires}\n{amz}"
    # the resource as the client signed it: path-style, or /bucket + path when the bucket
    # is in the Host name (virtual-hosted style)
    candidates = [raw_path, unquote(raw_path)]
    if host_bucket:
        candidates += ["/" + host_bucket + raw_path, "/" + host_bucket + unquote(raw_path)]
    try:
        want = base64.b64decode(signature.rstrip("=") + "=" * (-len(signature.rstrip("=")) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise S3Error("SignatureDoesNotMatch", "The signature is not valid base64") from None
    for path in candidates:
        string_to_sign = head + _resource(path, query)
        mac = hmac.new(secret.encode(), string_to_sign.encode("utf-8"), hashlib.sha1).digest()
        if hmac.compare_digest(mac, want):
            return AuthResult(access_key=access, region="", scope="", amz_date="", seed_signature="",
                              payload=UNSIGNED_PAYLOAD, signed_headers=(), presigned=True, signing_key=b"")
    raise S3Error("SignatureDoesNotMatch", StringToSign=head + _resource(raw_path, query))
