# SigV4 for the common request, compiled: an Authorization header, a plain path and query,
# one value per header. Building the canonical request in Python was ~20 % of a small
# GET's interpreter time. Anything unusual -- and every failure -- returns None, and the
# caller runs the full Python verifier (s3free/api/sigv4.py), which owns every error
# message and the alternative canonical forms. So this may only ever say "yes" when
# that verifier would say yes for the same reason; tests/unit/api/test_sigv4_fast.py
# checks the two agree.
import hashlib as _hashlib
import hmac as _hmac_mod

cdef bytes _ALGORITHM = b"AWS4-HMAC-SHA256"
cdef bytes _UNSIGNED = b"UNSIGNED-PAYLOAD"
cdef tuple _STREAMING = (b"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", b"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
                         b"STREAMING-UNSIGNED-PAYLOAD-TRAILER")
_sha256 = _hashlib.sha256
_hmac_digest = _hmac_mod.digest
_compare = _hmac_mod.compare_digest


cdef inline bint _unreserved(unsigned char c) noexcept:
    return (c'A' <= c <= c'Z') or (c'a' <= c <= c'z') or (c'0' <= c <= c'9') or c in b"-._~"


cdef inline bint _upper_hex(unsigned char c) noexcept:
    return (c'0' <= c <= c'9') or (c'A' <= c <= c'F')


cdef bint _clean(bytes raw, bint slash):
    """Only unreserved bytes (and '/' if `slash`) or %XX with upper-case hex: what the
    canonical form keeps exactly as sent."""
    cdef const unsigned char* p = raw
    cdef Py_ssize_t i = 0, n = len(raw)
    while i < n:
        if _unreserved(p[i]) or (slash and p[i] == c'/'):
            i += 1
        elif p[i] == c'%' and i + 2 < n and _upper_hex(p[i + 1]) and _upper_hex(p[i + 2]):
            i += 3
        else:
            return False
    return True


cdef bint _plain_name(bytes name):
    """A non-empty header name already in canonical form: ASCII, lower case, no whitespace."""
    cdef const unsigned char* p = name
    cdef Py_ssize_t i, n = len(name)
    if n == 0:
        return False
    for i in range(n):
        if p[i] >= 0x80 or (c'A' <= p[i] <= c'Z') or p[i] <= c' ':
            return False
    return True


cdef bint _hex64(bytes value):
    cdef const unsigned char* p = value
    cdef Py_ssize_t i
    if len(value) != 64:
        return False
    for i in range(64):
        if not ((c'0' <= p[i] <= c'9') or (c'a' <= p[i] <= c'f') or (c'A' <= p[i] <= c'F')):
            return False
    return True


cdef inline bint _digits(const unsigned char* p, Py_ssize_t n) noexcept:
    cdef Py_ssize_t i
    for i in range(n):
        if not (c'0' <= p[i] <= c'9'):
            return False
    return True


cdef inline int _num(const unsigned char* p, Py_ssize_t n) noexcept:
    cdef int v = 0
    cdef Py_ssize_t i
    for i in range(n):
        v = v * 10 + (p[i] - c'0')
    return v


cdef long long _days_since_epoch(int y, int m, int d) noexcept:
    """Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (y >= 1)."""
    cdef long long yy = y - (1 if m <= 2 else 0)
    cdef long long era = yy // 400
    cdef long long yoe = yy - era * 400
    cdef long long mp = (m + 9) % 12
    cdef long long doy = (153 * mp + 2) // 5 + d - 1
    cdef long long doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


cdef bint _valid_day(int y, int m, int d) noexcept:
    cdef int days
    if y < 1 or m < 1 or m > 12 or d < 1:
        return False
    if m == 2:
        days = 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28
    elif m in (4, 6, 9, 11):
        days = 30
    else:
        days = 31
    return d <= days


cdef object _amz_seconds(bytes stamp):
    """Seconds since the epoch of a "yyyyMMdd'T'HHmmss'Z'" stamp, or None."""
    cdef const unsigned char* p = stamp
    if len(stamp) != 16 or p[8] != c'T' or p[15] != c'Z' or not _digits(p, 8) or not _digits(p + 9, 6):
        return None
    cdef int y = _num(p, 4), mo = _num(p + 4, 2), d = _num(p + 6, 2)
    cdef int h = _num(p + 9, 2), mi = _num(p + 11, 2), s = _num(p + 13, 2)
    if not _valid_day(y, mo, d) or h > 23 or mi > 59 or s > 59:
        return None
    return float(_days_since_epoch(y, mo, d) * 86400 + h * 3600 + mi * 60 + s)


cdef bytes _trim(bytes value):
    """Strip spaces and tabs; None if inner whitespace would need collapsing (the Python
    verifier handles those)."""
    cdef const unsigned char* p = value
    cdef Py_ssize_t a = 0, z = len(value), i
    while a < z and (p[a] == c' ' or p[a] == c'\t'):
        a += 1
    while z > a and (p[z - 1] == c' ' or p[z - 1] == c'\t'):
        z -= 1
    for i in range(a, z):
        if p[i] == c'\t' or p[i] == c'\r' or p[i] == c'\n' or (p[i] == c' ' and i + 1 < z and p[i + 1] == c' '):
            return None
    if a == 0 and z == len(value):
        return value
    return value[a:z]


