"""boto3 at default settings (CRC checksums, aws-chunked trailers over HTTPS) against the real server."""
from __future__ import annotations

import base64
import hashlib
import os
import time
import urllib.error
import urllib.request
import ssl
from concurrent.futures import ThreadPoolExecutor

import crc32c
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from s3free import native

MiB = 1 << 20


def _get(url: str, server, data: bytes | None = None, method: str = "GET"):
    ctx = ssl.create_default_context(cafile=server.ca) if server.ca else None
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.mark.parametrize("size", [0, 1, 100 * 1024, 5 * MiB + 3])
def test_round_trip(server, bucket, size):
    s3 = server.client()
    data = os.urandom(size)
    put = s3.put_object(Bucket=bucket, Key=f"obj-{size}", Body=data, ContentType="text/x-test",
                        Metadata={"colour": "blue"})
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert "ChecksumCRC32" in put  # botocore's default checksum was verified and echoed
    got = s3.get_object(Bucket=bucket, Key=f"obj-{size}", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got["ETag"] == put["ETag"]
    assert got["ContentType"] == "text/x-test"
    assert got["Metadata"] == {"colour": "blue"}
    assert got["ChecksumCRC32"] == put["ChecksumCRC32"]
    head = s3.head_object(Bucket=bucket, Key=f"obj-{size}")
    assert head["ContentLength"] == size and head["ETag"] == put["ETag"]


def test_multipart_large(server, bucket, h):
    """>= 100 MiB through boto3's multipart transfer, streamed in and out."""
    s3 = server.client()
    size, part = 104 * MiB + 12345, 16 * MiB
    s3.upload_fileobj(h.PatternStream(size, seed=3), bucket, "big", Config=TransferConfig(
        multipart_threshold=part, multipart_chunksize=part, max_concurrency=2))
    head = s3.head_object(Bucket=bucket, Key="big")
    assert head["ContentLength"] == size
    src = h.PatternStream(size, seed=3)
    md5s = []
    while chunk := src.read(part):
        md5s.append(hashlib.md5(chunk).digest())
    assert head["ETag"] == f'"{hashlib.md5(b"".join(md5s)).hexdigest()}-{len(md5s)}"'
    body = s3.get_object(Bucket=bucket, Key="big")["Body"]
    digest, total = hashlib.md5(), 0
    for chunk in body.iter_chunks(4 * MiB):
        digest.update(chunk)
        total += len(chunk)
    assert total == size and digest.hexdigest() == h.pattern_digest(size, seed=3)[0]
    part2 = s3.get_object(Bucket=bucket, Key="big", PartNumber=2)
    assert part2["ContentLength"] == part and part2["PartsCount"] == len(md5s)
    assert hashlib.md5(part2["Body"].read()).digest() == md5s[1]


def test_ranges(http_server, http_bucket):
    s3 = http_server.client()
    data = os.urandom(300_000)
    s3.put_object(Bucket=http_bucket, Key="r", Body=data)
    for header, want in [("bytes=0-9", data[:10]), ("bytes=299990-", data[299990:]), ("bytes=-7", data[-7:]),
                         ("bytes=299999-400000", data[-1:]), ("bytes=100-100", data[100:101])]:
        got = s3.get_object(Bucket=http_bucket, Key="r", Range=header)
        assert got["Body"].read() == want, header
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["ContentRange"].endswith("/300000")
    whole = s3.get_object(Bucket=http_bucket, Key="r", Range="bytes=5-2")  # invalid: ignored, like S3
    assert whole["ResponseMetadata"]["HTTPStatusCode"] == 200 and whole["Body"].read() == data


def test_conditional_requests(http_server, http_bucket):
    s3 = http_server.client()
    etag = s3.put_object(Bucket=http_bucket, Key="c", Body=b"abc")["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=http_bucket, Key="c", IfNoneMatch=etag)
    assert exc.value.response["Error"]["Code"] == "304"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=http_bucket, Key="c", IfMatch='"0000"')
    assert exc.value.response["Error"]["Code"] == "PreconditionFailed"
    assert s3.get_object(Bucket=http_bucket, Key="c", IfMatch=etag)["Body"].read() == b"abc"
    future = time.time() + 3600
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=http_bucket, Key="c", IfModifiedSince=future)
    assert exc.value.response["Error"]["Code"] == "304"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=http_bucket, Key="c", IfUnmodifiedSince=time.time() - 3600)
    assert exc.value.response["Error"]["Code"] == "PreconditionFailed"
    # conditional writes
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=http_bucket, Key="c", Body=b"new", IfNoneMatch="*")
    assert exc.value.response["Error"]["Code"] == "PreconditionFailed"
    assert s3.get_object(Bucket=http_bucket, Key="c")["Body"].read() == b"abc"


