"""GET/HEAD object headers: encoded once per object version, the same as built per request."""
from types import SimpleNamespace

from s3free.api.handlers.common import object_headers
from s3free.api.http import Response, encode_headers
from s3free.objects.types import ObjectInfo


def _info(version: str, meta: dict) -> ObjectInfo:
    return ObjectInfo(bucket="b", key="k", size=5, etag="e" * 32, last_modified=1764000000.5, version_id=version,
                      content_type="text/plain", user_meta=meta, headers={"cache-control": "no-cache"})


def test_shared_headers_equal_the_per_request_ones_and_follow_each_version():
    plain = SimpleNamespace(query={})
    v1 = object_headers(Response(), _info("v1", {"color": "blue"}), plain)
    again = object_headers(Response(), _info("v1", {"color": "blue"}), plain)
    assert again.wire is v1.wire and not v1.headers            # encoded once, shared
    with_query = object_headers(Response(), _info("v1", {"color": "blue"}), SimpleNamespace(query={"x": ""}))
    assert v1.wire == encode_headers(with_query.headers)
    names = dict(v1.wire)
    assert names[b"etag"] == b'"' + b"e" * 32 + b'"' and names[b"x-amz-meta-color"] == b"blue"
    assert names[b"last-modified"] == b"Mon, 24 Nov 2025 16:00:00 GMT" and names[b"cache-control"] == b"no-cache"
    v2 = object_headers(Response(), _info("v2", {"color": "зелёный"}), plain)
    assert dict(v2.wire)[b"x-amz-meta-color"] == "зелёный".encode()     # a new version: its own headers


def test_response_overrides_are_applied_per_request():
    q = SimpleNamespace(query={"response-content-type": "image/png", "response-cache-control": "max-age=1"})
    resp = object_headers(Response(), _info("v1", {}), q)
    got = dict(resp.headers)
    assert resp.wire is None and got["content-type"] == "image/png" and got["cache-control"] == "max-age=1"
