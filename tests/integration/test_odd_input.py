"""Input that once turned into a 500 (found by fuzzing the live server): numbers `int()`
refuses, dates that overflow in UTC, control characters bound for a response header, and an
ETag in If-None-Match on a write. Each gets the S3 error a client expects, and changes nothing."""
from __future__ import annotations

import hashlib
import http.client
import time
import xml.etree.ElementTree as ET
from urllib.parse import quote, urlencode, urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from serverkit import ROOT_PASSWORD, ROOT_USER

HUGE = "9" * 5000            # more digits than int() takes from a string
SUPERSCRIPT_TWO = "²"        # str.isdigit() says yes, int() says no


def send(server, method: str, path: str, params: dict | None = None, headers: dict | None = None,
         body: bytes = b"", signed: bool = True) -> tuple[int, str, bytes]:
    """One request, signed by botocore (which encodes any query value correctly), or not."""
    url = server.endpoint + quote(path) + ("?" + urlencode(params or {}, quote_via=quote) if params else "")
    hdrs = dict(headers or {})
    if signed:
        req = AWSRequest(method=method, url=url, data=body, headers=hdrs)
        req.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
        SigV4Auth(Credentials(ROOT_USER, ROOT_PASSWORD), "s3", "us-east-1").add_auth(req)
        hdrs = dict(req.headers.items())
    parts = urlsplit(url)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    code = ""
    if data.startswith(b"<?xml") or data.startswith(b"<Error"):
        found = ET.fromstring(data).find("Code")
        code = found.text if found is not None else ""
    return resp.status, code, data


@pytest.fixture
def upload(http_server, http_bucket):
    s3 = http_server.client()
    s3.put_object(Bucket=http_bucket, Key="obj", Body=b"0123456789")
    uid = s3.create_multipart_upload(Bucket=http_bucket, Key="mp")["UploadId"]
    yield uid
    s3.abort_multipart_upload(Bucket=http_bucket, Key="mp", UploadId=uid)


@pytest.mark.parametrize("odd", [HUGE, SUPERSCRIPT_TWO])
def test_numbers_int_refuses_are_invalid_arguments(http_server, http_bucket, upload, odd, h):
    b = http_bucket
    cases = [
        ("GET", f"/{b}/obj", {"partNumber": odd}),
        ("GET", f"/{b}", {"max-keys": odd}),
        ("GET", f"/{b}", {"list-type": "2", "max-keys": odd}),
        ("GET", f"/{b}", {"uploads": "", "max-uploads": odd}),
        ("PUT", f"/{b}/mp", {"partNumber": odd, "uploadId": upload}),
        ("GET", f"/{b}/mp", {"uploadId": upload, "max-parts": odd}),
        ("GET", f"/{b}/mp", {"uploadId": upload, "part-number-marker": odd}),
    ]
    for method, path, params in cases:
        status, code, body = send(http_server, method, path, params)
        assert (status, code) == (400, "InvalidArgument"), (method, path, params, body[:300])
    # a signed streaming PUT whose decoded length is no number we take (a header: ASCII here,
    # so that this test's signer and the server agree on its bytes)
    odd = odd if odd.isascii() else "1" + HUGE
    length = len(f"0;chunk-signature={'0' * 64}\r\n\r\n")        # the final chunk alone
    hdrs = h.sign("PUT", f"{http_server.endpoint}/{b}/streamed", {
        "x-amz-decoded-content-length": odd, "content-encoding": "aws-chunked", "content-length": str(length)},
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    status, _, body = h.raw_request(http_server, "PUT", f"/{b}/streamed", hdrs, h.signed_chunks([], hdrs))
    assert (status, ET.fromstring(body).find("Code").text) == (400, "InvalidArgument"), body[:300]
    s3 = http_server.client()
    assert s3.get_object(Bucket=b, Key="obj")["Body"].read() == b"0123456789"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=b).get("Contents", [])] == ["obj"]


