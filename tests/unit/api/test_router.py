import pytest

from s3free.api.errors import S3Error
from s3free.api.router import Target, check_bucket_name, check_key, operation, parse_query, route


def test_route_styles():
    assert route(b"/", "localhost", []) == Target("", "")
    assert route(b"/bkt", "localhost", []) == Target("bkt", "")
    assert route(b"/bkt/a%20b/%C3%A4", "127.0.0.1:9000", ["s3.test"]) == Target("bkt", "a b/ä")
    assert route(b"/a/b", "bkt.s3.test:9000", ["s3.test"]) == Target("bkt", "a/b", True)
    assert route(b"/bkt/k", "s3.test:9000", ["s3.test"]) == Target("bkt", "k")
    with pytest.raises(S3Error):
        route(b"/b/%FF", "x", [])


def test_operations():
    t = Target("b", "k")
    assert operation("PUT", t, {}, {}) == "PutObject"
    assert operation("PUT", t, {}, {"x-amz-copy-source": "/a/b"}) == "CopyObject"
    assert operation("PUT", t, {"partNumber": "1", "uploadId": "x"}, {}) == "UploadPart"
    assert operation("POST", t, {"uploads": ""}, {}) == "CreateMultipartUpload"
    assert operation("GET", Target("b", ""), {"list-type": "2"}, {}) == "ListObjectsV2"
    assert operation("PUT", Target("b", ""), {"versioning": ""}, {}) == "PutBucketVersioning"
    assert operation("GET", t, {"acl": ""}, {}) == "GetObjectAcl"
    with pytest.raises(S3Error) as exc:
        operation("PATCH", t, {}, {})
    assert exc.value.code == "MethodNotAllowed"


def test_names_and_query():
    check_bucket_name("my-bucket.1")
    for bad in ("ab", "AB-c", "a_b", "1.2.3.4", "a..b", "-ab", "xn--ab"):
        with pytest.raises(S3Error):
            check_bucket_name(bad)
    check_key("k" * 1024)
    with pytest.raises(S3Error) as exc:
        check_key("ä" * 513)
    assert exc.value.code == "KeyTooLongError"
    assert parse_query(b"prefix=a%20b&delimiter=%2F&uploads") == {"prefix": "a b", "delimiter": "/", "uploads": ""}
