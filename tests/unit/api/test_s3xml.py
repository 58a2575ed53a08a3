"""S3 XML documents: rendering checked by parsing them back, request parsing checked against hostile input."""

import doctest
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3free.api import s3xml
from s3free.api.errors import S3Error
from s3free.api.s3xml import (BucketEntry, CompletedPart, DeleteError, Deleted, ListPage, ObjectEntry, Owner,
                              PartEntry, UploadEntry, UploadPage, VersionEntry, VersionPage)

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
OWNER = Owner("owner-id", "owner name")
WHEN = datetime(2026, 11, 24, 11, 2, 52, 123999, tzinfo=timezone.utc)


def parse(doc: bytes) -> ET.Element:
    assert doc.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(doc)


def q(path):
    return "/".join(NS + p for p in path.split("/"))


def _error(fn, *args) -> S3Error:
    with pytest.raises(S3Error) as info:
        fn(*args)
    return info.value


def test_doctests():
    assert doctest.testmod(s3xml).failed == 0


def test_iso8601():
    assert s3xml.iso8601(WHEN) == "2026-11-24T11:02:52.123Z"
    assert s3xml.iso8601(WHEN.astimezone(timezone(timedelta(hours=5)))) == "2026-11-24T11:02:52.123Z"
    assert s3xml.iso8601(WHEN.timestamp()) == "2026-11-24T11:02:52.123Z"
    assert s3xml.iso8601(1_700_000_000) == "2023-11-14T22:13:20.000Z"


def test_list_buckets():
    root = parse(s3xml.list_buckets_xml(OWNER, [BucketEntry("a", WHEN), BucketEntry("b", 0)]))
    assert root.tag == NS + "ListAllMyBucketsResult"
    assert root.findtext(q("Owner/ID")) == "owner-id"
    assert root.findtext(q("Owner/DisplayName")) == "owner name"
    names = [b.findtext(q("Name")) for b in root.findall(q("Buckets/Bucket"))]
    assert names == ["a", "b"]
    assert root.findall(q("Buckets/Bucket"))[1].findtext(q("CreationDate")) == "1970-01-01T00:00:00.000Z"


def _page(keys, prefixes=(), truncated=False, next_marker=None):
    contents = [ObjectEntry(k, i, f"etag{i}", WHEN, owner=OWNER) for i, k in enumerate(keys)]
    return ListPage(contents, list(prefixes), truncated, next_marker)


def test_list_objects_v2():
    page = _page(["a/1", "b"], ["c/"], truncated=True)
    root = parse(s3xml.list_objects_v2_xml("bkt", page, prefix="", delimiter="/", max_keys=3,
                                           continuation_token="tok0", next_continuation_token="tok1"))
    assert root.tag == NS + "ListBucketResult"
    assert root.findtext(q("Name")) == "bkt"
    assert root.findtext(q("KeyCount")) == "3"
    assert root.findtext(q("MaxKeys")) == "3"
    assert root.findtext(q("IsTruncated")) == "true"
    assert root.findtext(q("ContinuationToken")) == "tok0"
    assert root.findtext(q("NextContinuationToken")) == "tok1"
    assert root.findtext(q("Delimiter")) == "/"
    first = root.find(q("Contents"))
    assert first.findtext(q("Key")) == "a/1"
    assert first.findtext(q("ETag")) == '"etag0"'
    assert first.findtext(q("Size")) == "0"
    assert first.findtext(q("LastModified")) == "2026-11-24T11:02:52.123Z"
    assert first.findtext(q("StorageClass")) == "STANDARD"
    assert first.find(q("Owner")) is None  # only with fetch-owner
    assert [p.findtext(q("Prefix")) for p in root.findall(q("CommonPrefixes"))] == ["c/"]
    owned = parse(s3xml.list_objects_v2_xml("bkt", page, fetch_owner=True))
    assert owned.find(q("Contents/Owner/ID")).text == "owner-id"
    assert owned.find(q("NextContinuationToken")) is None  # no token given