def test_huge_numbers_in_ranges_and_documents(http_server, http_bucket, upload):
    b = http_bucket
    s3 = http_server.client()
    for rng in (f"bytes=0-{HUGE}", f"bytes={HUGE}-", f"bytes=-{HUGE}"):
        status, _, body = send(http_server, "GET", f"/{b}/obj", headers={"Range": rng})
        assert (status, body) == (200, b"0123456789"), rng          # a malformed Range is ignored, as S3 does
    status, code, _ = send(http_server, "PUT", f"/{b}/mp", {"partNumber": "1", "uploadId": upload},
                           headers={"x-amz-copy-source": f"/{b}/obj", "x-amz-copy-source-range": f"bytes=0-{HUGE}"})
    assert (status, code) == (400, "InvalidArgument")
    etag = s3.upload_part(Bucket=b, Key="mp", UploadId=upload, PartNumber=1, Body=b"x")["ETag"]
    doc = (f"<CompleteMultipartUpload><Part><PartNumber>{HUGE}</PartNumber><ETag>{etag}</ETag></Part>"
           "</CompleteMultipartUpload>").encode()
    status, code, _ = send(http_server, "POST", f"/{b}/mp", {"uploadId": upload}, body=doc)
    assert (status, code) == (400, "InvalidArgument")
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=b, Key="mp", UploadId=upload)["Parts"]] == [1]


def test_query_authentication_with_numbers_int_refuses(http_server, http_bucket):
    b = http_bucket
    now = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    v4 = {"X-Amz-Algorithm": "AWS4-HMAC-SHA256",
          "X-Amz-Credential": f"{ROOT_USER}/{now[:8]}/us-east-1/s3/aws4_request",
          "X-Amz-Date": now, "X-Amz-SignedHeaders": "host", "X-Amz-Signature": "0" * 64, "X-Amz-Expires": HUGE}
    status, code, _ = send(http_server, "GET", f"/{b}/obj", v4, signed=False)
    assert (status, code) == (400, "AuthorizationQueryParametersError")
    for expires in (HUGE, SUPERSCRIPT_TWO):
        v2 = {"AWSAccessKeyId": ROOT_USER, "Signature": "abc", "Expires": expires}
        status, code, _ = send(http_server, "GET", f"/{b}/obj", v2, signed=False)
        assert (status, code) == (403, "AccessDenied"), expires


def test_a_date_that_overflows_in_utc_is_refused(http_server, http_bucket):
    day = time.strftime("%Y%m%d", time.gmtime())
    status, code, _ = send(http_server, "GET", f"/{http_bucket}/obj", signed=False, headers={
        "Authorization": f"AWS4-HMAC-SHA256 Credential={ROOT_USER}/{day}/us-east-1/s3/aws4_request, "
                         f"SignedHeaders=host, Signature={'0' * 64}",
        "x-amz-content-sha256": hashlib.sha256(b"").hexdigest(),
        "Date": "Fri, 31 Dec 9999 23:59:59 -2359"})
    assert (status, code) == (403, "AccessDenied")


@pytest.mark.parametrize("value", ["a\r\nX-Evil: 1", "a\nb", "a\x00b"])
def test_control_characters_in_a_response_override_are_refused(http_server, http_bucket, value):
    http_server.client().put_object(Bucket=http_bucket, Key="obj", Body=b"0123456789")
    for param in ("response-content-type", "response-content-disposition"):
        status, code, body = send(http_server, "GET", f"/{http_bucket}/obj", {param: value})
        assert (status, code) == (400, "InvalidArgument"), body[:300]
    status, _, body = send(http_server, "GET", f"/{http_bucket}/obj", {"response-content-type": "text/a\tb"})
    assert (status, body) == (200, b"0123456789")


