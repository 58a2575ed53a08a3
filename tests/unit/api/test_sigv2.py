"""SigV2 presigned URLs as boto3 makes them by default verify; altered ones do not."""
import time
from urllib.parse import urlsplit

import boto3
import pytest

from s3free.api.errors import S3Error
from s3free.api.sigv2 import is_presigned_v2, verify_presigned

SECRETS = {"AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}


def _url(method="get_object", params=None, expires=300, endpoint="http://127.0.0.1:9000"):
    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="AKIDEXAMPLE",
                      aws_secret_access_key=SECRETS["AKIDEXAMPLE"], region_name="us-east-1")
    return s3.generate_presigned_url(method, Params=params or {"Bucket": "bkt", "Key": "a b/ü+c.txt"},
                                     ExpiresIn=expires)


def _verify(url, method="GET", headers=(), now=None, host_bucket=None):
    parts = urlsplit(url)
    return verify_presigned(method, parts.path, parts.query, [("host", parts.netloc), *headers],
                            time.time() if now is None else now, SECRETS.get, host_bucket=host_bucket)


def test_boto3_default_presigned_get_verifies():
    url = _url()
    assert is_presigned_v2(urlsplit(url).query), "boto3's default S3 presign is SigV2"
    auth = _verify(url)
    assert auth.access_key == "AKIDEXAMPLE" and auth.presigned and not auth.streaming


def test_presigned_put_with_content_type_and_subresources():
    url = _url("put_object", {"Bucket": "bkt", "Key": "k", "ContentType": "text/plain"})
    assert _verify(url, "PUT", [("content-type", "text/plain")]).access_key == "AKIDEXAMPLE"
    with pytest.raises(S3Error) as err:
        _verify(url, "PUT", [("content-type", "image/png")])
    assert err.value.code == "SignatureDoesNotMatch"
    part = _url("upload_part", {"Bucket": "bkt", "Key": "k", "UploadId": "abc", "PartNumber": 3})
    assert _verify(part, "PUT").access_key == "AKIDEXAMPLE"
    over = _url(params={"Bucket": "bkt", "Key": "k", "ResponseContentType": "x/y"})
    assert _verify(over).access_key == "AKIDEXAMPLE"


@pytest.mark.parametrize("change", ["path", "method", "query", "secret"])
def test_tampering_is_refused(change):
    url = _url()
    parts = urlsplit(url)
    method, path, query = "GET", parts.path, parts.query
    lookup = SECRETS.get
    if change == "path":
        path = path.replace("bkt", "other")
    elif change == "method":
        method = "DELETE"
    elif change == "query":
        query += "&versionId=1"
    else:
        lookup = {"AKIDEXAMPLE": "not-the-secret"}.get
    with pytest.raises(S3Error) as err:
        verify_presigned(method, path, query, [("host", parts.netloc)], time.time(), lookup)
    assert err.value.code == "SignatureDoesNotMatch"


def test_expired_and_unknown_keys():
    url = _url(expires=10)
    with pytest.raises(S3Error, match="expired"):
        _verify(url, now=time.time() + 60)
    with pytest.raises(S3Error) as err:
        verify_presigned("GET", "/bkt/k", "AWSAccessKeyId=NOPE&Expires=9999999999&Signature=abc", [],
                         time.time(), SECRETS.get)
    assert err.value.code == "InvalidAccessKeyId"


def test_virtual_hosted_style():
    from botocore.config import Config
    s3 = boto3.client("s3", endpoint_url="http://s3.test:9000", aws_access_key_id="AKIDEXAMPLE",
                      aws_secret_access_key=SECRETS["AKIDEXAMPLE"], region_name="us-east-1",
                      config=Config(s3={"addressing_style": "virtual"}))
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": "k"}, ExpiresIn=60)
    assert urlsplit(url).netloc.startswith("bkt.") and urlsplit(url).path == "/k"
    assert _verify(url, host_bucket="bkt").access_key == "AKIDEXAMPLE"
    with pytest.raises(S3Error):
        _verify(url, host_bucket="other")


@pytest.mark.parametrize("bad", ["AA", "%%%", "", "A", "not base64!"])
def test_malformed_signatures_are_s3_errors(bad):
    with pytest.raises(S3Error) as err:
        verify_presigned("GET", "/bkt/k", f"AWSAccessKeyId=AKIDEXAMPLE&Expires=9999999999&Signature={bad}x", [],
                         time.time(), SECRETS.get)
    assert err.value.code in ("SignatureDoesNotMatch", "AccessDenied")
