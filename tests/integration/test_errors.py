"""Every error of issue 4: S3 code, HTTP status, and that nothing was created or changed."""
from __future__ import annotations

import hashlib
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError


def fails(call, code: str, status: int):
    with pytest.raises(ClientError) as exc:
        call()
    err = exc.value.response
    assert (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]) == (code, status), err
    assert err["ResponseMetadata"]["HTTPHeaders"].get("x-amz-request-id")
    return err


def keys(s3, bucket):
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_bucket_errors(http_server, http_bucket, h):
    s3 = http_server.client()
    before = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    for bad in ("ab", "Upper", "a..b", "192.168.1.1", "-lead", "x" * 64, "xn--abc"):
        fails(lambda: s3.create_bucket(Bucket=bad), "InvalidBucketName", 400)
    fails(lambda: s3.create_bucket(Bucket=http_bucket), "BucketAlreadyOwnedByYou", 409)
    other = http_server.client(h.OTHER_USER, h.OTHER_SECRET)
    fails(lambda: other.create_bucket(Bucket=http_bucket), "BucketAlreadyExists", 409)
    fails(lambda: s3.head_bucket(Bucket="no-such-bucket-x"), "404", 404)
    fails(lambda: s3.list_objects_v2(Bucket="no-such-bucket-x"), "NoSuchBucket", 404)
    fails(lambda: s3.create_bucket(Bucket="loc-test-xyz", CreateBucketConfiguration={
        "LocationConstraint": "eu-west-1"}), "IllegalLocationConstraintException", 400)
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == before
    s3.put_object(Bucket=http_bucket, Key="keep", Body=b"1")
    fails(lambda: s3.delete_bucket(Bucket=http_bucket), "BucketNotEmpty", 409)
    assert keys(s3, http_bucket) == ["keep"]


def test_object_errors(http_server, http_bucket):
    s3 = http_server.client()
    fails(lambda: s3.get_object(Bucket=http_bucket, Key="missing"), "NoSuchKey", 404)
    fails(lambda: s3.put_object(Bucket=http_bucket, Key="k" * 1025, Body=b"x"), "KeyTooLongError", 400)
    s3.put_object(Bucket=http_bucket, Key="r", Body=b"0123456789")
    err = fails(lambda: s3.get_object(Bucket=http_bucket, Key="r", Range="bytes=10-20"), "InvalidRange", 416)
    assert err["ResponseMetadata"]["HTTPHeaders"]["content-range"] == "bytes */10"
    fails(lambda: s3.get_object(Bucket=http_bucket, Key="r", PartNumber=2), "InvalidPartNumber", 416)
    fails(lambda: s3.get_object(Bucket=http_bucket, Key="r", VersionId="abc"), "NoSuchVersion", 404)
    fails(lambda: s3.put_object(Bucket=http_bucket, Key="md5", Body=b"data",
                                ContentMD5="AAAAAAAAAAAAAAAAAAAAAA=="), "BadDigest", 400)
    fails(lambda: s3.put_object(Bucket=http_bucket, Key="crc", Body=b"data", ChecksumCRC32="AAAAAA=="),
          "BadDigest", 400)
    fails(lambda: s3.put_object(Bucket=http_bucket, Key="crc", Body=b"data", ChecksumCRC32="not-base64"),
          "InvalidRequest", 400)
    fails(lambda: s3.put_object(Bucket=http_bucket, Key="acl", Body=b"x", ACL="public-read"), "NotImplemented", 501)
    fails(lambda: s3.put_object(Bucket=http_bucket, Key="sc", Body=b"x", StorageClass="GLACIER"),
          "InvalidStorageClass", 400)
    fails(lambda: s3.copy_object(Bucket=http_bucket, Key="r", CopySource={"Bucket": http_bucket, "Key": "r"}),
          "InvalidRequest", 400)
    fails(lambda: s3.copy_object(Bucket=http_bucket, Key="c", CopySource={"Bucket": http_bucket, "Key": "nope"}),
          "NoSuchKey", 404)
    assert keys(s3, http_bucket) == ["r"]
    assert s3.get_object(Bucket=http_bucket, Key="r")["Body"].read() == b"0123456789"


def test_not_implemented(http_server, http_bucket):
    s3 = http_server.client()
    for call in (lambda: s3.put_bucket_versioning(Bucket=http_bucket, VersioningConfiguration={"Status": "Enabled"}),
                 lambda: s3.get_bucket_acl(Bucket=http_bucket),
                 lambda: s3.get_bucket_policy(Bucket=http_bucket),
                 lambda: s3.put_object_tagging(Bucket=http_bucket, Key="k", Tagging={"TagSet": []})):
        err = fails(call, "NotImplemented", 501)
        assert err["Error"]["Message"]


def test_multipart_errors(http_server, http_bucket):
    s3 = http_server.client()
    up = s3.create_multipart_upload(Bucket=http_bucket, Key="mp")["UploadId"]
    e1 = s3.upload_part(Bucket=http_bucket, Key="mp", UploadId=up, PartNumber=1, Body=b"a" * 100)["ETag"]
    e2 = s3.upload_part(Bucket=http_bucket, Key="mp", UploadId=up, PartNumber=2, Body=b"b" * 100)["ETag"]
    complete = lambda parts: s3.complete_multipart_upload(  # noqa: E731
        Bucket=http_bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": parts})
    fails(lambda: complete([{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]), "EntityTooSmall", 400)
    fails(lambda: complete([{"PartNumber": 1, "ETag": '"0000"'}]), "InvalidPart", 400)
    fails(lambda: complete([{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]), "InvalidPartOrder", 400)
    fails(lambda: s3.upload_part(Bucket=http_bucket, Key="mp", UploadId="0" * 32, PartNumber=1, Body=b"x"),
          "NoSuchUpload", 404)
    fails(lambda: s3.upload_part(Bucket=http_bucket, Key="mp", UploadId=up, PartNumber=10001, Body=b"x"),
          "InvalidArgument", 400)
    assert keys(s3, http_bucket) == []
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=http_bucket, Key="mp", UploadId=up)["Parts"]] == [1, 2]
    s3.complete_multipart_upload(Bucket=http_bucket, Key="mp", UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}]})  # last part may be small
    assert s3.get_object(Bucket=http_bucket, Key="mp")["Body"].read() == b"a" * 100