def test_if_none_match_with_an_etag_on_a_write_is_not_implemented(http_server, http_bucket):
    s3 = http_server.client()
    etag = s3.put_object(Bucket=http_bucket, Key="kept", Body=b"first")["ETag"]
    status, code, _ = send(http_server, "PUT", f"/{http_bucket}/kept", headers={"If-None-Match": etag},
                           body=b"second")
    assert (status, code) == (501, "NotImplemented")
    assert s3.get_object(Bucket=http_bucket, Key="kept")["Body"].read() == b"first"


@pytest.fixture(scope="module")
def impatient_server(tmp_path_factory, h):
    server = h.start_server(tmp_path_factory.mktemp("idle"), extra_env={"S3FREE_BODY_IDLE_TIMEOUT": "1"})
    yield server
    h.stop_server(server)


def _put_slowly(server, h, key: str, pieces: list[bytes], pause: float, announced: int) -> tuple[int, bytes, float]:
    """A PUT that announces `announced` bytes and sends `pieces` with `pause` seconds between
    them; returns (status, response bytes, seconds from the last piece to the answer)."""
    import socket
    path = f"/idle-bucket/{key}"
    hdrs = h.sign("PUT", server.endpoint + path, {"content-length": str(announced)}, "UNSIGNED-PAYLOAD")
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=20)
    try:
        sock.sendall((f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()
                                                            if not k.startswith("_")) + "\r\n").encode())
        for piece in pieces:
            time.sleep(pause)
            sock.sendall(piece)
        last = time.monotonic()
        data = b""
        while b"\r\n\r\n" not in data or (b"</Error>" not in data and b"200 OK" not in data.split(b"\r\n")[0]):
            got = sock.recv(65536)
            if not got:
                break
            data += got
        return int(data.split()[1]), data, time.monotonic() - last
    finally:
        sock.close()


def test_a_body_that_stalls_gets_request_timeout_and_leaves_nothing(impatient_server, h):
    s3 = impatient_server.client()
    s3.create_bucket(Bucket="idle-bucket")
    # steady but slow (a piece every 0.5 s, 2.5 s in all): not idle, so it is stored
    status, _, _ = _put_slowly(impatient_server, h, "steady", [b"x" * 10] * 5, 0.5, 50)
    assert status == 200
    assert s3.get_object(Bucket="idle-bucket", Key="steady")["Body"].read() == b"x" * 50
    # a small and a large body that stop halfway
    for key, size in (("small", 10), ("large", 3 << 20)):
        status, data, waited = _put_slowly(impatient_server, h, key, [b"y" * (size // 2)], 0, size)
        assert status == 400 and b"<Code>RequestTimeout</Code>" in data, data[:300]
        assert waited < 10
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="idle-bucket")["Contents"]] == ["steady"]
    objects = [p for p in impatient_server.data.glob("disk*/objects/**/*") if p.is_file()]
    assert objects == [], objects[:3]


def test_a_continuation_token_that_is_not_ours_is_refused(http_server, http_bucket):
    s3 = http_server.client()
    for key in ("a", "b", "c"):
        s3.put_object(Bucket=http_bucket, Key=key, Body=b"1")
    page = s3.list_objects_v2(Bucket=http_bucket, MaxKeys=1)
    assert s3.list_objects_v2(Bucket=http_bucket, ContinuationToken=page["NextContinuationToken"])["KeyCount"] >= 1
    for token in ("!!", "YQ", "YQ==!"):      # not base64; unpadded; trailing junk
        status, code, _ = send(http_server, "GET", f"/{http_bucket}", {"list-type": "2", "continuation-token": token})
        assert (status, code) == (400, "InvalidArgument"), token


def test_query_and_header_authentication_together_are_refused(http_server, http_bucket):
    http_server.client().put_object(Bucket=http_bucket, Key="obj", Body=b"0123456789")
    for params in ({"AWSAccessKeyId": ROOT_USER, "Signature": "abc", "Expires": "9999999999"},
                   {"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Signature": "0" * 64}):
        status, code, _ = send(http_server, "GET", f"/{http_bucket}/obj", params)     # also signed in the header
        assert (status, code) == (400, "InvalidArgument"), params