def sigv4_verify_fast(method, path, query, headers, key_for, double now, int max_skew):
    """Verify a plain Authorization-header SigV4 request; (access_key, region, amz_date,
    signature, payload, signed_names, signing_key) if it verifies, else None (then ask
    the full verifier). Never raises for odd input: None means "let the verifier decide".

    `headers` are ASGI's (name, value) byte pairs; `key_for(access_key, date, region)` gives
    the signing key, or None for an unknown key."""
    if type(method) is not bytes or type(path) is not bytes or type(query) is not bytes:
        return None
    try:
        return _verify(method, path, query, headers, key_for, now, max_skew)
    except Exception:
        return None


cdef object _verify(bytes method, bytes path, bytes query, headers, key_for, double now, int max_skew):
    cdef dict hdrs = {}
    cdef bytes name, value, item
    if not method.isascii():
        return None                           # str.upper() of latin-1 differs from bytes.upper()
    for pair in headers:
        if type(pair) is not tuple or len(<tuple>pair) != 2:
            return None                       # (ASGI allows lists too: the verifier takes those)
        if type((<tuple>pair)[0]) is not bytes or type((<tuple>pair)[1]) is not bytes:
            return None
        name, value = <tuple>pair
        if name in hdrs or not _plain_name(name):
            return None                       # repeated or unusual names: the full verifier
        hdrs[name] = value
    auth = hdrs.get(b"authorization")
    stamp = hdrs.get(b"x-amz-date")
    sha = hdrs.get(b"x-amz-content-sha256")
    if auth is None or stamp is None or sha is None or not (<bytes>auth).isascii():
        return None                           # non-ASCII: str.strip() and bytes.strip() differ
    # Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...
    head, _, rest = (<bytes>auth).strip().partition(b" ")
    if head != _ALGORITHM:
        return None
    cdef bytes credential = None, signed_text = None, signature = None
    for item in rest.split(b","):
        key, eq, val = item.strip().partition(b"=")
        if not eq:
            return None
        val = val.strip()
        if key == b"Credential" and credential is None:
            credential = val
        elif key == b"SignedHeaders" and signed_text is None:
            signed_text = val
        elif key == b"Signature" and signature is None:
            signature = val
        else:
            return None
    if credential is None or signed_text is None or signature is None:
        return None
    parts = credential.rsplit(b"/", 4)
    if len(parts) != 5 or not all(parts[:4]) or parts[3] != b"s3" or parts[4] != b"aws4_request":
        return None
    access_key, date, region = parts[0], parts[1], parts[2]
    stamp = (<bytes>stamp).strip()
    seconds = _amz_seconds(stamp)
    if seconds is None or date != stamp[:8] or abs(now - seconds) > max_skew:
        return None
    sha = (<bytes>sha).strip()
    if sha == _UNSIGNED or sha in _STREAMING:
        payload = sha
    elif _hex64(sha):
        payload = sha.lower()
    else:
        return None
    names = signed_text.split(b";")
    if b"host" not in names:
        return None
    for name in names:
        if not _plain_name(name):
            return None
    for name in hdrs:
        if name.startswith(b"x-amz-") and name != b"x-amz-content-sha256" and name not in names:
            return None                       # unsigned x-amz-* header: refused by the full verifier
    # the canonical request, from the bytes as sent
    if b"Signature=" in query and b"AWSAccessKeyId=" in query:
        return None                           # a SigV2 presigned URL wins (auth.authenticate)
    if not _clean(path, True):
        return None
    uri = path or b"/"
    pairs = []
    if query:
        for item in query.split(b"&"):
            if not item:
                continue
            key, _, val = item.partition(b"=")
            if (not _clean(key, False) or not _clean(val, False) or b"%" in key
                    or key.startswith(b"X-Amz-") or key == b"AWSAccessKeyId" or key == b"Signature"):
                return None
            pairs.append((key, val))
        pairs.sort()
    block = []
    for name in names:
        value = hdrs.get(name, b"")
        value = _trim(value)
        if value is None:
            return None
        block.append(name + b":" + value + b"\n")
    canonical = b"\n".join((method.upper(), uri, b"&".join([k + b"=" + v for k, v in pairs]),
                            b"".join(block), signed_text, sha))
    signing_key = key_for(access_key.decode("latin-1"), date.decode("latin-1"), region.decode("latin-1"))
    if signing_key is None:
        return None
    scope = date + b"/" + region + b"/s3/aws4_request"
    to_sign = b"\n".join((_ALGORITHM, stamp, scope, _sha256(canonical).hexdigest().encode("ascii")))
    expected = _hmac_digest(signing_key, to_sign, "sha256").hex().encode("ascii")
    if not _compare(expected, signature.lower()):
        return None
    return (access_key.decode("latin-1"), region.decode("latin-1"), stamp.decode("latin-1"),
            signature.decode("latin-1"), payload.decode("latin-1"), tuple([n.decode("latin-1") for n in names]),
            signing_key)