def test_auth_errors(http_server, http_bucket, h):
    good = http_server.client()
    good.put_object(Bucket=http_bucket, Key="a", Body=b"1")
    fails(lambda: http_server.client("NOSUCHKEY", "whatever-secret").list_buckets(), "InvalidAccessKeyId", 403)
    fails(lambda: http_server.client(h.ROOT_USER, "wrong-secret-123").put_object(
        Bucket=http_bucket, Key="b", Body=b"2"), "SignatureDoesNotMatch", 403)
    # anonymous
    try:
        urllib.request.urlopen(f"{http_server.endpoint}/{http_bucket}/a", timeout=10)
        raise AssertionError("anonymous read succeeded")
    except urllib.error.HTTPError as e:
        assert e.code == 403 and b"<Code>AccessDenied</Code>" in e.read()
    # a clock 20 minutes off
    path = f"/{http_bucket}/skewed"
    empty = hashlib.sha256(b"").hexdigest()
    signed = h.sign("PUT", http_server.endpoint + path, {"content-length": "0"}, empty, when=time.time() - 1200)
    status, _, body = h.raw_request(http_server, "PUT", path, signed)
    assert status == 403 and b"RequestTimeTooSkewed" in body
    # a signed payload hash that does not match the body
    signed = h.sign("PUT", http_server.endpoint + path, {"content-length": "4"}, empty)
    status, _, body = h.raw_request(http_server, "PUT", path, signed, b"abcd")
    assert status == 400 and b"XAmzContentSHA256Mismatch" in body
    # presigned URL valid for more than 7 days
    url = good.generate_presigned_url("get_object", Params={"Bucket": http_bucket, "Key": "a"}, ExpiresIn=3600)
    url = url.replace("X-Amz-Expires=3600", "X-Amz-Expires=604801")
    try:
        urllib.request.urlopen(url, timeout=10)
    except urllib.error.HTTPError as e:
        assert e.code in (400, 403) and e.read().count(b"<Code>") == 1
    # STS/IAM-style request to the S3 endpoint: a quick XML error
    t0 = time.monotonic()
    req = urllib.request.Request(http_server.endpoint + "/", data=b"Action=GetCallerIdentity&Version=2011-06-15",
                                 method="POST")
    try:
        urllib.request.urlopen(req, timeout=10)
    except urllib.error.HTTPError as e:
        assert e.code in (403, 501) and b"<Error>" in e.read()
    assert time.monotonic() - t0 < 2
    assert keys(good, http_bucket) == ["a"]


def test_body_errors(http_server, http_bucket, h):
    s3 = http_server.client()
    s3.put_object(Bucket=http_bucket, Key="kept", Body=b"old")
    unsigned = "UNSIGNED-PAYLOAD"
    # no Content-Length and no chunked transfer coding
    path = f"/{http_bucket}/nolength"
    signed = h.sign("PUT", http_server.endpoint + path, {}, unsigned)
    status, _, body = h.raw_request(http_server, "PUT", path, signed)
    assert status == 411 and b"MissingContentLength" in body
    # chunked transfer coding without Content-Length is fine
    signed = h.sign("PUT", http_server.endpoint + path, {"transfer-encoding": "chunked"}, unsigned)
    status, _, body = h.raw_request(http_server, "PUT", path, signed, b"5\r\nhello\r\n0\r\n\r\n")
    assert status == 200, body
    assert s3.get_object(Bucket=http_bucket, Key="nolength")["Body"].read() == b"hello"
    # malformed XML
    path = f"/{http_bucket}?delete"
    xml = b"<Delete><Object><Key>kept</Key></Object"
    signed = h.sign("POST", http_server.endpoint + path, {"content-length": str(len(xml))},
                    hashlib.sha256(xml).hexdigest())
    status, _, body = h.raw_request(http_server, "POST", path, signed, xml)
    assert status == 400 and b"MalformedXML" in body
    # a client that disconnects mid-upload (small and large objects): nothing becomes visible
    for key, size in (("cut-small", 50_000), ("cut-large", 20 << 20)):
        path = f"/{http_bucket}/{key}"
        signed = h.sign("PUT", http_server.endpoint + path, {"content-length": str(size)}, unsigned)
        h.raw_request(http_server, "PUT", path, signed, b"x" * size, close_after=size // 2)
    # overwriting an existing key with a cut-off body leaves the old version
    path = f"/{http_bucket}/kept"
    signed = h.sign("PUT", http_server.endpoint + path, {"content-length": "8000000"}, unsigned)
    h.raw_request(http_server, "PUT", path, signed, b"y" * 8_000_000, close_after=3_000_000)
    time.sleep(1)
    assert sorted(keys(s3, http_bucket)) == ["kept", "nolength"]
    assert s3.get_object(Bucket=http_bucket, Key="kept")["Body"].read() == b"old"
