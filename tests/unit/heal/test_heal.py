"""Self-healing at the engine level: damage within tolerance is served around and
repaired (checked on the disk files), beyond it is reported; the scrubber finds latent
damage alone; a replaced disk is refilled; a lost manifest comes back."""
import asyncio
import os
import random
import shutil

import pytest

from support import body, disk_problems, flip_byte, open_layer, payload, read_all, run
from s3free.heal.healer import Healer, queue_entries, refill_jobs
from s3free.heal.scrubber import Scrubber
from s3free.objects import errors as E
from s3free.storage.segments import Location, segment_path
from s3free.storage.shards import PartInfo, shard_path

MIB = 1 << 20


def _damage_part(layer, m, count, rng):
    part = PartInfo.from_manifest(m["parts"][0])
    for i, s in enumerate(rng.sample(range(layer.k + layer.m), count)):
        path = shard_path(layer.disks, part.placement[s], part.data_id, part.number)
        if i % 3 == 0:
            os.unlink(path)
        elif i % 3 == 1:
            with open(path, "r+b") as fh:   # truncate into the payload
                fh.truncate(part.header_len + 100)
        else:
            flip_byte(path, part.header_len + rng.randrange(part.chunk))


def _damage_record(layer, m, count, rng):
    loc = Location.from_list(m["loc"])
    for d in rng.sample(range(layer.disks.n), count):
        flip_byte(segment_path(layer.disks, d, loc.segment), loc.offset + loc.length - 1 - rng.randrange(8))
    layer.log.forget(loc.segment)


@pytest.mark.parametrize("k,m", [(2, 1), (4, 2), (6, 3)])
def test_heal_on_read_restores_every_shard(tmp_path, k, m):
    async def main():
        layer = open_layer(tmp_path, k=k, m=m)
        healer = Healer(layer, rate=0)
        rng = random.Random(k)
        try:
            await layer.make_bucket("h", "o")
            data = {f"big{i}": payload(2 * MIB + i, seed=i) for i in range(3)}
            data.update({f"small{i}": payload(3000 + i, seed=100 + i) for i in range(3)})
            for key, value in data.items():
                await layer.put_object("h", key, body(value))
            for key in data:
                manifest = layer._manifest_of("h", key)
                (_damage_part if "parts" in manifest else _damage_record)(layer, manifest, m, rng)
            assert disk_problems(layer), "the damage must be visible on disk first"
            for key, value in data.items():
                assert await read_all(layer, "h", key) == value, key
            assert queue_entries(layer.index), "reads queued the damage they met"
            await healer.drain()
            assert queue_entries(layer.index) == []
            # a GET reads only data shards; damage to parity is the scrubber's to find
            stats = await Scrubber(layer, healer, rate=0).run_pass()
            assert stats.unrecoverable == 0
            assert disk_problems(layer) == []
            assert healer.stats.shards_repaired + healer.stats.records_repaired >= 6 * m
            for key, value in data.items():
                assert await read_all(layer, "h", key) == value, key
        finally:
            await layer.close()
    run(main())


def test_beyond_tolerance_is_an_error_and_reported(tmp_path):
    async def main():
        layer = open_layer(tmp_path, k=4, m=2)
        healer = Healer(layer, rate=0)
        try:
            await layer.make_bucket("h", "o")
            await layer.put_object("h", "big", body(payload(MIB, seed=1)))
            await layer.put_object("h", "small", body(payload(900, seed=2)))
            rng = random.Random(5)
            _damage_part(layer, layer._manifest_of("h", "big"), 3, rng)
            _damage_record(layer, layer._manifest_of("h", "small"), 3, rng)
            for key in ("big", "small"):
                with pytest.raises(E.DataUnavailable):
                    await read_all(layer, "h", key)
            scrub = await Scrubber(layer, healer, rate=0).run_pass()
            assert scrub.unrecoverable == 2
            bad = [v for _, v in queue_entries(layer.index) if v.get("unrecoverable")]
            assert {v.get("object") for v in bad} >= {"h/big", "h/small"}
        finally:
            await layer.close()
    run(main())


