"""aws-chunked decoding: AWS's examples, botocore's encoder, and an independent encoder under hypothesis."""

import base64
import hashlib
import hmac
import io
import zlib
from dataclasses import dataclass

import pytest
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s3free.api.chunked import AwsChunkedDecoder
from s3free.api.errors import S3Error
from s3free.api.sigv4 import (EMPTY_SHA256, STREAMING_PAYLOAD, STREAMING_PAYLOAD_TRAILER,
                              STREAMING_UNSIGNED_TRAILER, signing_key)

SK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SIGNED_MODES = (STREAMING_PAYLOAD, STREAMING_PAYLOAD_TRAILER)


@dataclass
class Signing:
    signing_key: bytes
    amz_date: str
    scope: str
    seed_signature: str


def example_signing(seed):
    return Signing(signing_key(SK, "20130524", "us-east-1"), "20130524T000000Z",
                   "20130524/us-east-1/s3/aws4_request", seed)


TEST_SIGNING = example_signing("4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")


# ---------------------------------------------------------------- an independent encoder

def _hmac_hex(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def encode(payload_chunks, mode, signing=None, trailers=(), *, blank_before_trailers=False,
           final_crlf=True, upper_hex=False):
    """Build an aws-chunked body the way the AWS documentation describes it."""
    signed = mode in SIGNED_MODES
    previous = signing.seed_signature if signed else None
    out = bytearray()
    for chunk in list(payload_chunks) + [b""]:
        size = f"{len(chunk):X}" if upper_hex else f"{len(chunk):x}"
        if signed:
            sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", signing.amz_date, signing.scope, previous,
                             EMPTY_SHA256, hashlib.sha256(chunk).hexdigest()])
            previous = _hmac_hex(signing.signing_key, sts)
            out += f"{size};chunk-signature={previous}\r\n".encode()
        else:
            out += f"{size}\r\n".encode()
        if chunk:
            out += chunk + b"\r\n"
    if blank_before_trailers or not trailers:
        out += b"\r\n"
    if trailers:
        canonical = "".join(f"{name}:{value}\n" for name, value in trailers)
        out += canonical.replace("\n", "\r\n").encode()
        if signed:
            sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", signing.amz_date, signing.scope, previous,
                             hashlib.sha256(canonical.encode()).hexdigest()])
            out += f"x-amz-trailer-signature:{_hmac_hex(signing.signing_key, sts)}\r\n".encode()
        if final_crlf:
            out += b"\r\n"
    return bytes(out)


def decode(body, mode, signing=None, trailer_names=(), splits=(), **kwargs):
    decoder = AwsChunkedDecoder(mode, signing, trailer_names, **kwargs)
    pieces = []
    start = 0
    for cut in sorted(set(splits)) + [len(body)]:
        pieces += decoder.feed(body[start:cut])
        start = cut
    return b"".join(pieces), decoder.finish()


def _error(fn, *args, **kwargs) -> S3Error:
    with pytest.raises(S3Error) as info:
        fn(*args, **kwargs)
    return info.value


# ---------------------------------------------------------------- AWS examples

EXAMPLE_BODY = (
    b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n"
    + b"a" * 65536 + b"\r\n"
    + b"400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n"
    + b"a" * 1024 + b"\r\n"
    + b"0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n"
)

TRAILER_EXAMPLE_BODY = (
    b"10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n"
    + b"a" * 65536 + b"\r\n"
    + b"400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n"
    + b"a" * 1024 + b"\r\n"
    + b"0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n\r\n"
    + b"x-amz-checksum-crc32c:sOO8/Q==\r\n"
    + b"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"
)


def test_aws_example_chunked_upload():
    assert len(EXAMPLE_BODY) == 66824  # the example's Content-Length
    payload, trailers = decode(EXAMPLE_BODY, STREAMING_PAYLOAD, TEST_SIGNING, decoded_length=66560)
    assert payload == b"a" * 66560 and trailers == {}
    assert encode([b"a" * 65536, b"a" * 1024], STREAMING_PAYLOAD, TEST_SIGNING) == EXAMPLE_BODY


