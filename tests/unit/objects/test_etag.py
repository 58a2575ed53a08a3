"""The ETag is the body's MD5, and a caller that checks Content-MD5 shares the hashing:
its MD5 among `hashers` is taken as the ETag's, so the body is hashed once."""
import hashlib

import pytest

from support import body, payload, with_layer
from s3free import native
from s3free.objects import layer as layer_mod, multipart

MIB = 1 << 20


class CountingMD5(native.MD5):
    made = 0

    def __init__(self, data=None):
        type(self).made += 1
        super().__init__(data)


@pytest.mark.parametrize("size", [1000, 3 * MIB + 5])
def test_put_hashes_the_body_once_when_the_caller_brings_an_md5(tmp_path, monkeypatch, size):
    monkeypatch.setattr(layer_mod, "MD5", CountingMD5)
    data = payload(size)

    async def check(layer):
        CountingMD5.made = 0
        mine = CountingMD5()
        info = await layer.put_object("b", "k", body(data), hashers=[mine], size_hint=size)
        assert info.etag == mine.hexdigest() == hashlib.md5(data).hexdigest()
        assert CountingMD5.made == 1, "the layer made a second MD5 of the same bytes"
        info = await layer.put_object("b", "k2", body(data), size_hint=size)     # nobody checks: its own
        assert info.etag == hashlib.md5(data).hexdigest() and CountingMD5.made == 2
    with_layer(tmp_path, check)


def test_upload_part_hashes_the_body_once_when_the_caller_brings_an_md5(tmp_path, monkeypatch):
    monkeypatch.setattr(layer_mod, "MD5", CountingMD5)
    monkeypatch.setattr(multipart, "MD5", CountingMD5, raising=False)    # wherever a part's MD5 is made
    data = payload(2 * MIB + 7)

    async def check(layer):
        up = await multipart.create(layer, "b", "mp")
        CountingMD5.made = 0
        mine = CountingMD5()
        part = await multipart.upload_part(layer, "b", "mp", up, 1, body(data), hashers=[mine])
        assert part.etag == mine.hexdigest() == hashlib.md5(data).hexdigest()
        assert CountingMD5.made == 1
    with_layer(tmp_path, check)