def test_scrubber_alone_repairs_latent_corruption(tmp_path):
    async def main():
        layer = open_layer(tmp_path, k=4, m=2)
        healer = Healer(layer, rate=0)
        rng = random.Random(77)
        try:
            await layer.make_bucket("s", "o")
            sem = asyncio.Semaphore(64)

            async def put(i):
                async with sem:
                    size = 300_000 if i % 50 == 0 else 500 + i
                    await layer.put_object("s", f"o{i:04d}", body(payload(size, seed=i)))
            await asyncio.gather(*(put(i) for i in range(1000)))
            victims = rng.sample(range(1000), 60)
            for i in victims:
                manifest = layer._manifest_of("s", f"o{i:04d}")
                (_damage_part if "parts" in manifest else _damage_record)(layer, manifest, rng.randint(1, 2), rng)
            assert disk_problems(layer)
            stats = await Scrubber(layer, healer, rate=0).run_pass()
            assert stats.objects_checked == 1000 and stats.shards_damaged >= 60
            assert stats.unrecoverable == 0
            assert disk_problems(layer) == []
            for i in victims[:10]:
                assert await read_all(layer, "s", f"o{i:04d}") == payload(300_000 if i % 50 == 0 else 500 + i, seed=i)
        finally:
            await layer.close()
    run(main())


def test_disk_loss_and_replacement_refill(tmp_path):
    async def main():
        layer = open_layer(tmp_path, k=4, m=2)
        healer = Healer(layer, rate=0)
        try:
            await layer.make_bucket("r", "o")
            objs = {f"k{i}": payload(1_500_000 if i % 4 == 0 else 2000 + i, seed=i) for i in range(60)}
            for key, value in objs.items():
                await layer.put_object("r", key, body(value))
            shutil.rmtree(tmp_path / "disk3")
            healer.check_disks()
            assert layer.disks.disks[2].state == "offline"
            for key, value in list(objs.items())[:10]:       # reads and writes go on
                assert await read_all(layer, "r", key) == value
            objs["during"] = payload(2_000_000, seed=999)
            await layer.put_object("r", "during", body(objs["during"]))
            os.mkdir(tmp_path / "disk3")                      # an empty replacement
            healer.check_disks()
            assert 2 in refill_jobs(layer.index) and layer.disks.disks[2].state == "refilling"
            await healer.refill_all()
            await healer.drain()
            assert layer.disks.disks[2].state == "online" and not refill_jobs(layer.index)
            assert disk_problems(layer) == []
            for key, value in objs.items():
                assert await read_all(layer, "r", key) == value
        finally:
            await layer.close()
    run(main())


def test_lost_manifest_restored_but_deleted_stays_deleted(tmp_path):
    async def main():
        layer = open_layer(tmp_path, k=2, m=1)
        healer = Healer(layer, rate=0)
        try:
            await layer.make_bucket("l", "o")
            await layer.put_object("l", "big", body(payload(MIB, seed=1)))
            await layer.put_object("l", "small", body(payload(100, seed=2)))
            await layer.put_object("l", "gone", body(payload(100, seed=3)))
            await layer.delete_object("l", "gone")
            with layer.index.write() as txn:                 # the index loses two entries
                layer.index.delete_object(txn, "l", "big")
                layer.index.delete_object(txn, "l", "small")
            stats = await Scrubber(layer, healer, rate=0).run_pass()
            assert stats.manifests_restored == 2
            assert await read_all(layer, "l", "big") == payload(MIB, seed=1)
            assert await read_all(layer, "l", "small") == payload(100, seed=2)
            with pytest.raises(E.NoSuchKey):
                layer.head_object("l", "gone")
        finally:
            await layer.close()
    run(main())