def test_list_objects_v1():
    page = _page(["k1", "k2"], truncated=True, next_marker="k2")
    root = parse(s3xml.list_objects_v1_xml("bkt", page, prefix="k", marker="k0", max_keys=2))
    assert root.findtext(q("Marker")) == "k0"
    assert root.findtext(q("NextMarker")) == "k2"
    assert root.findtext(q("Prefix")) == "k"
    assert root.find(q("Contents/Owner/ID")).text == "owner-id"
    assert root.find(q("Delimiter")) is None and root.find(q("EncodingType")) is None
    not_truncated = parse(s3xml.list_objects_v1_xml("bkt", _page(["k"], next_marker="k")))
    assert not_truncated.find(q("NextMarker")) is None


def test_etags_already_quoted_are_kept():
    page = ListPage([ObjectEntry("k", 1, '"abc-2"', WHEN)])
    assert parse(s3xml.list_objects_v2_xml("b", page)).findtext(q("Contents/ETag")) == '"abc-2"'


def test_encoding_type_url():
    key = "a b+c/ü\x01&<"
    page = ListPage([ObjectEntry(key, 1, "e", WHEN)], ["p q/"], True, next_marker=key)
    root = parse(s3xml.list_objects_v2_xml("b", page, prefix="a b", delimiter=" ", start_after="s t",
                                           encoding_type="url"))
    assert root.findtext(q("EncodingType")) == "url"
    raw_key = root.findtext(q("Contents/Key"))
    assert " " not in raw_key and "+" not in raw_key and unquote_plus(raw_key) == key
    assert unquote_plus(root.findtext(q("Prefix"))) == "a b"
    assert root.findtext(q("Delimiter")) == "%20"
    assert root.findtext(q("StartAfter")) == "s%20t"
    assert unquote_plus(root.findtext(q("CommonPrefixes/Prefix"))) == "p q/"
    v1 = parse(s3xml.list_objects_v1_xml("b", page, prefix="a b", marker="m n", encoding_type="url"))
    assert v1.findtext(q("Marker")) == "m%20n"
    assert unquote_plus(v1.findtext(q("NextMarker"))) == key
    assert v1.findtext(q("Prefix")) == "a b"  # botocore does not decode v1's top-level Prefix
    err = _error(lambda: s3xml.list_objects_v2_xml("b", page, encoding_type="base64"))
    assert err.code == "InvalidArgument"
    assert s3xml.parse_encoding_type("URL") == "url"
    assert _error(s3xml.parse_encoding_type, "gzip").code == "InvalidArgument"


_XML_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="".join(
    map(chr, [*range(0, 9), 11, 12, *range(14, 32), 0xFFFE, 0xFFFF])))


@settings(max_examples=150, deadline=None)
@given(keys=st.lists(st.text(_XML_CHARS, min_size=1, max_size=40), max_size=8),
       prefixes=st.lists(st.text(_XML_CHARS, min_size=1, max_size=20), max_size=3))
def test_listing_round_trip(keys, prefixes):
    page = ListPage([ObjectEntry(k, len(k), "e", WHEN) for k in keys], prefixes)
    root = parse(s3xml.list_objects_v2_xml("bucket", page))
    assert [c.findtext(q("Key")) for c in root.findall(q("Contents"))] == keys
    assert [p.findtext(q("Prefix")) for p in root.findall(q("CommonPrefixes"))] == prefixes


@settings(max_examples=150, deadline=None)
@given(keys=st.lists(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40), max_size=8))
def test_url_encoded_listing_round_trip_any_key(keys):
    page = ListPage([ObjectEntry(k, 0, "e", WHEN) for k in keys])
    root = parse(s3xml.list_objects_v2_xml("bucket", page, encoding_type="url"))
    assert [unquote_plus(c.findtext(q("Key"))) for c in root.findall(q("Contents"))] == keys


def test_list_versions():
    page = VersionPage([VersionEntry("k", "v2", True, WHEN, "e2", 5, owner=OWNER),
                        VersionEntry("k", "v1", False, WHEN, delete_marker=True, owner=OWNER)],
                       ["d/"], True, "k", "v1")
    root = parse(s3xml.list_versions_xml("b", page, prefix="", key_marker="", max_keys=2, delimiter="/"))
    assert root.tag == NS + "ListVersionsResult"
    version = root.find(q("Version"))
    assert (version.findtext(q("VersionId")), version.findtext(q("IsLatest")), version.findtext(q("Size"))) == \
        ("v2", "true", "5")
    marker = root.find(q("DeleteMarker"))
    assert marker.findtext(q("VersionId")) == "v1" and marker.find(q("Size")) is None
    assert root.findtext(q("NextKeyMarker")) == "k" and root.findtext(q("NextVersionIdMarker")) == "v1"
    assert [c.tag for c in root][-3:] == [NS + "Version", NS + "DeleteMarker", NS + "CommonPrefixes"]