def test_stored_headers_and_overrides(http_server, http_bucket):
    s3 = http_server.client()
    s3.put_object(Bucket=http_bucket, Key="hd", Body=b"x", ContentEncoding="gzip", ContentDisposition="inline",
                  CacheControl="max-age=5", ContentLanguage="de", Expires=time.time() + 86400)
    got = s3.get_object(Bucket=http_bucket, Key="hd")
    assert (got["ContentEncoding"], got["ContentDisposition"], got["CacheControl"], got["ContentLanguage"]) == \
        ("gzip", "inline", "max-age=5", "de")
    assert "expires" in got["ResponseMetadata"]["HTTPHeaders"]
    got = s3.get_object(Bucket=http_bucket, Key="hd", ResponseContentType="text/csv",
                        ResponseContentDisposition="attachment; filename=a.csv")
    assert got["ContentType"] == "text/csv" and got["ContentDisposition"] == "attachment; filename=a.csv"


@pytest.mark.parametrize("algorithm", ["CRC32C", "SHA1", "SHA256", "CRC64NVME"])
def test_checksum_algorithms(server, bucket, algorithm):
    s3 = server.client()
    data = os.urandom(200_000)
    if algorithm in ("CRC32C", "CRC64NVME"):  # botocore computes these only with awscrt: send the value
        value = crc32c.crc32c(data).to_bytes(4, "big") if algorithm == "CRC32C" else \
            native.crc64nvme(data, 0).to_bytes(8, "big")
        put = s3.put_object(Bucket=bucket, Key="ck", Body=data, **{f"Checksum{algorithm}": base64.b64encode(value).decode()})
    else:
        put = s3.put_object(Bucket=bucket, Key="ck", Body=data, ChecksumAlgorithm=algorithm)
    got = s3.get_object(Bucket=bucket, Key="ck", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got[f"Checksum{algorithm}"] == put[f"Checksum{algorithm}"]


def test_listing_pagination_and_delimiters(http_server, http_bucket):
    s3 = http_server.client(max_pool_connections=16)
    keys = [f"dir{i % 5}/sub{i % 3}/key-{i:05d}" for i in range(2500)] + ["top-a", "top b+c", "ünï/cödé"]
    with ThreadPoolExecutor(12) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=http_bucket, Key=k, Body=k.encode()), keys))
    listed = []
    pages = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=http_bucket, PaginationConfig={"PageSize": 1000}):
        listed += [o["Key"] for o in page.get("Contents", [])]
        pages += 1
    assert listed == sorted(keys, key=lambda k: k.encode()) and pages == 3
    v1 = [o["Key"] for page in s3.get_paginator("list_objects").paginate(
        Bucket=http_bucket, PaginationConfig={"PageSize": 700}) for o in page.get("Contents", [])]
    assert v1 == listed
    top = s3.list_objects_v2(Bucket=http_bucket, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == [f"dir{i}/" for i in range(5)] + ["ünï/"]
    assert [o["Key"] for o in top["Contents"]] == ["top b+c", "top-a"]
    sub = s3.list_objects_v2(Bucket=http_bucket, Prefix="dir1/", Delimiter="/")
    assert [p["Prefix"] for p in sub["CommonPrefixes"]] == ["dir1/sub0/", "dir1/sub1/", "dir1/sub2/"]
    one = s3.list_objects_v2(Bucket=http_bucket, Prefix="dir2/sub1/", MaxKeys=10, StartAfter="dir2/sub1/key-01000")
    assert all(o["Key"] > "dir2/sub1/key-01000" for o in one["Contents"]) and one["KeyCount"] == 10
    assert one["IsTruncated"]
    # encoding-type=url asked for explicitly: botocore leaves the keys percent-encoded
    enc = s3.list_objects_v2(Bucket=http_bucket, Prefix="top", EncodingType="url")
    assert [o["Key"] for o in enc["Contents"]] == ["top%20b%2Bc", "top-a"]
    owner = s3.list_objects_v2(Bucket=http_bucket, MaxKeys=1, FetchOwner=True)["Contents"][0]["Owner"]
    assert owner["ID"] == "rootadmin"
    versions = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=http_bucket,
                                                                  PaginationConfig={"PageSize": 1000}):
        versions += page.get("Versions", [])
    assert [v["Key"] for v in versions] == listed
    assert {v["VersionId"] for v in versions} == {"null"} and all(v["IsLatest"] for v in versions)
    loc = s3.get_bucket_location(Bucket=http_bucket)
    assert loc["LocationConstraint"] is None