def test_aws_example_chunked_upload_byte_by_byte():
    decoder = AwsChunkedDecoder(STREAMING_PAYLOAD, TEST_SIGNING)
    out = [decoder.feed(EXAMPLE_BODY[i:i + 1]) for i in range(len(EXAMPLE_BODY))]
    assert b"".join(b"".join(p) for p in out) == b"a" * 66560
    assert decoder.finish() == {}


def test_aws_example_with_trailer():
    signing = example_signing("106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e")
    payload, trailers = decode(TRAILER_EXAMPLE_BODY, STREAMING_PAYLOAD_TRAILER, signing,
                               ["x-amz-checksum-crc32c"], decoded_length=66560)
    assert payload == b"a" * 66560
    assert trailers == {"x-amz-checksum-crc32c": "sOO8/Q=="}
    tampered = TRAILER_EXAMPLE_BODY.replace(b"sOO8/Q==", b"sOO8/Q=A")
    assert _error(decode, tampered, STREAMING_PAYLOAD_TRAILER, signing).code == "SignatureDoesNotMatch"


def test_botocore_unsigned_trailer_body():
    payload = bytes(range(256)) * 50
    wrapper = AwsChunkedWrapper(io.BytesIO(payload), checksum_cls=Crc32Checksum,
                                checksum_name="x-amz-checksum-crc32", chunk_size=1000)
    body = wrapper.read()
    got, trailers = decode(body, STREAMING_UNSIGNED_TRAILER, None, ["x-amz-checksum-crc32"],
                           decoded_length=len(payload), splits=range(7, len(body), 997))
    assert got == payload
    crc = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
    assert trailers == {"x-amz-checksum-crc32": crc}


def test_botocore_body_without_checksum():
    body = AwsChunkedWrapper(io.BytesIO(b"xyz")).read()
    assert decode(body, STREAMING_UNSIGNED_TRAILER) == (b"xyz", {})


# ---------------------------------------------------------------- properties

_chunks = st.lists(st.binary(min_size=1, max_size=700), max_size=6)
_trailer_value = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e), max_size=20)
_trailers = st.lists(st.tuples(st.sampled_from(["x-amz-checksum-crc32", "x-amz-checksum-sha256",
                                                "x-amz-meta-a"]), _trailer_value),
                     max_size=3, unique_by=lambda t: t[0])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=_chunks, mode=st.sampled_from([STREAMING_PAYLOAD, STREAMING_PAYLOAD_TRAILER,
                                             STREAMING_UNSIGNED_TRAILER]),
       trailers=_trailers, blank=st.booleans(), final_crlf=st.booleans(), upper=st.booleans(),
       data=st.data())
def test_round_trip_any_split(chunks, mode, trailers, blank, final_crlf, upper, data):
    if mode == STREAMING_PAYLOAD:
        trailers = []
    body = encode(chunks, mode, TEST_SIGNING, trailers, blank_before_trailers=blank, final_crlf=final_crlf,
                  upper_hex=upper)
    splits = data.draw(st.lists(st.integers(0, len(body)), max_size=12))
    payload, got = decode(body, mode, TEST_SIGNING if mode in SIGNED_MODES else None,
                          [n for n, _ in trailers], splits, decoded_length=sum(map(len, chunks)))
    assert payload == b"".join(chunks)
    assert got == dict(trailers)


@settings(max_examples=300, deadline=None)
@given(chunks=_chunks.filter(bool), mode=st.sampled_from(SIGNED_MODES), trailers=_trailers, data=st.data())
def test_signed_streams_detect_any_corruption(chunks, mode, trailers, data):
    """Flipping any byte either fails with an S3Error or leaves payload and trailers unchanged."""
    if mode == STREAMING_PAYLOAD:
        trailers = []
    body = bytearray(encode(chunks, mode, TEST_SIGNING, trailers))
    index = data.draw(st.integers(0, len(body) - 1))
    body[index] ^= data.draw(st.integers(1, 255))
    try:
        payload, got = decode(bytes(body), mode, TEST_SIGNING, [n for n, _ in trailers])
    except S3Error:
        return
    assert payload == b"".join(chunks) and got == dict(trailers)