def test_list_uploads_and_parts():
    page = UploadPage([UploadEntry("k", "u1", WHEN, owner=OWNER)], ["p/"], False)
    root = parse(s3xml.list_uploads_xml("b", page, prefix="", max_uploads=10))
    assert root.tag == NS + "ListMultipartUploadsResult"
    assert root.findtext(q("Upload/UploadId")) == "u1"
    assert root.findtext(q("Upload/Initiator/ID")) == "owner-id"
    assert root.findtext(q("Upload/Initiated")) == "2026-11-24T11:02:52.123Z"
    assert root.findtext(q("MaxUploads")) == "10"
    parts = [PartEntry(1, "e1", 5 << 20, WHEN), PartEntry(2, '"e2"', 1, WHEN)]
    root = parse(s3xml.list_parts_xml("b", "k", "u1", parts, next_part_number_marker=2, max_parts=2,
                                      is_truncated=True, owner=OWNER))
    assert root.tag == NS + "ListPartsResult"
    assert [p.findtext(q("ETag")) for p in root.findall(q("Part"))] == ['"e1"', '"e2"']
    assert root.findtext(q("NextPartNumberMarker")) == "2" and root.findtext(q("IsTruncated")) == "true"


def test_small_results():
    root = parse(s3xml.initiate_multipart_xml("b", "k&k", "u"))
    assert (root.findtext(q("Bucket")), root.findtext(q("Key")), root.findtext(q("UploadId"))) == ("b", "k&k", "u")
    root = parse(s3xml.complete_multipart_xml("http://h/b/k", "b", "k", "abc-2",
                                              {"ChecksumCRC32": "AAAAAA==", "Bogus": "x"}))
    assert root.findtext(q("ETag")) == '"abc-2"' and root.findtext(q("ChecksumCRC32")) == "AAAAAA=="
    assert root.find(q("Bogus")) is None
    for fn, tag in ((s3xml.copy_object_xml, "CopyObjectResult"), (s3xml.copy_part_xml, "CopyPartResult")):
        root = parse(fn("e", WHEN))
        assert root.tag == NS + tag and root.findtext(q("ETag")) == '"e"'
        assert root.findtext(q("LastModified")) == "2026-11-24T11:02:52.123Z"
    assert parse(s3xml.location_xml("eu-west-1")).text == "eu-west-1"
    assert parse(s3xml.location_xml("us-east-1")).text is None
    assert parse(s3xml.location_xml(None)).tag == NS + "LocationConstraint"


def test_delete_result():
    deleted = [Deleted("a"), Deleted("b", "v1", True, "dm1")]
    errors = [DeleteError("c", "AccessDenied", "Access Denied", "v9")]
    root = parse(s3xml.delete_result_xml(deleted, errors))
    assert [d.findtext(q("Key")) for d in root.findall(q("Deleted"))] == ["a", "b"]
    assert root.findall(q("Deleted"))[1].findtext(q("DeleteMarkerVersionId")) == "dm1"
    err = root.find(q("Error"))
    assert (err.findtext(q("Key")), err.findtext(q("Code")), err.findtext(q("VersionId"))) == \
        ("c", "AccessDenied", "v9")
    quiet = parse(s3xml.delete_result_xml(deleted, errors, quiet=True))
    assert quiet.find(q("Deleted")) is None and quiet.find(q("Error")) is not None


# ---------------------------------------------------------------- request parsing

def _delete_body(objects, quiet=None, namespace=True):
    root = ET.Element("Delete", {"xmlns": s3xml.NAMESPACE} if namespace else {})
    if quiet is not None:
        ET.SubElement(root, "Quiet").text = quiet
    for key, version in objects:
        obj = ET.SubElement(root, "Object")
        ET.SubElement(obj, "Key").text = key
        if version is not None:
            ET.SubElement(obj, "VersionId").text = version
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


