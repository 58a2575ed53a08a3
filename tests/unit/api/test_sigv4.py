"""SigV4 verification: AWS's published S3 examples and real botocore-signed requests."""

import calendar
import hashlib
import time
from datetime import datetime, timezone
from unittest import mock
from urllib.parse import quote, urlsplit

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from s3free.api import sigv4
from s3free.api.errors import S3Error
from s3free.api.sigv4 import EMPTY_SHA256, PayloadHasher, verify_request

AK = "AKIAIOSFODNN7EXAMPLE"
SK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
LOOKUP = {AK: SK, "OTHERKEY": "other-secret"}.get
EXAMPLE_TIME = calendar.timegm((2013, 5, 24, 0, 0, 0))
CRED = f"Credential={AK}/20130524/us-east-1/s3/aws4_request"


def _verify(method, path, query, headers, now=EXAMPLE_TIME, lookup=LOOKUP):
    return verify_request(method, path, query, headers, now, lookup)


def _error(fn, *args, **kwargs) -> S3Error:
    with pytest.raises(S3Error) as info:
        fn(*args, **kwargs)
    return info.value


# ---------------------------------------------------------------- AWS "Examples: Signature Calculations"

def _get_object_example():
    return [
        ("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"),
        ("x-amz-content-sha256", EMPTY_SHA256), ("x-amz-date", "20130524T000000Z"),
        ("Authorization", f"AWS4-HMAC-SHA256 {CRED},SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
                          "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
    ]


def test_example_get_object_with_range():
    result = _verify("GET", "/test.txt", "", _get_object_example())
    assert result.access_key == AK and result.region == "us-east-1" and not result.presigned
    assert result.scope == "20130524/us-east-1/s3/aws4_request"
    assert result.seed_signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    assert result.payload == EMPTY_SHA256 and not result.streaming
    assert result.signed_headers == ("host", "range", "x-amz-content-sha256", "x-amz-date")
    hasher = result.payload_hasher()
    assert hasher.finish() == EMPTY_SHA256


def test_example_put_object():
    body = b"Welcome to Amazon S3."
    headers = [
        ("Host", "examplebucket.s3.amazonaws.com"), ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
        ("x-amz-date", "20130524T000000Z"), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("x-amz-content-sha256", hashlib.sha256(body).hexdigest()),
        ("Authorization", f"AWS4-HMAC-SHA256 {CRED},SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;"
                          "x-amz-storage-class,"
                          "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"),
    ]
    result = _verify("PUT", "/test%24file.text", "", headers)
    hasher = result.payload_hasher()
    hasher.update(body[:5])
    hasher.update(body[5:])
    hasher.finish()
    # The literal '$' the example signs as %24 is accepted too: it is the same path.
    assert _verify("PUT", "/test$file.text", "", headers)


def test_example_get_bucket_lifecycle():
    headers = [
        ("Host", "examplebucket.s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"),
        ("x-amz-content-sha256", EMPTY_SHA256),
        ("Authorization", f"AWS4-HMAC-SHA256 {CRED},SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
                          "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
    ]
    assert _verify("GET", "/", "lifecycle", headers)


def test_example_list_objects():
    headers = [
        ("Host", "examplebucket.s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"),
        ("x-amz-content-sha256", EMPTY_SHA256),
        ("Authorization", f"AWS4-HMAC-SHA256 {CRED},SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
                          "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
    ]
    assert _verify("GET", "/", "max-keys=2&prefix=J", headers)
    assert _verify("GET", "/", "prefix=J&max-keys=2", headers)  # order on the wire does not matter
    assert _error(_verify, "GET", "/", "max-keys=3&prefix=J", headers).code == "SignatureDoesNotMatch"


PRESIGNED_EXAMPLE = (
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2F"
    "aws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature="
    "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
)
EXAMPLE_HOST = [("Host", "examplebucket.s3.amazonaws.com")]


def test_example_presigned_url():
    result = _verify("GET", "/test.txt", PRESIGNED_EXAMPLE, EXAMPLE_HOST, now=EXAMPLE_TIME + 3600)
    assert result.presigned and result.payload == sigv4.UNSIGNED_PAYLOAD
    assert result.payload_hasher() is None


def test_example_presigned_url_expiry():
    assert _verify("GET", "/test.txt", PRESIGNED_EXAMPLE, EXAMPLE_HOST, now=EXAMPLE_TIME + 86400)
    err = _error(_verify, "GET", "/test.txt", PRESIGNED_EXAMPLE, EXAMPLE_HOST, now=EXAMPLE_TIME + 86401)
    assert (err.code, err.status, err.message) == ("AccessDenied", 403, "Request has expired")
    assert err.extra["X-Amz-Expires"] == "86400" and err.extra["Expires"] == "2013-05-25T00:00:00Z"
    err = _error(_verify, "GET", "/test.txt", PRESIGNED_EXAMPLE, EXAMPLE_HOST, now=EXAMPLE_TIME - 3600)
    assert (err.code, err.message) == ("AccessDenied", "Request is not yet valid")


def test_example_chunked_upload_seed():
    headers = [
        ("Host", "s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"), ("x-amz-content-sha256", sigv4.STREAMING_PAYLOAD),
        ("Content-Encoding", "aws-chunked"), ("x-amz-decoded-content-length", "66560"),
        ("Content-Length", "66824"),
        ("Authorization", f"AWS4-HMAC-SHA256 {CRED},SignedHeaders=content-encoding;content-length;host;"
                          "x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,"
                          "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"),
    ]
    result = _verify("PUT", "/examplebucket/chunkObject.txt", "", headers)
    assert result.streaming and result.payload == sigv4.STREAMING_PAYLOAD and result.payload_hasher() is None
    assert result.signing_key == sigv4.signing_key(SK, "20130524", "us-east-1")


# ---------------------------------------------------------------- botocore-signed requests

def _boto_sign(method, url, headers=None, body=b"", region="us-east-1", secret=SK, access_key=AK,
               when=None):
    request = AWSRequest(method=method, url=url, headers=dict(headers or {}), data=body)
    signer = S3SigV4Auth(Credentials(access_key, secret), "s3", region)
    if when is None:
        signer.add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            signer.add_auth(request)
    return _wire_request(request)


def _boto_presign(method, url, expires=3600, headers=None, when=None, region="us-east-1"):
    request = AWSRequest(method=method, url=url, headers=dict(headers or {}))
    signer = S3SigV4QueryAuth(Credentials(AK, SK), "s3", region, expires=expires)
    if when is None:
        signer.add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            signer.add_auth(request)
    return _wire_request(request)


def _wire_request(request):
    """What a server would see: raw path, raw query, header pairs (Host added by the HTTP client)."""
    parts = urlsplit(request.url)
    headers = [(k, v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()]
    if not any(k.lower() == "host" for k, _ in headers):
        headers.append(("Host", parts.netloc))
    return request.method, parts.path, parts.query, headers


def _replace(headers, name, value):
    return [(k, value if k.lower() == name else v) for k, v in headers]


def _now():
    return time.time()


def test_botocore_get_with_query_and_odd_key():
    key = quote("dir/ünïcödé key+(1)*~!'$&=,;:@.txt", safe="/~")
    method, path, query, headers = _boto_sign(
        "GET", f"http://localhost:9000/bucket/{key}?versionId=abc%2Bdef&response-content-type=text%2Fplain")
    result = verify_request(method, path, query, headers, _now(), LOOKUP)
    assert result.payload == EMPTY_SHA256


def test_botocore_path_is_not_normalised():
    method, path, query, headers = _boto_sign("GET", "http://localhost:9000/bucket/a//b/./c/../d")
    assert path == "/bucket/a//b/./c/../d"
    assert verify_request(method, path, query, headers, _now(), LOOKUP)
    err = _error(verify_request, method, "/bucket/a/b/d", query, headers, _now(), LOOKUP)
    assert err.code == "SignatureDoesNotMatch"


def test_botocore_put_with_signed_body():
    body = b"hello world" * 100
    method, path, query, headers = _boto_sign(
        "PUT", "http://localhost:9000/bucket/obj", {"Content-Type": "text/plain", "x-amz-meta-color": "blue"}, body)
    result = verify_request(method, path, query, headers, _now(), LOOKUP)
    assert result.payload == hashlib.sha256(body).hexdigest()
    hasher = result.payload_hasher()
    hasher.update(body)
    hasher.finish()
    hasher = result.payload_hasher()
    hasher.update(body + b"!")
    err = _error(hasher.finish)
    assert err.code == "XAmzContentSHA256Mismatch" and err.status == 400
    assert err.extra["ClientComputedContentSHA256"] == result.payload


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-3", "garage"])
def test_any_region_is_accepted(region):
    method, path, query, headers = _boto_sign("GET", "http://s3.example/b/k", region=region)
    result = verify_request(method, path, query, headers, _now(), LOOKUP)
    assert result.region == region
    assert result.signing_key == sigv4.signing_key(SK, result.amz_date[:8], region)


def test_tampering_is_rejected():
    method, path, query, headers = _boto_sign(
        "PUT", "http://localhost:9000/bucket/obj?tagging", {"x-amz-meta-color": "blue"}, b"data")
    now = _now()
    assert verify_request(method, path, query, headers, now, LOOKUP)
    tampered = [
        ("PUT", path, query, _replace(headers, "x-amz-meta-color", "red")),
        ("PUT", path, query, _replace(headers, "host", "evil:9000")),
        ("PUT", path, "tagging&x=1", headers),
        ("PUT", path, "", headers),
        ("PUT", "/bucket/obj2", query, headers),
        ("POST", path, query, headers),
    ]
    for case in tampered:
        err = _error(verify_request, *case, now, LOOKUP)
        assert (err.code, err.status) == ("SignatureDoesNotMatch", 403), case
        assert "CanonicalRequest" in err.extra and "StringToSign" in err.extra
    err = _error(verify_request, method, path, query, headers, now, {AK: "wrong secret"}.get)
    assert err.code == "SignatureDoesNotMatch"
    err = _error(verify_request, method, path, query, headers, now, lambda _key: None)
    assert (err.code, err.status, err.extra["AWSAccessKeyId"]) == ("InvalidAccessKeyId", 403, AK)


def test_header_value_whitespace_is_canonicalised():
    method, path, query, headers = _boto_sign("GET", "http://h/b/k", {"x-amz-meta-note": "a  b   c"})
    spaced = _replace(headers, "x-amz-meta-note", "  a b \t c ")
    assert verify_request(method, path, query, spaced, _now(), LOOKUP)


def test_repeated_headers_are_joined_with_commas():
    request = AWSRequest(method="GET", url="http://h/b/k")
    request.headers["x-amz-meta-list"] = "one"
    S3SigV4Auth(Credentials(AK, SK), "s3", "us-east-1").add_auth(request)
    method, path, query, headers = _wire_request(request)
    # botocore signs a single value; splitting it into two headers changes the canonical form
    split = [h for h in headers if h[0].lower() != "x-amz-meta-list"] + [("x-amz-meta-list", "one"),
                                                                        ("X-Amz-Meta-List", "")]
    assert _error(verify_request, method, path, query, split, _now(), LOOKUP).code == "SignatureDoesNotMatch"


def test_clock_skew():
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    method, path, query, headers = _boto_sign("GET", "http://h/b/k", when=when)
    base = when.timestamp()
    for offset in (-900, 0, 900):
        assert verify_request(method, path, query, headers, base + offset, LOOKUP)
    assert verify_request(method, path, query, headers, when, LOOKUP)  # datetime accepted too
    for offset in (-901, 901):
        err = _error(verify_request, method, path, query, headers, base + offset, LOOKUP)
        assert (err.code, err.status) == ("RequestTimeTooSkewed", 403)
        assert err.extra["RequestTime"] == "20260102T030405Z"
        assert err.extra["MaxAllowedSkewMilliseconds"] == "900000"


def test_unsigned_amz_header_is_rejected():
    method, path, query, headers = _boto_sign("PUT", "http://h/b/k", body=b"x")
    extra = headers + [("x-amz-copy-source", "/other/key")]
    err = _error(verify_request, method, path, query, extra, _now(), LOOKUP)
    assert (err.code, err.extra["HeadersNotSigned"]) == ("AccessDenied", "x-amz-copy-source")
    # a non-amz header may ride along unsigned, like S3 allows
    assert verify_request(method, path, query, headers + [("User-Agent", "x")], _now(), LOOKUP)


def test_botocore_presigned_url():
    method, path, query, headers = _boto_presign("GET", "http://localhost:9000/bucket/some%20key", expires=600)
    result = verify_request(method, path, query, headers, _now(), LOOKUP)
    assert result.presigned and result.payload == sigv4.UNSIGNED_PAYLOAD
    assert _error(verify_request, method, path, query + "&x=1", headers, _now(), LOOKUP).code == \
        "SignatureDoesNotMatch"
    assert _error(verify_request, method, "/bucket/other", query, headers, _now(), LOOKUP).code == \
        "SignatureDoesNotMatch"
    assert _error(verify_request, "PUT", path, query, headers, _now(), LOOKUP).code == "SignatureDoesNotMatch"
    err = _error(verify_request, method, path, query, headers, _now() + 601, LOOKUP)
    assert (err.code, err.message) == ("AccessDenied", "Request has expired")


def test_presigned_expires_limits():
    when = datetime.now(timezone.utc)
    for expires in (1, 604800):
        method, path, query, headers = _boto_presign("GET", "http://h/b/k", expires=expires, when=when)
        assert verify_request(method, path, query, headers, when.timestamp(), LOOKUP)
    method, path, query, headers = _boto_presign("GET", "http://h/b/k", expires=604801, when=when)
    err = _error(verify_request, method, path, query, headers, when.timestamp(), LOOKUP)
    assert (err.code, err.status) == ("AuthorizationQueryParametersError", 400)
    assert "604800" in err.message
    method, path, query, headers = _boto_presign("GET", "http://h/b/k", expires=0, when=when)
    assert _error(verify_request, method, path, query, headers, when.timestamp(), LOOKUP).message == \
        "Request has expired"


@pytest.mark.parametrize("replacement,fragment", [
    ("X-Amz-Expires=abc", "should be a number"),
    ("X-Amz-Expires=-5", "non-negative"),
])
def test_presigned_bad_expires(replacement, fragment):
    query = PRESIGNED_EXAMPLE.replace("X-Amz-Expires=86400", replacement)
    err = _error(_verify, "GET", "/test.txt", query, EXAMPLE_HOST)
    assert err.code == "AuthorizationQueryParametersError" and fragment in err.message


@pytest.mark.parametrize("mutate", [
    lambda q: q.replace("X-Amz-Algorithm=AWS4-HMAC-SHA256&", ""),
    lambda q: q.replace("&X-Amz-SignedHeaders=host", ""),
    lambda q: q + "&X-Amz-Date=20130524T000000Z",
    lambda q: q.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256"),
    lambda q: q.replace("%2Fs3%2F", "%2Fec2%2F"),
    lambda q: q.replace("X-Amz-Date=20130524T000000Z", "X-Amz-Date=2013-05-24"),
    lambda q: q.replace("X-Amz-Date=20130524T000000Z", "X-Amz-Date=20130525T000000Z"),
    lambda q: q.replace("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=range"),
])
def test_presigned_malformed(mutate):
    err = _error(_verify, "GET", "/test.txt", mutate(PRESIGNED_EXAMPLE), EXAMPLE_HOST)
    assert (err.code, err.status) == ("AuthorizationQueryParametersError", 400)


def test_no_credentials_is_access_denied():
    err = _error(_verify, "GET", "/b/k", "", [("Host", "h")])
    assert (err.code, err.status) == ("AccessDenied", 403)


def test_two_mechanisms_are_refused():
    headers = _get_object_example()
    err = _error(_verify, "GET", "/test.txt", PRESIGNED_EXAMPLE, headers)
    assert err.code == "InvalidArgument"


def test_signature_v2_is_refused():
    err = _error(_verify, "GET", "/b/k", "", [("Host", "h"), ("Authorization", "AWS AKID:c2lnbmF0dXJl")])
    assert err.code == "InvalidRequest" and "AWS4-HMAC-SHA256" in err.message
    err = _error(_verify, "GET", "/b/k", "AWSAccessKeyId=AKID&Expires=1&Signature=abc", [("Host", "h")])
    assert err.code == "InvalidRequest"


@pytest.mark.parametrize("authorization", [
    f"AWS4-HMAC-SHA256 {CRED},SignedHeaders=host;x-amz-content-sha256;x-amz-date",
    f"AWS4-HMAC-SHA256 {CRED}",
    "AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3,SignedHeaders=host,Signature=00",
    "AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/ec2/aws4_request,SignedHeaders=host,Signature=00",
    "AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws5_request,SignedHeaders=host,Signature=00",
    "AWS4-HMAC-SHA256 Credential=AKID/2013-05-24/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=00",
    "AWS4-HMAC-SHA256 Credential=AKID/20130525/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=00",
    "AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws4_request,SignedHeaders=x-amz-date,Signature=00",
    "AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;;x,Signature=00",
])
def test_malformed_authorization_header(authorization):
    headers = [("Host", "h"), ("x-amz-date", "20130524T000000Z"), ("x-amz-content-sha256", EMPTY_SHA256),
               ("Authorization", authorization)]
    err = _error(_verify, "GET", "/b/k", "", headers)
    assert (err.code, err.status) == ("AuthorizationHeaderMalformed", 400)


def _example_with(name, value):
    headers = [h for h in _get_object_example() if h[0].lower() != name]
    return headers if value is None else headers + [(name, value)]


def test_content_sha256_rules():
    err = _error(_verify, "GET", "/test.txt", "", _example_with("x-amz-content-sha256", None))
    assert (err.code, err.message) == ("InvalidRequest",
                                       "Missing required header for this request: x-amz-content-sha256")
    err = _error(_verify, "GET", "/test.txt", "", _example_with("x-amz-content-sha256", "not-a-hash"))
    assert err.code == "InvalidArgument"
    for mode in ("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER"):
        err = _error(_verify, "GET", "/test.txt", "", _example_with("x-amz-content-sha256", mode))
        assert (err.code, err.status) == ("NotImplemented", 501)
    # upper-case hex is accepted (and changes the canonical request, so the example no longer matches)
    err = _error(_verify, "GET", "/test.txt", "", _example_with("x-amz-content-sha256", EMPTY_SHA256.upper()))
    assert err.code == "SignatureDoesNotMatch"


class _ModeAuth(S3SigV4Auth):
    """botocore's S3 signer with a chosen x-amz-content-sha256 (how SDKs sign streaming uploads)."""

    def __init__(self, mode):
        super().__init__(Credentials(AK, SK), "s3", "us-east-1")
        self.mode = mode

    def payload(self, request):
        return self.mode


@pytest.mark.parametrize("mode", sigv4.STREAMING_MODES + (sigv4.UNSIGNED_PAYLOAD,))
def test_payload_modes(mode):
    request = AWSRequest(method="PUT", url="http://h/b/k", headers={"Content-Encoding": "aws-chunked"})
    _ModeAuth(mode).add_auth(request)
    method, path, query, headers = _wire_request(request)
    result = verify_request(method, path, query, headers, _now(), LOOKUP)
    assert result.payload == mode and result.payload_hasher() is None
    assert result.streaming == (mode != sigv4.UNSIGNED_PAYLOAD)


def test_missing_or_bad_date():
    err = _error(_verify, "GET", "/test.txt", "", _example_with("x-amz-date", None))
    assert (err.code, err.status) == ("AccessDenied", 403)
    err = _error(_verify, "GET", "/test.txt", "", _example_with("x-amz-date", "2013-05-24T00:00:00Z"))
    assert err.code == "AccessDenied"
    err = _error(_verify, "GET", "/test.txt", "", _example_with("x-amz-date", "20131324T000000Z"))
    assert err.code == "AccessDenied"


def test_date_header_instead_of_x_amz_date():
    when = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
    method, path, query, headers = _boto_sign("GET", "http://h/b/k", {"Date": "placeholder"}, when=when)
    assert not any(k.lower() == "x-amz-date" for k, _ in headers)
    result = verify_request(method, path, query, headers, when, LOOKUP)
    assert result.amz_date == "20260304T050607Z"
    bad = _replace(headers, "date", "yesterday")
    assert _error(verify_request, method, path, query, bad, when, LOOKUP).code == "AccessDenied"


def test_signing_key_is_cached():
    sigv4.signing_key.cache_clear()
    _verify("GET", "/test.txt", "", _get_object_example())
    _verify("GET", "/test.txt", "", _get_object_example())
    info = sigv4.signing_key.cache_info()
    assert (info.misses, info.hits) == (1, 1)


def test_signature_case_and_header_name_case():
    headers = [(k.upper(), v) for k, v in _get_object_example()]
    auth = headers[-1][1].replace("Signature=f0e8bdb8", "Signature=F0E8BDB8")
    headers[-1] = ("AUTHORIZATION", auth)
    assert _verify("GET", "/test.txt", "", headers)


_QUERY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=60, deadline=None)
@given(key=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1,
                   max_size=30),
       params=st.lists(st.tuples(_QUERY_TEXT.filter(bool), _QUERY_TEXT), max_size=4))
def test_botocore_round_trip_any_key_and_query(key, params):
    url = "http://localhost:9000/bucket/" + quote(key, safe="/~")
    if params:
        url += "?" + "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in params)
    method, path, query, headers = _boto_sign("GET", url)
    assert verify_request(method, path, query, headers, _now(), LOOKUP).access_key == AK


def test_payload_hasher_is_case_insensitive():
    digest = hashlib.sha256(b"abc").hexdigest()
    hasher = PayloadHasher(digest.upper())
    hasher.update(b"abc")
    assert hasher.finish() == digest
