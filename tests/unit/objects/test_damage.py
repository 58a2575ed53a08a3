"""Reads never return unverified bytes: damage within m is served around and reported,
beyond m is an error. (Healing the damage is the self-healing issue's work.)"""
import os
import random

import pytest

from support import body, flip_byte, open_layer, payload, read_all, run
from s3free.objects import errors as E
from s3free.storage.segments import Location, segment_path
from s3free.storage.shards import PartInfo, shard_path

MIB = 1 << 20


@pytest.mark.parametrize("k,m", [(2, 1), (4, 2), (6, 3)])
def test_large_object_survives_m_damaged_shards(tmp_path, k, m):
    async def main():
        layer = open_layer(tmp_path, k=k, m=m)
        try:
            await layer.make_bucket("b", "o")
            data = payload(3 * MIB + 17, seed=k)
            await layer.put_object("b", "obj", body(data))
            part = PartInfo.from_manifest(layer._manifest_of("b", "obj")["parts"][0])
            rng = random.Random(k * 10 + m)
            damaged = rng.sample(range(k + m), m)
            for i, s in enumerate(damaged):
                path = shard_path(layer.disks, part.placement[s], part.data_id, 1)
                if i % 2:
                    os.unlink(path)
                else:
                    flip_byte(path, part.header_len + rng.randrange(part.chunk))
            assert await read_all(layer, "b", "obj") == data
            assert await read_all(layer, "b", "obj", 5, 5) == data[5:6]
            assert layer.damage_events >= 1
            with layer.index.read() as txn:
                assert list(layer.index.items(txn, "heal")), "damage is queued for healing"
            # one more damaged shard: beyond tolerance, an error and never wrong bytes
            extra = next(s for s in range(k + m) if s not in damaged)
            os.unlink(shard_path(layer.disks, part.placement[extra], part.data_id, 1))
            with pytest.raises(E.DataUnavailable):
                await read_all(layer, "b", "obj")
        finally:
            await layer.close()
    run(main())


@pytest.mark.parametrize("k,m", [(2, 1), (6, 3)])
def test_small_object_survives_damaged_segment_records(tmp_path, k, m):
    async def main():
        layer = open_layer(tmp_path, k=k, m=m, small_cache=0)    # every read goes to the disks
        try:
            await layer.make_bucket("b", "o")
            data = payload(5000, seed=9)
            await layer.put_object("b", "small", body(data))
            loc = Location.from_list(layer._manifest_of("b", "small")["loc"])
            for d in range(m):   # corrupt the record body on m data disks
                flip_byte(segment_path(layer.disks, d, loc.segment), loc.offset + loc.length - 3)
            layer.log.forget(loc.segment)
            assert await read_all(layer, "b", "small") == data
            flip_byte(segment_path(layer.disks, m, loc.segment), loc.offset + loc.length - 3)
            flip_byte(segment_path(layer.disks, k + m - 1, loc.segment), loc.offset + loc.length - 3)
            with pytest.raises(E.DataUnavailable):
                await read_all(layer, "b", "small")
        finally:
            await layer.close()
    run(main())