def test_copy(server, bucket):
    s3 = server.client()
    data = os.urandom(300_000)
    src_key = "src dir/ä+b c.bin"
    put = s3.put_object(Bucket=bucket, Key=src_key, Body=data, Metadata={"m": "1"}, ContentType="a/b")
    r = s3.copy_object(Bucket=bucket, Key="copy1", CopySource={"Bucket": bucket, "Key": src_key})
    assert r["CopyObjectResult"]["ETag"] == put["ETag"]
    got = s3.get_object(Bucket=bucket, Key="copy1")
    assert got["Body"].read() == data and got["Metadata"] == {"m": "1"} and got["ContentType"] == "a/b"
    s3.copy_object(Bucket=bucket, Key="copy2", CopySource={"Bucket": bucket, "Key": src_key},
                   MetadataDirective="REPLACE", Metadata={"m": "2"}, ContentType="c/d")
    head = s3.head_object(Bucket=bucket, Key="copy2")
    assert head["Metadata"] == {"m": "2"} and head["ContentType"] == "c/d"
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="copy3", CopySource={"Bucket": bucket, "Key": src_key},
                       CopySourceIfMatch='"nope"')
    assert exc.value.response["Error"]["Code"] == "PreconditionFailed"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="copy3")
    # UploadPartCopy with ranges
    up = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    big = os.urandom(6 * MiB)
    s3.put_object(Bucket=bucket, Key="big-src", Body=big)
    p1 = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=up, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "big-src"}, CopySourceRange=f"bytes=0-{5 * MiB}")
    p2 = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=up, PartNumber=2,
                             CopySource={"Bucket": bucket, "Key": src_key}, CopySourceRange="bytes=10-19")
    s3.complete_multipart_upload(Bucket=bucket, Key="assembled", UploadId=up, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": p1["CopyPartResult"]["ETag"]},
        {"PartNumber": 2, "ETag": p2["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="assembled")["Body"].read() == big[:5 * MiB + 1] + data[10:20]


def test_multi_delete(server, bucket):
    s3 = server.client()
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"d{i}", Body=b"x")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "d0"}, {"Key": "d1", "VersionId": "null"},
                                                             {"Key": "missing"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["d0", "d1", "missing"]
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "d2"}, {"Key": "d3", "VersionId": "v9"}],
                                                 "Quiet": True})
    assert "Deleted" not in r and [e["Key"] for e in r["Errors"]] == ["d3"]
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert left == ["d3", "d4"]