@settings(max_examples=100, deadline=None)
@given(chunks=_chunks.filter(bool), mode=st.sampled_from([STREAMING_PAYLOAD, STREAMING_PAYLOAD_TRAILER,
                                                          STREAMING_UNSIGNED_TRAILER]), data=st.data())
def test_truncation_is_incomplete(chunks, mode, data):
    signing = TEST_SIGNING if mode in SIGNED_MODES else None
    body = encode(chunks, mode, TEST_SIGNING)
    zero = body.rfind(b"\r\n0")  # cut anywhere before the final chunk's header is complete
    cut = data.draw(st.integers(0, zero + 3))
    err = _error(decode, body[:cut], mode, signing)
    assert err.code == "IncompleteBody"


# ---------------------------------------------------------------- streaming and bounds

def test_unsigned_payload_passes_through_before_the_chunk_ends():
    decoder = AwsChunkedDecoder(STREAMING_UNSIGNED_TRAILER)
    assert decoder.feed(b"100000\r\n" + b"x" * 1000) == [b"x" * 1000]
    assert decoder.feed(b"y" * 10) == [b"y" * 10]


def test_signed_payload_is_held_until_its_chunk_is_verified():
    body = encode([b"z" * 5000], STREAMING_PAYLOAD, TEST_SIGNING)
    decoder = AwsChunkedDecoder(STREAMING_PAYLOAD, TEST_SIGNING)
    assert decoder.feed(body[:4000]) == []
    assert b"".join(decoder.feed(body[4000:])) == b"z" * 5000
    assert decoder.finish() == {}


def test_signed_chunk_tampering():
    body = bytearray(encode([b"hello", b"world"], STREAMING_PAYLOAD, TEST_SIGNING))
    body[body.index(b"world")] = ord("W")
    assert _error(decode, bytes(body), STREAMING_PAYLOAD, TEST_SIGNING).code == "SignatureDoesNotMatch"
    other = example_signing("0" * 64)
    body = encode([b"hello"], STREAMING_PAYLOAD, TEST_SIGNING)
    assert _error(decode, body, STREAMING_PAYLOAD, other).code == "SignatureDoesNotMatch"
    unsigned = encode([b"hello"], STREAMING_UNSIGNED_TRAILER)
    assert _error(decode, unsigned, STREAMING_PAYLOAD, TEST_SIGNING).code == "SignatureDoesNotMatch"


def test_chunks_cannot_be_reordered_or_dropped():
    body = encode([b"one", b"two"], STREAMING_PAYLOAD, TEST_SIGNING)
    first_end = body.index(b"one\r\n") + 5
    second_end = body.index(b"two\r\n") + 5
    swapped = body[first_end:second_end] + body[:first_end] + body[second_end:]
    assert _error(decode, swapped, STREAMING_PAYLOAD, TEST_SIGNING).code == "SignatureDoesNotMatch"
    dropped = body[first_end:]
    assert _error(decode, dropped, STREAMING_PAYLOAD, TEST_SIGNING).code == "SignatureDoesNotMatch"


def test_signed_trailer_requires_signature():
    body = encode([b"abc"], STREAMING_UNSIGNED_TRAILER, None, [("x-amz-checksum-crc32", "AAAAAA==")])
    # an unsigned stream presented as signed lacks every signature
    assert _error(decode, body, STREAMING_PAYLOAD_TRAILER, TEST_SIGNING).code == "SignatureDoesNotMatch"
    signed = encode([b"abc"], STREAMING_PAYLOAD_TRAILER, TEST_SIGNING, [("x-amz-checksum-crc32", "AAAAAA==")])
    no_sig = signed[:signed.index(b"x-amz-trailer-signature")] + b"\r\n"
    assert _error(decode, no_sig, STREAMING_PAYLOAD_TRAILER, TEST_SIGNING).code == "SignatureDoesNotMatch"


