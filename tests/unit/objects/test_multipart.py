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
