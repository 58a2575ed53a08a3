"""The compiled SigV4 path (ext/sigv4.pyx) agrees with the Python verifier.

It may only ever accept what `sigv4.verify_request` accepts, with the same result; for
anything it is unsure of it answers None and the Python verifier decides (and explains).
"""

import time
from datetime import datetime, timezone
from unittest import mock
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from s3free.api import auth, sigv4
from s3free.api.errors import S3Error
from s3free.native import sigv4_verify_fast

AK, SK = "fastkey", "fast-secret-123"
USERS = auth.Users({AK: SK, "other": "other-secret"}, AK)


def signed(method="GET", url="http://127.0.0.1:9000/bucket/key", headers=(), payload="UNSIGNED-PAYLOAD",
           when=None):
    """ASGI-shaped (path, query, header pairs) of a botocore-signed request."""
    req = AWSRequest(method=method, url=url, data=b"")
    for name, value in headers:
        req.headers[name] = value
    req.headers["X-Amz-Content-SHA256"] = payload
    req.context["payload_signing_enabled"] = False
    signer = S3SigV4Auth(Credentials(AK, SK), "s3", "us-east-1")
    if when is None:
        signer.add_auth(req)
    else:
        stamp = datetime.fromtimestamp(when, timezone.utc).replace(tzinfo=None)
        with mock.patch("botocore.auth.get_current_datetime", return_value=stamp):
            signer.add_auth(req)
    prepared = req.prepare()
    parts = urlsplit(prepared.url)
    pairs = [(k.lower().encode("latin-1"), v.encode("latin-1") if isinstance(v, str) else v)
             for k, v in prepared.headers.items()]
    if not any(k == b"host" for k, _ in pairs):
        pairs.append((b"host", parts.netloc.encode()))
    return parts.path.encode(), parts.query.encode(), pairs


def slow(method, path, query, pairs, now):
    return sigv4.verify_request(method, path.decode("latin-1"), query.decode("latin-1"),
                                [(k.decode("latin-1"), v.decode("latin-1")) for k, v in pairs], now, USERS.lookup)


def fast(method, path, query, pairs, now):
    return sigv4_verify_fast(method.encode(), path, query, pairs, USERS.signing_key, now, sigv4.MAX_SKEW_SECONDS)


def agree(method, path, query, pairs, now=None):
    """Assert the invariant; return what the fast path said (None or its tuple)."""
    now = time.time() if now is None else now
    got = fast(method, path, query, pairs, now)
    try:
        want = slow(method, path, query, pairs, now)
    except S3Error:
        assert got is None, "the compiled path accepted what the verifier refuses"
        return None
    if got is not None:
        access_key, region, amz_date, signature, payload, names, key = got
        assert (access_key, region, amz_date, signature.lower(), payload, names, key) == (
            want.access_key, want.region, want.amz_date, want.seed_signature, want.payload, want.signed_headers,
            want.signing_key)
    return got


COMMON = [
    ("GET", "http://127.0.0.1:9000/bucket/key", ()),
    ("GET", "http://127.0.0.1:9000/bucket/dir/sub/file.txt", [("Range", "bytes=0-9")]),
    ("PUT", "http://127.0.0.1:9000/bucket/obj-000123", [("Content-Type", "text/plain"), ("X-Amz-Meta-Color", "blue")]),
    ("HEAD", "http://127.0.0.1:9000/bucket/a%20b", ()),
    ("DELETE", "http://127.0.0.1:9000/bucket/key", ()),
    ("GET", "http://127.0.0.1:9000/bucket?list-type=2&prefix=logs&max-keys=100", ()),
    ("GET", "http://127.0.0.1:9000/", ()),
    ("POST", "http://127.0.0.1:9000/bucket/key?uploads", ()),
    ("PUT", "http://127.0.0.1:9000/bucket/key?partNumber=3&uploadId=abc-DEF_1.2", [("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg==")]),
]