_KEY_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="".join(
    map(chr, [*range(0, 9), 11, 12, *range(13, 32), 0xFFFE, 0xFFFF])))  # ET leaves CR raw: XML folds it


@settings(max_examples=150, deadline=None)
@given(objects=st.lists(st.tuples(st.text(_KEY_CHARS, min_size=1, max_size=50),
                                  st.one_of(st.none(), st.text("abcdef0123456789", min_size=1, max_size=8))),
                        min_size=1, max_size=20),
       quiet=st.sampled_from([None, "true", "false", "True", " true "]), namespace=st.booleans())
def test_parse_delete_round_trip(objects, quiet, namespace):
    request = s3xml.parse_delete(_delete_body(objects, quiet, namespace))
    assert [(o.key, o.version_id) for o in request.objects] == objects
    assert request.quiet == (quiet is not None and quiet.strip().lower() == "true")


def test_parse_delete_keeps_significant_whitespace_and_references():
    body = (b'<Delete><Object><Key> spaced &amp; &#13;cr </Key></Object>'
            b'<Object><Key>k</Key><VersionId></VersionId><ETag>x</ETag></Object></Delete>')
    request = s3xml.parse_delete(body)
    assert [o.key for o in request.objects] == [" spaced & \rcr ", "k"]
    assert request.objects[1].version_id is None


@pytest.mark.parametrize("body", [
    b"",
    b"   ",
    b"<Delete/>",
    b"<Delete><Quiet>yes</Quiet><Object><Key>k</Key></Object></Delete>",
    b"<Delete><Object><VersionId>v</VersionId></Object></Delete>",
    b"<Delete><Object><Key></Key></Object></Delete>",
    b"<Delete><Object><Key>a</Key><Key>b</Key></Object></Delete>",
    b"<NotDelete><Object><Key>k</Key></Object></NotDelete>",
    b"<Delete><Object><Key>k</Key></Object>",
    b"<Delete><Object><Key>k</Key></Object></Delete><Delete/>",
    b"not xml at all",
    b"<Delete><Object><Key>\xff\xfe</Key></Object></Delete>",
    b"<s3:Delete><Object><Key>k</Key></Object></s3:Delete>",
    b"<Delete><Object><Key>&undefined;</Key></Object></Delete>",
    b"<Delete>" + b"<a>" * 40 + b"</a>" * 40 + b"<Object><Key>k</Key></Object></Delete>",
])
def test_parse_delete_malformed(body):
    assert _error(s3xml.parse_delete, body).code == "MalformedXML"


