"""The compiled SigV4 path (ext/sigv4.pyx) agrees with the Python verifier.

It may only ever accept what `sigv4.verify_request` accepts, with the same result; for
anything it is unsure of it answers None and the Python verifier decides (and explains).
"""

import hashlib
import hmac
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
    return sigv4_verify_fast(method.encode("latin-1"), path, query, pairs, USERS.signing_key, now, sigv4.MAX_SKEW_SECONDS)


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


@pytest.mark.parametrize("what", ["many headers", "huge header", "many query parameters"])
def test_requests_beyond_the_compiled_paths_limits_are_verified_in_python(what):
    """The C check has fixed room (64 headers and parameters, a 16 KiB canonical request):
    beyond it, the request is the verifier's, and still accepted."""
    url, headers = "http://127.0.0.1:9000/bucket/key", []
    if what == "many headers":
        headers = [(f"X-Amz-Meta-H{i}", str(i)) for i in range(70)]
    elif what == "huge header":
        headers = [("X-Amz-Meta-Big", "v" * 20000)]
    else:
        url += "?" + "&".join(f"p{i:03d}=v" for i in range(70))
    path, query, pairs = signed("GET", url, headers)
    assert agree("GET", path, query, pairs) is None
    assert slow("GET", path, query, pairs, time.time()).access_key == AK


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


# ---------------------------------------------------------------- found in review: each once a mismatch or a crash

def resign(method, path, query, pairs, signed_text, stamp, sha, ak=AK, secret=SK):
    """An Authorization value signed over exactly the canonical form the compiled path builds
    (so it accepts, and agreement is tested on acceptances, not only on refusals)."""
    values = dict(pairs)
    items = sorted(tuple(i.partition(b"=")[::2]) for i in query.split(b"&") if i)
    block = b"".join(n + b":" + values.get(n, b"").strip(b" \t") + b"\n" for n in signed_text.split(b";"))
    canonical = b"\n".join((method.upper(), path or b"/", b"&".join(k + b"=" + v for k, v in items), block,
                            signed_text, sha.strip()))
    date = stamp.strip()[:8]
    scope = date + b"/us-east-1/s3/aws4_request"
    key = sigv4.signing_key(secret, date.decode(), "us-east-1")
    to_sign = b"\n".join((b"AWS4-HMAC-SHA256", stamp.strip(), scope, hashlib.sha256(canonical).hexdigest().encode()))
    signature = hmac.new(key, to_sign, "sha256").hexdigest().encode()
    return (b"AWS4-HMAC-SHA256 Credential=" + (ak.encode("latin-1") if isinstance(ak, str) else ak) + b"/" + scope
            + b", SignedHeaders=" + signed_text + b", Signature=" + signature)


def test_a_method_outside_ascii_is_left_to_the_verifier():
    now = 1764000000.0
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)).encode()
    for method in (b"G\xb5T", b"g\xdft"):
        pairs = [(b"host", b"h"), (b"x-amz-date", stamp), (b"x-amz-content-sha256", b"UNSIGNED-PAYLOAD")]
        pairs.append((b"authorization", resign(method, b"/b/k", b"", pairs, b"host;x-amz-date", stamp,
                                               b"UNSIGNED-PAYLOAD")))
        assert sigv4_verify_fast(method, b"/b/k", b"", pairs, USERS.signing_key, now, 900) is None


@pytest.mark.parametrize("space", ["\xa0", "\x1c", "\x1f"])
def test_an_access_key_starting_with_what_str_strip_removes_is_left_to_the_verifier(space):
    """The verifier strips the Credential with str.strip(), which also removes \x1c-\x1f
    (and \xa0 in latin-1): such a key must not verify on the compiled path."""
    users = auth.Users({AK: SK, space + AK: "odd-secret"}, AK)
    now = 1764000000.0
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)).encode()
    pairs = [(b"host", b"h"), (b"x-amz-date", stamp), (b"x-amz-content-sha256", b"UNSIGNED-PAYLOAD")]
    pairs.append((b"authorization", resign(b"GET", b"/b/k", b"", pairs, b"host;x-amz-date", stamp,
                                           b"UNSIGNED-PAYLOAD", ak=space + AK, secret="odd-secret")))
    assert sigv4_verify_fast(b"GET", b"/b/k", b"", pairs, users.signing_key, now, 900) is None