def test_header_line_is_bounded():
    decoder = AwsChunkedDecoder(STREAMING_UNSIGNED_TRAILER, max_line=100)
    decoder.feed(b"1" + b";x" * 40)
    err = _error(decoder.feed, b";x" * 20)
    assert err.code == "InvalidRequest"
    decoder = AwsChunkedDecoder(STREAMING_UNSIGNED_TRAILER)
    err = _error(decoder.feed, b"0\r\n" + b"x-amz-meta-a:" + b"v" * 5000 + b"\r\n")
    assert err.code == "InvalidRequest"


def test_signed_chunk_size_is_bounded():
    body = encode([b"q" * 2000], STREAMING_PAYLOAD, TEST_SIGNING)
    assert _error(decode, body, STREAMING_PAYLOAD, TEST_SIGNING, max_chunk=1999).code == "InvalidRequest"
    assert decode(body, STREAMING_PAYLOAD, TEST_SIGNING, max_chunk=2000)[0] == b"q" * 2000


@pytest.mark.parametrize("body", [
    b"zz\r\nab\r\n0\r\n\r\n",
    b"\r\n",
    b"-1\r\n",
    b"11111111111111111\r\n",
    b"2\r\nabXY0\r\n\r\n",
    b"2\r\nab\r0\r\n\r\n",
    b"0\r\n\r\n\r\nextra",
    b"0\r\nx-amz-meta-a:1\r\n\r\nextra",
])
def test_framing_errors(body):
    assert _error(decode, body, STREAMING_UNSIGNED_TRAILER).code == "InvalidRequest"


def test_decoded_length_mismatch():
    body = encode([b"abc", b"de"], STREAMING_UNSIGNED_TRAILER)
    assert decode(body, STREAMING_UNSIGNED_TRAILER, decoded_length=5)[0] == b"abcde"
    assert _error(decode, body, STREAMING_UNSIGNED_TRAILER, decoded_length=6).code == "IncompleteBody"
    assert _error(decode, body, STREAMING_UNSIGNED_TRAILER, decoded_length=4).code == "IncompleteBody"


def test_trailer_rules():
    with_trailer = encode([b"abc"], STREAMING_UNSIGNED_TRAILER, None, [("x-amz-checksum-crc32", "AAAAAA==")])
    assert _error(decode, with_trailer, STREAMING_UNSIGNED_TRAILER, None,
                  ["x-amz-checksum-sha256"]).code == "MalformedTrailerError"
    without = encode([b"abc"], STREAMING_UNSIGNED_TRAILER)
    assert _error(decode, without, STREAMING_UNSIGNED_TRAILER, None,
                  ["x-amz-checksum-crc32"]).code == "MalformedTrailerError"
    # no trailers at all in the plain signed mode
    signed = encode([b"abc"], STREAMING_PAYLOAD, TEST_SIGNING)
    sneaky = signed[:-2] + b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    assert _error(decode, sneaky, STREAMING_PAYLOAD, TEST_SIGNING).code == "MalformedTrailerError"
    for bad in (b"no-colon", b":novalue", b"x-amz-a:1\r\nx-amz-a:2"):
        body = b"3\r\nabc\r\n0\r\n" + bad + b"\r\n\r\n"
        assert _error(decode, body, STREAMING_UNSIGNED_TRAILER).code == "MalformedTrailerError"


def test_tolerated_variants():
    # bare LF line ends, a trailer value with spaces, an unsigned trailer signature (ignored)
    body = b"3\nabc\r\n0\nx-amz-meta-a:  spaced value \nx-amz-trailer-signature:abc\n\n"
    assert decode(body, STREAMING_UNSIGNED_TRAILER) == (b"abc", {"x-amz-meta-a": "spaced value"})
    # extensions on unsigned chunks are ignored; the stream may stop right after the final chunk
    assert decode(b"3;foo=bar\r\nabc\r\n0\r\n", STREAMING_UNSIGNED_TRAILER) == (b"abc", {})
    # trailing CRLFs after the end are harmless
    assert decode(b"0\r\n\r\n\r\n", STREAMING_UNSIGNED_TRAILER) == (b"", {})


def test_constructor_checks():
    with pytest.raises(ValueError):
        AwsChunkedDecoder("UNSIGNED-PAYLOAD")
    with pytest.raises(ValueError):
        AwsChunkedDecoder(STREAMING_PAYLOAD)
