"""Index records decoded once per version; request ids unique per worker process."""
import asyncio
import os

from support import body, open_layer

from s3free.api.dispatch import new_request_id
from s3free.objects.cache import DecodedRecords


def test_a_changed_record_is_a_new_entry_and_the_cache_stays_bounded():
    built = []

    def build(name, raw):
        built.append(raw)
        return (name, raw.decode())
    cache = DecodedRecords(capacity=3)
    assert cache.get("b", b"v1", build) == ("b", "v1")
    assert cache.get("b", b"v1", build) == ("b", "v1") and built == [b"v1"]
    assert cache.get("b", b"v2", build) == ("b", "v2") and built == [b"v1", b"v2"]
    assert cache.get("other", b"v1", build) == ("other", "v1")
    for i in range(10):
        cache.get("b", b"x%d" % i, build)
    assert len(cache._items) <= 3


def test_lookup_sees_every_overwrite_and_delete(tmp_path):
    async def main():
        layer = open_layer(tmp_path)
        try:
            await layer.make_bucket("b", "o")
            for i in range(3):
                info = await layer.put_object("b", "k", body(b"x" * (i + 1)))
                bucket, got = layer.lookup("b", "k")
                assert bucket.owner == "o" and got.size == i + 1 and got.etag == info.etag
            await layer.delete_object("b", "k")
            assert layer.lookup("b", "k")[1] is None
            assert layer.lookup("nope", "k") == (None, None)
        finally:
            await layer.close()
    asyncio.run(main())


def test_request_ids_differ_between_forked_workers():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, new_request_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    mine = new_request_id()
    assert len(mine) == len(child) == 16 and mine[:8] != child[:8]
    assert new_request_id() != new_request_id()
