"""Objects of every interesting size round-trip byte-exact, with every kind of range."""
import hashlib
import os

import pytest

from support import body, open_layer, payload, read_all, run
from s3free.objects.types import PutMeta
from s3free.storage.shards import PartInfo, shard_path

T = 128 * 1024
MIB = 1 << 20


def _ranges(size):
    block = 6 * 176128
    piece = 176128
    cands = [(0, 0), (size - 1, size - 1), (0, size - 1), (1, size - 2), (size // 3, 2 * size // 3),
             (piece - 1, piece), (block - 1, block), (block - 2, block + piece + 1), (size - 7, size - 1)]
    return [(a, b) for a, b in cands if 0 <= a <= b < size]


@pytest.mark.parametrize("size", [0, 1, T - 1, T, 5 * MIB + 3])
def test_roundtrip_with_ranges(tmp_path, size):
    async def main():
        layer = open_layer(tmp_path)
        try:
            await layer.make_bucket("bkt", "owner")
            data = payload(size, seed=size)
            meta = PutMeta("text/plain", {"color": "blue"}, {"content-disposition": "inline"})
            info = await layer.put_object("bkt", "k", body(data), meta)
            assert info.etag == hashlib.md5(data).hexdigest() and info.size == size
            head = layer.head_object("bkt", "k")
            assert (head.size, head.etag, head.content_type, head.user_meta, head.headers) == \
                   (size, info.etag, "text/plain", {"color": "blue"}, {"content-disposition": "inline"})
            assert await read_all(layer, "bkt", "k") == data
            for a, b in _ranges(size):
                assert await read_all(layer, "bkt", "k", a, b) == data[a:b + 1], (a, b)
            return layer.index, data
        finally:
            await layer.close()
    run(main())


def test_300_mib_object_on_k_plus_m_distinct_disks(tmp_path):
    size = 300 * MIB

    async def main():
        from support import pattern_body, pattern_md5
        layer = open_layer(tmp_path)
        try:
            await layer.make_bucket("big", "o")
            info = await layer.put_object("big", "obj", pattern_body(size, seed=3))
            assert info.etag == pattern_md5(size, seed=3)
            m = layer._manifest_of("big", "obj")
            part = PartInfo.from_manifest(m["parts"][0])
            assert len(set(part.placement)) == 9
            for s, disk in enumerate(part.placement):
                assert os.path.exists(shard_path(layer.disks, disk, part.data_id, 1))
            # spot-check ranges against the generator without holding 300 MiB twice
            data = bytearray()
            async for c in pattern_body(size, seed=3):
                data += c
            for a, b in _ranges(size) + [(123 * MIB + 5, 140 * MIB)]:
                assert await read_all(layer, "big", "obj", a, b) == data[a:b + 1], (a, b)
            md5 = hashlib.md5()
            _, stream = await layer.get_object("big", "obj")
            async for c in stream:
                md5.update(c)
            assert md5.hexdigest() == info.etag
        finally:
            await layer.close()
    run(main())


def test_ten_thousand_small_objects_share_a_few_segment_files(tmp_path):
    import asyncio

    async def main():
        layer = open_layer(tmp_path)
        try:
            await layer.make_bucket("many", "o")
            sem = asyncio.Semaphore(128)

            async def put(i):
                async with sem:
                    await layer.put_object("many", f"k/{i:05d}", body(payload(100 + i % 900, seed=i)))
            await asyncio.gather(*(put(i) for i in range(10_000)))
            files = [f for d in range(9) for f in os.listdir(tmp_path / f"disk{d + 1}" / "segments")]
            assert 9 <= len(files) <= 9 * 3, len(files)
            assert not any(os.scandir(tmp_path / "disk1" / "objects"))
            assert layer.log.batches < 10_000 / 4, "group commit should batch concurrent small PUTs"
            for i in (0, 4321, 9999):
                assert await read_all(layer, "many", f"k/{i:05d}") == payload(100 + i % 900, seed=i)
            objs, _, truncated, _ = layer.list_objects("many", max_keys=1000)
            assert len(objs) == 1000 and truncated
        finally:
            await layer.close()
    run(main())


def test_overwrite_and_delete(tmp_path):
    async def main():
        layer = open_layer(tmp_path)
        try:
            await layer.make_bucket("b", "o")
            big = payload(3 * MIB, seed=1)
            await layer.put_object("b", "x", body(big))
            old = PartInfo.from_manifest(layer._manifest_of("b", "x")["parts"][0])
            await layer.put_object("b", "x", body(b"small now"))
            assert await read_all(layer, "b", "x") == b"small now"
            assert not os.path.exists(shard_path(layer.disks, old.placement[0], old.data_id, 1))
            await layer.delete_object("b", "x")
            from s3free.objects import errors as E
            with pytest.raises(E.NoSuchKey):
                layer.head_object("b", "x")
            assert await layer.delete_object("b", "x") is None      # idempotent
            with pytest.raises(E.NoSuchBucket):
                await layer.put_object("nope", "x", body(b"1"))
            await layer.put_object("b", "y", body(b"1"))
            with pytest.raises(E.BucketNotEmpty):
                await layer.delete_bucket("b")
            with pytest.raises(E.PreconditionFailed):
                await layer.put_object("b", "y", body(b"2"), if_none_match="*")
            await layer.delete_object("b", "y")
            await layer.delete_bucket("b")
            assert layer.list_buckets() == []
        finally:
            await layer.close()
    run(main())


def test_copy_streams_and_self_copy_is_metadata_only(tmp_path):
    async def main():
        layer = open_layer(tmp_path)
        try:
            await layer.make_bucket("c", "o")
            data = payload(3 * MIB + 11, seed=5)
            await layer.put_object("c", "src", body(data), PutMeta("a/b", {"x": "1"}))
            info = await layer.copy_object("c", "src", "c", "dst")
            assert info.etag == hashlib.md5(data).hexdigest()
            assert layer.head_object("c", "dst").user_meta == {"x": "1"}
            assert await read_all(layer, "c", "dst") == data
            part = await layer.copy_object("c", "src", "c", "piece", first=MIB, last=MIB + 99)
            assert await read_all(layer, "c", "piece") == data[MIB:MIB + 100] and part.size == 100
            before = layer._manifest_of("c", "src")["parts"]
            again = await layer.copy_object("c", "src", "c", "src", PutMeta("text/new", {"y": "2"}))
            after = layer._manifest_of("c", "src")
            assert after["parts"] == before and again.etag == info.etag
            assert (after["ct"], after["um"]) == ("text/new", {"y": "2"})
            assert await read_all(layer, "c", "src") == data
        finally:
            await layer.close()
    run(main())