def test_multipart_listing_and_abort(http_server, http_bucket):
    s3 = http_server.client()
    up = s3.create_multipart_upload(Bucket=http_bucket, Key="mp/one")["UploadId"]
    s3.upload_part(Bucket=http_bucket, Key="mp/one", UploadId=up, PartNumber=1, Body=b"a" * 1000)
    s3.upload_part(Bucket=http_bucket, Key="mp/one", UploadId=up, PartNumber=3, Body=b"b" * 10)
    uploads = s3.list_multipart_uploads(Bucket=http_bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("mp/one", up)]
    parts = s3.list_parts(Bucket=http_bucket, Key="mp/one", UploadId=up)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, 1000), (3, 10)]
    s3.abort_multipart_upload(Bucket=http_bucket, Key="mp/one", UploadId=up)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=http_bucket)
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=http_bucket, Key="mp/one", UploadId=up)
    assert exc.value.response["Error"]["Code"] == "NoSuchUpload"


def test_presigned(server, bucket):
    s3 = server.client(signature_version="s3v4")  # SigV4 presigning (defaults: test_presigned_with_boto3_defaults)
    v2 = server.client().generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre"})
    status, body = _get(v2, server)
    assert status == 404 and b"NoSuchKey" in body     # authenticated (SigV2), and the key is not there yet
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "pre"}, ExpiresIn=300)
    status, _ = _get(put_url, server, data=b"presigned body", method="PUT")
    assert status == 200
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre"}, ExpiresIn=300)
    assert _get(get_url, server) == (200, b"presigned body")
    short = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre"}, ExpiresIn=1)
    time.sleep(2.1)
    status, body = _get(short, server)
    assert status == 403 and b"<Code>AccessDenied</Code>" in body and b"Request has expired" in body


def test_virtual_hosted_style(server, bucket):
    s3 = server.client(virtual=True)
    s3.put_object(Bucket=bucket, Key="vh/a b", Body=b"virtual")
    assert s3.get_object(Bucket=bucket, Key="vh/a b")["Body"].read() == b"virtual"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["vh/a b"]
    s3.head_bucket(Bucket=bucket)
    assert server.client().get_object(Bucket=bucket, Key="vh/a b")["Body"].read() == b"virtual"


def test_expect_100_continue(http_server, http_bucket):
    """botocore sends Expect: 100-continue on large PutObject bodies; the put must not stall."""
    s3 = http_server.client()
    sent = {}
    def capture(request, **_):  # before-send handlers must return None (a value is taken as the response)
        sent["expect"] = request.headers.get("Expect")

    s3.meta.events.register("before-send.s3.PutObject", capture)
    data = os.urandom(4 * MiB)
    t0 = time.monotonic()
    s3.put_object(Bucket=http_bucket, Key="expect", Body=data)
    assert time.monotonic() - t0 < 5
    assert sent["expect"] == b"100-continue" or sent["expect"] == "100-continue"
    assert s3.get_object(Bucket=http_bucket, Key="expect")["Body"].read() == data


def test_owner_scoping(http_server, http_bucket, h):
    root, other = http_server.client(), http_server.client(h.OTHER_USER, h.OTHER_SECRET)
    root.put_object(Bucket=http_bucket, Key="private", Body=b"root's")
    assert http_bucket not in [b["Name"] for b in other.list_buckets()["Buckets"]]
    for call in (lambda: other.get_object(Bucket=http_bucket, Key="private"),
                 lambda: other.put_object(Bucket=http_bucket, Key="x", Body=b"x"),
                 lambda: other.list_objects_v2(Bucket=http_bucket),
                 lambda: other.delete_object(Bucket=http_bucket, Key="private"),
                 lambda: other.delete_bucket(Bucket=http_bucket)):
        with pytest.raises(ClientError) as exc:
            call()
        assert exc.value.response["Error"]["Code"] in ("AccessDenied", "403")
    assert [o["Key"] for o in root.list_objects_v2(Bucket=http_bucket)["Contents"]] == ["private"]
    name = http_bucket + "-other"
    other.create_bucket(Bucket=name)
    try:
        assert [b["Name"] for b in other.list_buckets()["Buckets"]] == [name]
        other.put_object(Bucket=name, Key="mine", Body=b"1")
        with pytest.raises(ClientError) as exc:
            root.create_bucket(Bucket=name)
        assert exc.value.response["Error"]["Code"] == "BucketAlreadyExists"
    finally:
        h.empty_and_delete(other, name)