@pytest.mark.parametrize("method,url,headers", COMMON)
@pytest.mark.parametrize("payload", ["UNSIGNED-PAYLOAD", sigv4.EMPTY_SHA256, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"])
def test_what_clients_send_takes_the_compiled_path_with_the_same_result(method, url, headers, payload):
    path, query, pairs = signed(method, url, headers, payload)
    assert agree(method, path, query, pairs) is not None


def test_awkward_but_valid_requests_go_to_the_verifier_which_accepts_them():
    path, query, pairs = signed("GET", "http://127.0.0.1:9000/bucket/key", [("X-Amz-Meta-Note", "a  b")])
    assert agree("GET", path, query, pairs) is None          # inner spaces: collapsed by the verifier only
    path, query, pairs = signed("GET", "http://127.0.0.1:9000/bucket/key")
    assert agree("GET", path, query, pairs + [(b"x-custom", b"1"), (b"x-custom", b"2")]) is None   # repeated
    assert slow("GET", path, query, pairs + [(b"x-custom", b"1"), (b"x-custom", b"2")], time.time())
    path, query, pairs = signed("GET", "http://127.0.0.1:9000/bucket/k%2fey")                   # lower-case escape
    assert agree("GET", path, query, pairs) is None


@pytest.mark.parametrize("mutate", [
    "signature", "tampered header", "unsigned x-amz header", "stale date", "unknown key", "other key's secret",
    "path", "query", "method", "no host signed", "sigv2 query", "presign query", "credential service",
])
def test_every_refusal_is_left_to_the_verifier(mutate):
    path, query, pairs = signed("PUT", "http://127.0.0.1:9000/bucket/key?partNumber=1&uploadId=x",
                                [("X-Amz-Meta-A", "1")])
    now, method = time.time(), "PUT"

    def edit(name, fn):
        return [(k, fn(v) if k == name else v) for k, v in pairs]

    if mutate == "signature":
        pairs = edit(b"authorization", lambda v: v[:-1] + (b"0" if v[-1:] != b"0" else b"1"))
    elif mutate == "tampered header":
        pairs = edit(b"x-amz-meta-a", lambda v: b"2")
    elif mutate == "unsigned x-amz header":
        pairs = pairs + [(b"x-amz-meta-extra", b"1")]
    elif mutate == "stale date":
        now += 3600
    elif mutate == "unknown key":
        pairs = edit(b"authorization", lambda v: v.replace(AK.encode(), b"nobody"))
    elif mutate == "other key's secret":
        pairs = edit(b"authorization", lambda v: v.replace(AK.encode(), b"other"))
    elif mutate == "path":
        path = path + b"x"
    elif mutate == "query":
        query = query + b"&x=1"
    elif mutate == "method":
        method = "GET"
    elif mutate == "no host signed":
        pairs = edit(b"authorization", lambda v: v.replace(b"host;", b""))
    elif mutate == "sigv2 query":
        query = query + b"&AWSAccessKeyId=a&Signature=b"
    elif mutate == "presign query":
        query = query + b"&X-Amz-Credential=a"
    elif mutate == "credential service":
        pairs = edit(b"authorization", lambda v: v.replace(b"/s3/", b"/s4/"))
    assert fast(method, path, query, pairs, now) is None
    with pytest.raises(S3Error):
        slow(method, path, query, pairs, now)


def test_authenticate_uses_either_path_and_explains_failures():
    path, query, pairs = signed("GET", "http://127.0.0.1:9000/bucket/key")
    scope = {"method": "GET", "raw_path": path, "path": path.decode(), "query_string": query}
    result = auth.authenticate(USERS, scope, pairs)
    assert result.access_key == AK and result.scope.endswith("/us-east-1/s3/aws4_request") and not result.presigned
    bad = [(k, v.replace(b"Signature=", b"Signature=0") if k == b"authorization" else v) for k, v in pairs]
    with pytest.raises(S3Error) as info:
        auth.authenticate(USERS, scope, bad)
    assert info.value.code == "SignatureDoesNotMatch"


def test_dates_are_read_like_the_verifier_reads_them():
    for when in (0, 951782400, 1709164800, 4102444799, time.time()):    # epoch, leap days, 2099
        path, query, pairs = signed("GET", "http://127.0.0.1:9000/bucket/key", when=when)
        assert agree("GET", path, query, pairs, now=when) is not None


_bytes = st.binary(min_size=0, max_size=12)


@settings(max_examples=300, deadline=None)
@given(which=st.integers(0, 40), at=st.integers(0, 400), junk=_bytes, target=st.sampled_from(["header", "path", "query"]))
def test_random_damage_never_makes_the_compiled_path_accept_what_the_verifier_refuses(which, at, junk, target):
    path, query, pairs = signed("PUT", "http://127.0.0.1:9000/bucket/some/key?partNumber=2&uploadId=u1",
                                [("X-Amz-Meta-Note", "hello"), ("Content-Type", "text/plain")])
    if target == "path":
        path = path[:at % (len(path) + 1)] + junk + path[at % (len(path) + 1):]
    elif target == "query":
        query = query[:at % (len(query) + 1)] + junk + query[at % (len(query) + 1):]
    else:
        i = which % len(pairs)
        name, value = pairs[i]
        cut = at % (len(value) + 1)
        pairs = pairs[:i] + [(name, value[:cut] + junk + value[cut:])] + pairs[i + 1:]
    agree("PUT", path, query, pairs)
