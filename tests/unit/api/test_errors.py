"""S3 error vocabulary and the <Error> document."""

import doctest
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3free.api import errors
from s3free.api.errors import ERRORS, S3Error, error_xml, xml_text

EXPECTED_STATUS = {
    "AccessDenied": 403, "InvalidAccessKeyId": 403, "SignatureDoesNotMatch": 403, "RequestTimeTooSkewed": 403,
    "AuthorizationHeaderMalformed": 400, "AuthorizationQueryParametersError": 400, "MissingSecurityHeader": 400,
    "BadDigest": 400, "InvalidDigest": 400, "XAmzContentSHA256Mismatch": 400, "IncompleteBody": 400,
    "InvalidRequest": 400, "InvalidArgument": 400, "InvalidRange": 416, "MalformedXML": 400,
    "InvalidBucketName": 400, "KeyTooLongError": 400, "NoSuchBucket": 404, "NoSuchKey": 404, "NoSuchUpload": 404,
    "BucketAlreadyOwnedByYou": 409, "BucketAlreadyExists": 409, "BucketNotEmpty": 409, "EntityTooSmall": 400,
    "EntityTooLarge": 400, "InvalidPart": 400, "InvalidPartOrder": 400, "MissingContentLength": 411,
    "PreconditionFailed": 412, "NotImplemented": 501, "MethodNotAllowed": 405, "InternalError": 500,
    "SlowDown": 503, "ServiceUnavailable": 503, "MaxMessageLengthExceeded": 400, "ExpiredToken": 400,
    "MalformedTrailerError": 400, "NoSuchVersion": 404, "NotModified": 304,
}


def test_doctests():
    assert doctest.testmod(errors).failed == 0


@pytest.mark.parametrize("code,status", sorted(EXPECTED_STATUS.items()))
def test_table_status(code, status):
    assert ERRORS[code][0] == status
    err = S3Error(code)
    assert (err.code, err.status, err.message) == (code, status, ERRORS[code][1])


def test_every_entry_is_well_formed():
    for code, (status, message) in ERRORS.items():
        assert code.isidentifier() and 300 <= status < 600 and message


def test_overrides_and_extras():
    err = S3Error("InvalidRange", "custom", status=400, resource="/b/k", ActualObjectSize=10,
                  extra={"X-Amz-Expires": 5})
    assert (err.message, err.status, err.resource) == ("custom", 400, "/b/k")
    assert err.extra == {"X-Amz-Expires": "5", "ActualObjectSize": "10"}
    assert "InvalidRange" in str(err) and "InvalidRange" in repr(err)


def test_unknown_code_is_a_server_error():
    assert S3Error("SomethingNew").status == 500
    assert S3Error("SomethingNew", status=418).status == 418


def test_error_xml_fields():
    err = S3Error("SignatureDoesNotMatch", StringToSign="AWS4-HMAC-SHA256\n2013", CanonicalRequest="GET\n/a&b")
    doc = error_xml(err, "/bucket/key", "REQ1", "HOST1")
    assert doc.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(doc)
    assert root.tag == "Error"
    assert root.findtext("Code") == "SignatureDoesNotMatch"
    assert root.findtext("Message") == ERRORS["SignatureDoesNotMatch"][1]
    assert root.findtext("StringToSign") == "AWS4-HMAC-SHA256\n2013"
    assert root.findtext("CanonicalRequest") == "GET\n/a&b"
    assert root.findtext("Resource") == "/bucket/key"
    assert root.findtext("RequestId") == "REQ1"
    assert root.findtext("HostId") == "HOST1"


def test_error_xml_resource_precedence_and_optional_parts():
    err = S3Error("NoSuchKey", resource="/own")
    assert ET.fromstring(error_xml(err)).findtext("Resource") == "/own"
    assert ET.fromstring(error_xml(err, "/given")).findtext("Resource") == "/given"
    root = ET.fromstring(error_xml(S3Error("AccessDenied"), request_id="r"))
    assert root.find("Resource") is None and root.find("HostId") is None and root.findtext("RequestId") == "r"


def test_error_xml_skips_extras_that_are_not_element_names():
    doc = error_xml(S3Error("AccessDenied", extra={"bad name": "x", "xmlFoo": "y", "X-Amz-Expires": "7"}))
    root = ET.fromstring(doc)
    assert root.findtext("X-Amz-Expires") == "7"
    assert len(root) == 4  # Code, Message, X-Amz-Expires, RequestId


def test_xml_text_references_what_xml_cannot_carry():
    assert xml_text("a\x01b\rc") == "a&#x1;b&#xD;c"
    assert xml_text("\udcff") == "\ufffd"
    assert xml_text(12) == "12"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"
                                      "\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14"
                                      "\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\ufffe\uffff")))
def test_message_and_resource_round_trip(text):
    root = ET.fromstring(error_xml(S3Error("InvalidArgument", text, ArgumentValue=text), text, "rid"))
    assert root.findtext("Message") == text
    assert root.findtext("ArgumentValue") == text
    if text:
        assert root.findtext("Resource") == text
