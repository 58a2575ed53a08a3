"""The verified small-object cache: warm GETs skip the disks, and can never be stale."""
from __future__ import annotations

from support import body, open_layer, read_all, run

from s3free.objects.cache import SmallCache


def test_warm_gets_hit_and_overwrites_and_deletes_are_never_stale(tmp_path):
    layer = open_layer(tmp_path)

    async def main():
        await layer.make_bucket("b", "o")
        await layer.put_object("b", "k", body(b"first"))
        assert await read_all(layer, "b", "k") == b"first"
        misses = layer.small_cache.misses
        assert await read_all(layer, "b", "k") == b"first"
        assert layer.small_cache.misses == misses and layer.small_cache.hits >= 1
        await layer.put_object("b", "k", body(b"second, longer"))    # a new record, a new location
        assert await read_all(layer, "b", "k") == b"second, longer"
        _, stream = await layer.get_object("b", "k", 1, 3)
        assert b"".join([p async for p in stream]) == b"eco"
        await layer.delete_object("b", "k")
        try:
            await read_all(layer, "b", "k")
        except Exception as exc:
            assert type(exc).__name__ == "NoSuchKey"
        else:
            raise AssertionError("a deleted object was served from the cache")
        await layer.close()
    run(main())


def test_lru_by_bytes():
    cache = SmallCache(800)
    for i in range(10):
        cache.put(("s", i, 100), bytes([i]) * 100)
    assert cache.used == 800 and cache.get(("s", 0, 100)) is None and cache.get(("s", 9, 100)) == b"\x09" * 100
    cache.put(("s", 99, 101), b"x" * 101)            # more than an eighth of the capacity: not kept
    assert cache.get(("s", 99, 101)) is None
    assert SmallCache(0).get(("s", 0, 1)) is None
