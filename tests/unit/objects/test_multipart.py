"""Multipart: parts stay where they were written; completion validates and is metadata-only."""
import hashlib
import os

import pytest

from support import body, open_layer, payload, read_all, run
from s3free.objects import errors as E, multipart
from s3free.storage.shards import PartInfo, shard_path

MIB = 1 << 20


def test_multipart_lifecycle(tmp_path):
    async def main():
        layer = open_layer(tmp_path, min_part_size=MIB)
        try:
            await layer.make_bucket("b", "o")
            uid = await multipart.create(layer, "b", "movie", owner="o")
            parts = [payload(MIB + 5, seed=1), payload(2 * MIB, seed=2), payload(77, seed=3)]
            entries = [await multipart.upload_part(layer, "b", "movie", uid, i + 1, body(p))
                       for i, p in enumerate(parts)]
            # re-upload part 2: the old one is replaced and its files removed
            old = PartInfo.from_manifest(multipart.part_info(layer, "b", "movie", uid, 2)["p"])
            entries[1] = await multipart.upload_part(layer, "b", "movie", uid, 2, body(parts[1]))
            assert not os.path.exists(shard_path(layer.disks, old.placement[0], old.data_id, 2))
            page = multipart.list_parts(layer, "b", "movie", uid, max_parts=2)
            assert [p.number for p in page.parts] == [1, 2] and page.truncated
            assert [u.upload_id for u in multipart.list_uploads(layer, "b").uploads] == [uid]
            with pytest.raises(E.InvalidPartOrder):
                await multipart.complete(layer, "b", "movie", uid, [(2, entries[1].etag), (1, entries[0].etag)])
            with pytest.raises(E.InvalidPart):
                await multipart.complete(layer, "b", "movie", uid, [(1, "0" * 32)])
            with pytest.raises(E.EntityTooSmall):
                await multipart.complete(layer, "b", "movie", uid, [(3, entries[2].etag), (4, "x")][:1] +
                                         [(4, entries[2].etag)])
            placed = [PartInfo.from_manifest(multipart.part_info(layer, "b", "movie", uid, n)["p"]) for n in (1, 2, 3)]
            info = await multipart.complete(layer, "b", "movie", uid, [(n + 1, e.etag) for n, e in enumerate(entries)])
            md5s = b"".join(hashlib.md5(p).digest() for p in parts)
            assert info.etag == hashlib.md5(md5s).hexdigest() + "-3"
            assert info.part_sizes == [len(p) for p in parts]
            # metadata-only: the object's parts are the very files the uploads wrote
            manifest = layer._manifest_of("b", "movie")
            assert [PartInfo.from_manifest(p).data_id for p in manifest["parts"]] == [p.data_id for p in placed]
            whole = b"".join(parts)
            assert await read_all(layer, "b", "movie") == whole
            assert await read_all(layer, "b", "movie", MIB, MIB + 10) == whole[MIB:MIB + 11]
            assert await read_all(layer, "b", "movie", len(whole) - 80, len(whole) - 1) == whole[-80:]
            with pytest.raises(E.NoSuchUpload):
                multipart.list_parts(layer, "b", "movie", uid)
            # abort removes parts
            uid2 = await multipart.create(layer, "b", "gone")
            await multipart.upload_part(layer, "b", "gone", uid2, 1, body(b"abc"))
            p = PartInfo.from_manifest(multipart.part_info(layer, "b", "gone", uid2, 1)["p"])
            await multipart.abort(layer, "b", "gone", uid2)
            assert not os.path.exists(shard_path(layer.disks, p.placement[0], p.data_id, 1))
            with pytest.raises(E.NoSuchUpload):
                await multipart.abort(layer, "b", "gone", uid2)
            with pytest.raises(E.NoSuchUpload):
                await multipart.upload_part(layer, "b", "gone", "zz", 1, body(b""))
        finally:
            await layer.close()
    run(main())


def test_a_part_sent_again_while_completing_never_leaves_the_object_without_its_data(tmp_path):
    """CompleteMultipartUpload reads the parts, then commits through the journal; an
    UploadPart that lands in between (same number: replaced, old files removed; or a new
    number) is seen by the commit, which reads the parts again in its own transaction."""
    async def main():
        layer = open_layer(tmp_path, min_part_size=MIB)
        try:
            await layer.make_bucket("b", "o")
            uid = await multipart.create(layer, "b", "k", owner="o")
            first, second, again = payload(MIB, seed=1), payload(100, seed=2), payload(MIB, seed=3)
            e1 = await multipart.upload_part(layer, "b", "k", uid, 1, body(first))
            e2 = await multipart.upload_part(layer, "b", "k", uid, 2, body(second))
            old1 = PartInfo.from_manifest(multipart.part_info(layer, "b", "k", uid, 1)["p"])
            append = layer.log.append
            extra: list = []
            raced: list[PartInfo] = []

            async def racing_append(*args, **kwargs):
                # what a concurrent UploadPart does between the completion's read and its commit
                for number, data in extra.pop(0):
                    await multipart.upload_part(layer, "b", "k", uid, number, body(data))
                    raced.append(PartInfo.from_manifest(multipart.part_info(layer, "b", "k", uid, number)["p"]))
                return await append(*args, **kwargs)
            layer.log.append = racing_append

            extra.append([(1, again)])
            with pytest.raises(E.InvalidPart):
                await multipart.complete(layer, "b", "k", uid, [(1, e1.etag), (2, e2.etag)])
            assert not os.path.exists(shard_path(layer.disks, old1.placement[0], old1.data_id, 1))
            e1 = multipart.list_parts(layer, "b", "k", uid).parts[0]       # the upload is still there
            # a part the completion does not list, uploaded meanwhile, is retired with the rest
            extra.append([(5, payload(10, seed=5))])
            await multipart.complete(layer, "b", "k", uid, [(1, e1.etag), (2, e2.etag)])
            assert await read_all(layer, "b", "k") == again + second
            with pytest.raises(E.NoSuchUpload):
                multipart.list_parts(layer, "b", "k", uid)
            with layer.index.read() as txn:
                assert list(layer.index.items(txn, "parts", bytes.fromhex(uid))) == []
            unused = raced[-1]
            assert unused.data_id != raced[0].data_id
            assert not any(os.path.exists(shard_path(layer.disks, d, unused.data_id, 5)) for d in unused.placement)
            assert all(os.path.exists(shard_path(layer.disks, d, raced[0].data_id, 1)) for d in raced[0].placement)
        finally:
            await layer.close()
    run(main())
