"""AWS Signature Version 4 verification for S3, sans-IO.

`verify_request` takes a request as it arrived (method, raw path, raw query,
header pairs), the current time and a secret lookup, and either returns an
`AuthResult` or raises `S3Error`. It never reads the body: the result says how
the body is protected (`payload`) and carries what the caller needs to check
it — a `PayloadHasher` for a signed single-chunk body, or the seed signature
and signing key for `chunked.AwsChunkedDecoder`.

Inputs are `str` holding the wire bytes decoded as latin-1 (ASGI's `raw_path`,
`query_string` and header bytes `.decode("latin-1")`); a `str` that is not
latin-1 is taken as text and UTF-8 encoded.

Canonicalisation follows S3, which differs from other services: the path is
not normalised ('//' and '/./' stay) and not double-encoded. Clients sign the
path and query as they send them, so we canonicalise the raw bytes (only
fixing percent-encoding: upper-case hex, encode what is not unreserved). A few
clients sign the decoded-and-re-encoded form instead; when the first try does
not match and those forms differ, they are tried too. Every form decodes to
the same path and query, so accepting either cannot change what was authorised.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote, unquote_to_bytes

from .errors import S3Error
from .numbers import decimal

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "s3"
TERMINATOR = "aws4_request"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_PAYLOAD_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_MODES = (STREAMING_PAYLOAD, STREAMING_PAYLOAD_TRAILER, STREAMING_UNSIGNED_TRAILER)
_ECDSA_MODES = (
    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER",
)

MAX_SKEW_SECONDS = 15 * 60
MAX_EXPIRES_SECONDS = 7 * 24 * 3600

_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}\Z")
_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z\Z")
_WS = re.compile(r"[ \t\r\n\f\v]+")
_CLEAN = re.compile(rb"(?:[A-Za-z0-9._~/-]|%[0-9A-F]{2})*\Z")
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEXDIGITS = frozenset(b"0123456789abcdefABCDEF")
_PRESIGN_PARAMS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date",
                   "X-Amz-SignedHeaders", "X-Amz-Expires")
_UNSUPPORTED = "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."


@dataclass(slots=True)      # one per request: plain slots (a frozen init costs ~3x)
class AuthResult:
    """What a verified request proved, and what the body still has to prove.

    `payload` is the x-amz-content-sha256 value: a lower-case hex digest (the
    body must hash to it: use `payload_hasher()`), UNSIGNED-PAYLOAD, or one of
    the STREAMING_* modes (decode the body with `chunked.AwsChunkedDecoder`,
    passing this object as `signing`).
    """

    access_key: str
    region: str
    scope: str  # "20130524/us-east-1/s3/aws4_request"
    amz_date: str  # "20130524T000000Z"
    seed_signature: str
    payload: str
    signed_headers: tuple[str, ...]
    presigned: bool
    signing_key: bytes = field(repr=False)

    @property
    def streaming(self) -> bool:
        return self.payload in STREAMING_MODES

    def payload_hasher(self) -> PayloadHasher | None:
        """A hasher the body must match, or None when the payload is not a digest."""
        return PayloadHasher(self.payload) if _SHA256_HEX.match(self.payload) else None


class PayloadHasher:
    """Streams the body through SHA-256 and checks it against x-amz-content-sha256."""

    __slots__ = ("_expected", "_hash")

    def __init__(self, expected_hex: str) -> None:
        self._expected = expected_hex.lower()
        self._hash = hashlib.sha256()

    def update(self, data: bytes) -> None:
        self._hash.update(data)

    def finish(self) -> str:
        """Return the digest, or raise XAmzContentSHA256Mismatch."""
        digest = self._hash.hexdigest()
        if not hmac.compare_digest(digest, self._expected):
            raise S3Error("XAmzContentSHA256Mismatch",
                          ClientComputedContentSHA256=self._expected, S3ComputedContentSHA256=digest)
        return digest


@functools.lru_cache(maxsize=256)
def signing_key(secret: str, date: str, region: str, service: str = SERVICE) -> bytes:
    """kSigning = HMAC chain over date, region, service, "aws4_request"; valid for one day."""
    key = _hmac(("AWS4" + secret).encode("utf-8"), date)
    for part in (region, service, TERMINATOR):
        key = _hmac(key, part)
    return key


def verify_request(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Iterable[tuple[str, str]],
    now: float | datetime,
    lookup_secret: Callable[[str], str | None],
    *,
    max_skew: int = MAX_SKEW_SECONDS,
) -> AuthResult:
    """Verify a SigV4 request (Authorization header or presigned URL); raise S3Error if it fails."""
    now_ts = now.timestamp() if isinstance(now, datetime) else float(now)
    hdrs: dict[str, list[str]] = {}
    for name, value in headers:
        hdrs.setdefault(name.strip().lower(), []).append(value)
    pairs = _split_query(_wire(raw_query))
    keys = {unquote(k.decode("latin-1")) for k, _ in pairs} if pairs else set()

    authorization = hdrs.get("authorization")
    query_auth = "X-Amz-Algorithm" in keys or "X-Amz-Credential" in keys
    v2_query = "AWSAccessKeyId" in keys and "Signature" in keys
    if authorization and (query_auth or v2_query):
        raise S3Error("InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm query "
                      "parameter, Signature query string parameter or the Authorization header should be specified")
    if authorization:
        req = _from_header(",".join(authorization), hdrs)
    elif query_auth:
        req = _from_query(_query_params(pairs), hdrs)
        pairs = [(k, v) for k, v in pairs if unquote(k.decode("latin-1")) != "X-Amz-Signature"]
    elif v2_query:
        raise S3Error("InvalidRequest", _UNSUPPORTED)
    else:
        raise S3Error("AccessDenied")
    _check_time(req, now_ts, max_skew)

    secret = lookup_secret(req.access_key)
    if secret is None:
        raise S3Error("InvalidAccessKeyId", AWSAccessKeyId=req.access_key)
    key = signing_key(secret, req.amz_date[:8], req.region)
    scope = f"{req.amz_date[:8]}/{req.region}/{SERVICE}/{TERMINATOR}"
    _check_signature(req, method, _wire(raw_path), pairs, hdrs, key, scope)

    unsigned = sorted(n for n in hdrs if n.startswith("x-amz-") and n not in req.signed
                      and n != "x-amz-content-sha256")
    if unsigned:
        raise S3Error("AccessDenied", "There were headers present in the request which were not signed",
                      HeadersNotSigned=", ".join(unsigned))
    return AuthResult(access_key=req.access_key, region=req.region, scope=scope, amz_date=req.amz_date,
                      seed_signature=req.signature.lower(), payload=req.payload,
                      signed_headers=tuple(req.signed), presigned=req.expires is not None, signing_key=key)


@dataclass
class _Parsed:
    access_key: str
    region: str
    signed: list[str]
    signature: str
    amz_date: str
    canonical_payload: str  # the hash line of the canonical request
    payload: str  # how the body is protected
    seconds: float  # amz_date as seconds since the epoch
    expires: int | None = None  # presigned only


def _check_time(req: _Parsed, now: float, max_skew: int) -> None:
    if req.expires is None:
        if abs(now - req.seconds) > max_skew:
            raise S3Error("RequestTimeTooSkewed", RequestTime=req.amz_date, ServerTime=_iso(now),
                          MaxAllowedSkewMilliseconds=max_skew * 1000)
        return
    if req.seconds - now > max_skew:
        raise S3Error("AccessDenied", "Request is not yet valid",
                      extra={"X-Amz-Date": req.amz_date, "ServerTime": _iso(now)})
    if req.expires == 0 or now > req.seconds + req.expires:
        raise S3Error("AccessDenied", "Request has expired", extra={
            "X-Amz-Expires": req.expires, "Expires": _iso(req.seconds + req.expires), "ServerTime": _iso(now)})


def _check_signature(req: _Parsed, method: str, path: bytes, pairs: list[tuple[bytes, bytes]],
                     hdrs: dict[str, list[str]], key: bytes, scope: str) -> None:
    header_block = "".join(f"{n}:{','.join(_trimall(v) for v in hdrs.get(n, ()))}\n" for n in req.signed)
    tail = f"{header_block}\n{';'.join(req.signed)}\n{req.canonical_payload}"
    head = f"{ALGORITHM}\n{req.amz_date}\n{scope}\n"
    provided = _wire(req.signature.lower())
    first = ""
    for uri, query in _candidates(path, pairs):
        canonical = f"{method.upper()}\n{uri}\n{query}\n{tail}"
        string_to_sign = head + hashlib.sha256(_wire(canonical)).hexdigest()
        expected = hmac.digest(key, _wire(string_to_sign), "sha256").hex()
        if hmac.compare_digest(expected.encode("ascii"), provided):
            return
        first = first or canonical
    raise S3Error("SignatureDoesNotMatch", AWSAccessKeyId=req.access_key,
                  StringToSign=head + hashlib.sha256(_wire(first)).hexdigest(),
                  SignatureProvided=req.signature, CanonicalRequest=first)


def _from_header(value: str, hdrs: dict[str, list[str]]) -> _Parsed:
    def malformed(why: str) -> S3Error:
        return S3Error("AuthorizationHeaderMalformed", f"The authorization header is malformed; {why}")

    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise S3Error("InvalidRequest", _UNSUPPORTED)
    fields: dict[str, str] = {}
    for item in rest.split(","):
        name, eq, val = item.strip().partition("=")
        if eq and name in ("Credential", "SignedHeaders", "Signature"):
            fields[name] = val.strip()
    if len(fields) != 3:
        raise malformed("the authorization header requires three components: "
                        "Credential, SignedHeaders, and Signature.")
    access_key, date, region = _parse_credential(fields["Credential"], malformed)

    if "x-amz-date" in hdrs:
        amz_date = hdrs["x-amz-date"][0].strip()
    elif "date" in hdrs:
        amz_date = _http_date_to_amz(hdrs["date"][0])
    else:
        amz_date = ""
    seconds = _amz_date_seconds(amz_date)
    if seconds is None:
        raise S3Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
    if date != amz_date[:8]:
        raise malformed("Invalid credential date. Date is not the same as X-Amz-Date.")

    sha = hdrs.get("x-amz-content-sha256")
    if not sha:
        raise S3Error("InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
    payload = _check_payload_mode(sha[0].strip())
    signed = _parse_signed_headers(fields["SignedHeaders"], malformed)
    return _Parsed(access_key, region, signed, fields["Signature"], amz_date, sha[0].strip(), payload, seconds)


def _from_query(params: dict[str, list[str]], hdrs: dict[str, list[str]]) -> _Parsed:
    def malformed(why: str) -> S3Error:
        return S3Error("AuthorizationQueryParametersError", why)

    if any(len(params.get(p, ())) != 1 for p in _PRESIGN_PARAMS):
        raise malformed("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
                        "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
    get = {p: params[p][0] for p in _PRESIGN_PARAMS}
    if get["X-Amz-Algorithm"] != ALGORITHM:
        raise malformed('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    access_key, date, region = _parse_credential(
        get["X-Amz-Credential"], lambda why: malformed(f"Error parsing the X-Amz-Credential parameter; {why}"))
    amz_date = get["X-Amz-Date"]
    seconds = _amz_date_seconds(amz_date)
    if seconds is None:
        raise malformed("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    if date != amz_date[:8]:
        raise malformed(f'Invalid credential date "{date}". This date is not the same as X-Amz-Date: "{amz_date[:8]}".')
    expires = get["X-Amz-Expires"]
    if expires.startswith("-") and expires[1:].isdigit():
        raise malformed("X-Amz-Expires must be non-negative")
    if not (expires.isascii() and expires.isdigit()):
        raise malformed("X-Amz-Expires should be a number")
    lifetime = decimal(expires)
    if lifetime is None or lifetime > MAX_EXPIRES_SECONDS:
        raise malformed("X-Amz-Expires must be less than a week (in seconds); that is, "
                        "the given X-Amz-Expires must be less than 604800 seconds")
    # Presigned URLs carry no payload hash unless the signer chose one (header or query).
    sha = (hdrs.get("x-amz-content-sha256") or params.get("X-Amz-Content-Sha256") or [UNSIGNED_PAYLOAD])[0].strip()
    payload = _check_payload_mode(sha)
    signed = _parse_signed_headers(get["X-Amz-SignedHeaders"], malformed)
    return _Parsed(access_key, region, signed, get["X-Amz-Signature"], amz_date, sha, payload, seconds,
                   lifetime)


def _parse_credential(value: str, malformed: Callable[[str], S3Error]) -> tuple[str, str, str]:
    parts = value.strip().rsplit("/", 4)
    if len(parts) != 5 or not all(parts[:4]):
        raise malformed('the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".')
    access_key, date, region, service, terminator = parts
    if not (len(date) == 8 and date.isascii() and date.isdigit()):
        raise malformed(f'incorrect date format "{date}". This date in the credential must be in the format '
                        '"yyyyMMdd".')
    if service != SERVICE:
        raise malformed(f'incorrect service "{service}". This endpoint belongs to "{SERVICE}".')
    if terminator != TERMINATOR:
        raise malformed(f'incorrect terminal "{terminator}". This endpoint uses "{TERMINATOR}".')
    return access_key, date, region


def _parse_signed_headers(value: str, malformed: Callable[[str], S3Error]) -> list[str]:
    names = [n.strip().lower() for n in value.split(";")]
    if not all(names):
        raise malformed("the SignedHeaders list is mal-formed.")
    if "host" not in names:
        raise malformed("the host header must be signed.")
    return names


def _check_payload_mode(value: str) -> str:
    if _SHA256_HEX.match(value):
        return value.lower()
    if value == UNSIGNED_PAYLOAD or value in STREAMING_MODES:
        return value
    if value in _ECDSA_MODES:
        raise S3Error("NotImplemented", "SigV4a (ECDSA) streaming signatures are not supported.")
    raise S3Error("InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                  "STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
                  "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.")


def _candidates(path: bytes, pairs: list[tuple[bytes, bytes]]) -> Iterator[tuple[str, str]]:
    """Canonical (URI, query) forms to try: the raw-as-sent one first, the others only if it fails."""
    uri = _normalize(path, b"/") or "/"
    query = _sorted_query((_normalize(k, b""), _normalize(v, b"")) for k, v in pairs)
    yield uri, query
    uris = _unique([uri, quote(unquote_to_bytes(path), safe="/~") or "/"])
    queries = _unique([
        query,
        _sorted_query((quote(unquote_to_bytes(k), safe="~"), quote(unquote_to_bytes(v), safe="~"))
                      for k, v in pairs),
        _sorted_query((k.decode("latin-1"), v.decode("latin-1")) for k, v in pairs),
    ])
    for other_uri in uris:
        for other_query in queries:
            if (other_uri, other_query) != (uri, query):
                yield other_uri, other_query


def _normalize(raw: bytes, keep: bytes) -> str:
    """Percent-encode what is not unreserved (or in `keep`), upper-case existing escapes; decode nothing."""
    if _CLEAN.match(raw) and (b"/" in keep or b"/" not in raw):
        return raw.decode("ascii")
    out = []
    i, n = 0, len(raw)
    while i < n:
        b = raw[i]
        if b == 0x25 and i + 2 < n and raw[i + 1] in _HEXDIGITS and raw[i + 2] in _HEXDIGITS:
            out.append("%" + raw[i + 1:i + 3].decode("ascii").upper())
            i += 3
            continue
        out.append(chr(b) if b in _UNRESERVED or b in keep else f"%{b:02X}")
        i += 1
    return "".join(out)


def _sorted_query(pairs: Iterable[tuple[str, str]]) -> str:
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _query_params(pairs: list[tuple[bytes, bytes]]) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for key, value in pairs:
        params.setdefault(unquote(key.decode("latin-1")), []).append(unquote(value.decode("latin-1")))
    return params


def _split_query(raw: bytes) -> list[tuple[bytes, bytes]]:
    pairs = []
    for item in raw.split(b"&"):
        if item:
            key, _, value = item.partition(b"=")
            pairs.append((key, value))
    return pairs


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _trimall(value: str) -> str:
    """Trim and collapse whitespace runs to one space (ASCII whitespace only: values are wire bytes)."""
    value = value.strip(" \t")
    if "  " in value or "\t" in value or "\r" in value or "\n" in value:
        value = _WS.sub(" ", value).strip(" ")
    return value


def _wire(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.digest(key, msg.encode("utf-8"), "sha256")


@functools.lru_cache(maxsize=64)      # every request of a second carries the same stamp
def _amz_date_seconds(value: str) -> float | None:
    """Seconds since the epoch of a "yyyyMMdd'T'HHmmss'Z'" stamp, or None if it is not one."""
    if not _AMZ_DATE.match(value):
        return None
    try:
        when = datetime(int(value[0:4]), int(value[4:6]), int(value[6:8]),
                        int(value[9:11]), int(value[11:13]), int(value[13:15]), tzinfo=timezone.utc)
    except ValueError:
        return None
    return when.timestamp()


def _http_date_to_amz(value: str) -> str:
    try:
        when = parsedate_to_datetime(value.strip())
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    except (TypeError, ValueError, IndexError, OverflowError):    # Overflow: 9999-12-31 at -2359 is year 10000 in UTC
        raise S3Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header") from None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