def test_parse_delete_limits():
    ok = _delete_body([(f"k{i}", None) for i in range(1000)])
    assert len(s3xml.parse_delete(ok).objects) == 1000
    too_many = _delete_body([(f"k{i}", None) for i in range(1001)])
    assert _error(s3xml.parse_delete, too_many).code == "MalformedXML"
    huge = b"<Delete><Object><Key>" + b"k" * (2 * 1024 * 1024) + b"</Key></Object></Delete>"
    err = _error(s3xml.parse_delete, huge)
    assert (err.code, err.status) == ("MaxMessageLengthExceeded", 400)


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE Delete [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Delete><Object><Key>&xxe;</Key></Object></Delete>"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Delete><Object><Key>&lol3;</Key></Object></Delete>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE Delete SYSTEM "http://example.invalid/evil.dtd">
<Delete><Object><Key>k</Key></Object></Delete>"""


@pytest.mark.parametrize("body", [XXE, LAUGHS, EXTERNAL_DTD])
@pytest.mark.parametrize("parser", [s3xml.parse_delete, s3xml.parse_complete_multipart,
                                    s3xml.parse_create_bucket])
def test_doctypes_are_refused(body, parser):
    assert _error(parser, body).code == "MalformedXML"


def test_utf16_declared_body_is_accepted():
    body = '<?xml version="1.0" encoding="UTF-16"?><Delete><Object><Key>ü</Key></Object></Delete>'
    assert s3xml.parse_delete(body.encode("utf-16")).objects[0].key == "ü"


def _complete_body(parts, namespace=True, checksum=False):
    ns = f' xmlns="{s3xml.NAMESPACE}"' if namespace else ""
    items = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag>"
                    + ("<ChecksumCRC32>AAAAAA==</ChecksumCRC32>" if checksum else "") + "</Part>"
                    for n, e in parts)
    return f"<CompleteMultipartUpload{ns}>{items}</CompleteMultipartUpload>".encode()


def test_parse_complete_multipart():
    body = _complete_body([(1, "&quot;aaa&quot;"), (2, '"bbb"'), (7, "ccc")], checksum=True)
    parts = s3xml.parse_complete_multipart(body)
    assert parts == [CompletedPart(1, "aaa", {"ChecksumCRC32": "AAAAAA=="}),
                     CompletedPart(2, "bbb", {"ChecksumCRC32": "AAAAAA=="}),
                     CompletedPart(7, "ccc", {"ChecksumCRC32": "AAAAAA=="})]
    spaced = b"<CompleteMultipartUpload>\n  <Part>\n <PartNumber> 3 </PartNumber>\n <ETag> e </ETag></Part>" \
             b"</CompleteMultipartUpload>"
    assert s3xml.parse_complete_multipart(spaced) == [CompletedPart(3, "e")]
    assert s3xml.parse_complete_multipart(_complete_body([(1, "x")], namespace=False))[0].etag == "x"


@settings(max_examples=100, deadline=None)
@given(numbers=st.lists(st.integers(1, 10000), min_size=1, max_size=30, unique=True))
def test_parse_complete_order(numbers):
    body = _complete_body([(n, f"e{n}") for n in numbers])
    if numbers == sorted(numbers):
        assert [p.part_number for p in s3xml.parse_complete_multipart(body)] == numbers
    else:
        assert _error(s3xml.parse_complete_multipart, body).code == "InvalidPartOrder"


@pytest.mark.parametrize("body,code", [
    (_complete_body([]), "MalformedXML"),
    (_complete_body([(1, "a"), (1, "b")]), "InvalidPartOrder"),
    (_complete_body([(0, "a")]), "InvalidArgument"),
    (_complete_body([(10001, "a")]), "InvalidArgument"),
    (_complete_body([("x", "a")]), "MalformedXML"),
    (_complete_body([("-1", "a")]), "MalformedXML"),
    (b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
     "MalformedXML"),
    (b"<CompleteMultipartUpload><Part><ETag>1</ETag></Part></CompleteMultipartUpload>", "MalformedXML"),
    (b"", "MalformedXML"),
])
def test_parse_complete_errors(body, code):
    assert _error(s3xml.parse_complete_multipart, body).code == code


def test_parse_create_bucket():
    assert s3xml.parse_create_bucket(b"") is None
    assert s3xml.parse_create_bucket(b"<CreateBucketConfiguration/>") is None
    body = (b'<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            b"<LocationConstraint> eu-west-1 </LocationConstraint></CreateBucketConfiguration>")
    assert s3xml.parse_create_bucket(body) == "eu-west-1"
    assert _error(s3xml.parse_create_bucket, b"<Other/>").code == "MalformedXML"
    assert _error(s3xml.parse_create_bucket, b"<CreateBucketConfiguration>").code == "MalformedXML"
    big = b"<CreateBucketConfiguration>" + b" " * (64 * 1024) + b"</CreateBucketConfiguration>"
    assert _error(s3xml.parse_create_bucket, big).code == "MaxMessageLengthExceeded"


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=300))
def test_parsers_only_raise_s3errors(body):
    for parser in (s3xml.parse_delete, s3xml.parse_complete_multipart, s3xml.parse_create_bucket):
        try:
            parser(body)
        except S3Error:
            pass


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_parsers_only_raise_s3errors_on_mutated_documents(data):
    seed = data.draw(st.sampled_from([_delete_body([("k", "v"), ("k2", None)], "true"),
                                      _complete_body([(1, "a"), (2, "b")], checksum=True),
                                      XXE]))
    body = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 4))):
        body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.sampled_from(b"<>/&;\"' =x\x00\xff"))
    for parser in (s3xml.parse_delete, s3xml.parse_complete_multipart, s3xml.parse_create_bucket):
        try:
            parser(bytes(body))
        except S3Error:
            pass