def test_header_pairs_stay_alive_while_the_c_code_reads_them():
    """A header sequence that builds its pairs on the fly, and a key lookup that empties
    the list: the check must hold its own references (it once read freed memory here)."""
    path, query, pairs = signed("GET", "http://127.0.0.1:9000/bucket/key")

    class Fresh:        # a sequence whose items are new tuples of new bytes on every access
        def __len__(self):
            return len(pairs)

        def __getitem__(self, i):
            if i >= len(pairs):
                raise IndexError(i)
            return (bytes(bytearray(pairs[i][0])), bytes(bytearray(pairs[i][1])))

    want = fast("GET", path, query, pairs, time.time())
    assert want is not None
    assert sigv4_verify_fast(b"GET", path, query, Fresh(), USERS.signing_key, time.time(), 900) == want
    mutable = [(bytes(bytearray(k)), bytes(bytearray(v))) for k, v in pairs]

    def key_for(*args):
        mutable.clear()     # drops the only references to the pairs
        return USERS.signing_key(*args)
    assert sigv4_verify_fast(b"GET", path, query, mutable, key_for, time.time(), 900) == want


def test_the_compiled_path_has_sha256():
    from s3free import _native
    assert "crypto" in (_native.sha256_library() or "")


@pytest.mark.parametrize("headers", [[(b"host",)], [()], [[b"host", b"h"]], [("host", "h")], [(None, b"x")],
                                     [(b"authorization", None), (b"x-amz-date", b"x"), (b"x-amz-content-sha256", b"x")],
                                     [(b"host", b"h", b"x")], ((b"host", b"h"),), None])
def test_malformed_header_lists_answer_none_and_never_crash(headers):
    assert sigv4_verify_fast(b"GET", b"/", b"", headers, USERS.signing_key, 0.0, 900) is None
    assert sigv4_verify_fast(None, None, b"", [], USERS.signing_key, 0.0, 900) is None


_VALUE_BYTES = b"aZ09 \t\x0b\x0c\x85\xa0\xff\x00,;:=/\\\"'"
_values = st.binary(max_size=8).map(lambda b: bytes(_VALUE_BYTES[x % len(_VALUE_BYTES)] for x in b))
_PIECES = [b"a", b"B", b"-", b".", b"_", b"~", b"%2F", b"%41", b"%E9", b"%00", b"9"]
_clean_bits = st.lists(st.sampled_from(_PIECES), max_size=4).map(b"".join)
_queries = st.lists(st.one_of(st.tuples(_clean_bits, _clean_bits).map(lambda kv: kv[0] + b"=" + kv[1]), _clean_bits),
                    max_size=4).map(b"&".join)
_paths = st.lists(st.sampled_from(_PIECES + [b"/", b"//", b"/./", b"/../"]), max_size=6).map(b"".join)
_names = st.sampled_from([b"x-amz-meta-a", b"x-amz-meta-b", b"content-type", b"range", b"x-amz-acl", b"date"])


@settings(max_examples=400, deadline=None)
@given(method=st.sampled_from([b"GET", b"PUT", b"post"]), path=_paths, query=_queries,
       extra=st.dictionaries(_names, _values, max_size=4), host=_values, order=st.randoms(),
       missing=st.lists(st.sampled_from([b"x-foo", b"content-length", b"x-amz-meta-zz"]), max_size=2),
       sha=st.sampled_from([b"UNSIGNED-PAYLOAD", sigv4.EMPTY_SHA256.encode(), sigv4.EMPTY_SHA256.upper().encode(),
                            b" UNSIGNED-PAYLOAD\t", b"STREAMING-UNSIGNED-PAYLOAD-TRAILER"]),
       stamp_pad=st.sampled_from([b"", b" ", b"\t"]))
def test_requests_signed_the_compiled_way_get_the_verifiers_answer(method, path, query, extra, host, order, missing,
                                                                   sha, stamp_pad):
    now = 1764000000.0
    stamp = stamp_pad + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)).encode()
    pairs = [(b"host", host), (b"x-amz-date", stamp), (b"x-amz-content-sha256", sha)] + list(extra.items())
    names = [b"host", b"x-amz-date"] + [n for n in extra if n.startswith(b"x-amz-") or order.random() < 0.5] + missing
    order.shuffle(names)
    signed_text = b";".join(names)
    pairs.append((b"authorization", resign(method, path, query, pairs, signed_text, stamp, sha)))
    order.shuffle(pairs)
    agree(method.decode("latin-1"), path, query, pairs, now=now)