def test_signed_streaming_upload(server, bucket, h):
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD: every chunk signature is checked (no Python client sends it)."""
    data = [os.urandom(70_000), os.urandom(65_536), os.urandom(123)]
    payload = b"".join(data)
    path = f"/{bucket}/signed-stream"
    headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(payload))}
    signing = h.sign("PUT", server.endpoint + path, headers, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    body = h.signed_chunks(data, signing)
    signing["content-length"] = str(len(body))
    status, _, text = h.raw_request(server, "PUT", path, signing, body)
    assert status == 200, text
    assert server.client().get_object(Bucket=bucket, Key="signed-stream")["Body"].read() == payload
    # one flipped byte in a chunk: SignatureDoesNotMatch, and the object keeps its old content
    signing = h.sign("PUT", server.endpoint + path, headers, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    body = bytearray(h.signed_chunks(data, signing))
    body[-200] ^= 1
    signing["content-length"] = str(len(body))
    status, _, text = h.raw_request(server, "PUT", path, signing, bytes(body))
    assert status == 403 and b"SignatureDoesNotMatch" in text
    assert server.client().get_object(Bucket=bucket, Key="signed-stream")["Body"].read() == payload


def test_health(server):
    status, body = _get(server.endpoint + "/_s3free/health/ready", server)
    assert status == 200 and b"ready" in body
    assert _get(server.endpoint + "/_s3free/health/live", server)[0] == 200


def test_presigned_with_boto3_defaults(server, bucket):
    """boto3 with default settings presigns with SigV2: GET and PUT work unchanged."""
    import urllib.request
    import ssl
    s3 = server.client()
    s3.put_object(Bucket=bucket, Key="pre/default.txt", Body=b"hello v2")
    import boto3
    plain = boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id=h_root()[0],
                         aws_secret_access_key=h_root()[1], region_name="us-east-1", verify=server.verify)
    get_url = plain.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre/default.txt"},
                                           ExpiresIn=120)
    assert "Signature=" in get_url and "AWSAccessKeyId=" in get_url
    ctx = ssl.create_default_context(cafile=server.ca) if server.ca else None
    with urllib.request.urlopen(get_url, context=ctx, timeout=10) as r:
        assert r.read() == b"hello v2"
    put_url = plain.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "pre/up.bin",
                                                                 "ContentType": "application/octet-stream"},
                                           ExpiresIn=120)
    req = urllib.request.Request(put_url, data=b"uploaded via sigv2", method="PUT",
                                 headers={"Content-Type": "application/octet-stream"})   # SigV2 signs it
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        assert r.status == 200
    assert s3.get_object(Bucket=bucket, Key="pre/up.bin")["Body"].read() == b"uploaded via sigv2"
    bad = get_url.replace("Signature=", "Signature=AA")
    try:
        urllib.request.urlopen(bad, context=ctx, timeout=10)
        raise AssertionError("a tampered signature was accepted")
    except urllib.error.HTTPError as err:
        assert err.code == 403 and b"SignatureDoesNotMatch" in err.read()


def h_root():
    from serverkit import ROOT_PASSWORD, ROOT_USER
    return ROOT_USER, ROOT_PASSWORD
