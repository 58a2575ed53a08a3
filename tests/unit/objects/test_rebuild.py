"""`s3free admin rebuild-index` recreates the whole index from the disks alone."""
import asyncio
import random
import shutil
import subprocess
import sys
from pathlib import Path

from support import body, disk_paths, open_layer, payload, run
from s3free.objects import multipart
from s3free.objects.types import PutMeta

MIB = 1 << 20


def _snapshot(layer):
    buckets = {b.name: (b.owner, b.created) for b in layer.list_buckets()}
    objects = {}
    for name in buckets:
        objs, _, _, _ = layer.list_objects(name, max_keys=100_000)
        for o in objs:
            objects[(name, o.key)] = (o.size, o.etag, o.content_type, o.user_meta, o.headers, o.part_sizes)
    listings = {name: layer.list_objects(name, "", "/", "", 1000)[:3] for name in buckets}
    listings = {n: ([o.key for o in objs], pfx, tr) for n, (objs, pfx, tr) in listings.items()}
    return buckets, objects, listings


def test_rebuild_index_from_disks(tmp_path):
    rng = random.Random(42)

    async def populate():
        layer = open_layer(tmp_path, min_part_size=MIB)
        try:
            for name, owner in [("alpha", "alice"), ("beta", "bob"), ("gamma", "alice"), ("doomed", "x")]:
                await layer.make_bucket(name, owner)
            sem = asyncio.Semaphore(32)

            async def put(i):
                bucket = ("alpha", "beta", "gamma")[i % 3]
                size = rng.choice([0, 1, 700, 5000, 100_000, 200_000, 1_500_000]) if i % 10 else 3 * MIB + i
                meta = PutMeta(rng.choice(["text/plain", "image/png", "application/x-thing"]),
                               {"i": str(i), "tag": rng.choice(["a", "b"])}, {"cache-control": "max-age=1"})
                async with sem:
                    await layer.put_object(bucket, f"dir{i % 7}/obj{i:04d}", body(payload(size, seed=i)), meta)
            await asyncio.gather(*(put(i) for i in range(1000)))
            for i in range(3):   # multipart objects
                uid = await multipart.create(layer, "beta", f"mp/{i}", PutMeta("video/mp4", {"mp": str(i)}))
                e1 = await multipart.upload_part(layer, "beta", f"mp/{i}", uid, 1, body(payload(MIB, seed=i)))
                e2 = await multipart.upload_part(layer, "beta", f"mp/{i}", uid, 2, body(payload(1000, seed=i)))
                await multipart.complete(layer, "beta", f"mp/{i}", uid, [(1, e1.etag), (2, e2.etag)])
            for i in range(0, 1000, 9):   # overwrite some, large and small
                bucket = ("alpha", "beta", "gamma")[i % 3]
                await layer.put_object(bucket, f"dir{i % 7}/obj{i:04d}", body(payload(i * 37 % 300_000, seed=-i)))
            for i in range(0, 1000, 13):   # delete some
                bucket = ("alpha", "beta", "gamma")[i % 3]
                await layer.delete_object(bucket, f"dir{i % 7}/obj{i:04d}")
            await layer.put_object("doomed", "tmp", body(b"x"))
            await layer.delete_object("doomed", "tmp")
            await layer.delete_bucket("doomed")
            return _snapshot(layer)
        finally:
            await layer.close()

    before = run(populate())
    assert len(before[1]) > 900 and "doomed" not in before[0]
    shutil.rmtree(tmp_path / "meta")
    cli = Path(sys.executable).parent / "s3free"
    proc = subprocess.run([str(cli), "admin", "rebuild-index", *disk_paths(tmp_path), "--ec", "6+3",
                           "--meta-dir", str(tmp_path / "meta"), "--json"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert '"objects": %d' % len(before[1]) in proc.stdout

    async def check():
        layer = open_layer(tmp_path)
        try:
            after = _snapshot(layer)
            assert after[0] == before[0]
            assert after[1] == before[1]
            assert after[2] == before[2]
            for (bucket, key) in list(before[1])[::50]:     # data still reads back
                _, stream = await layer.get_object(bucket, key)
                got = b"".join([c async for c in stream])
                assert len(got) == before[1][(bucket, key)][0]
        finally:
            await layer.close()
    run(check())
    # a second rebuild over an existing index is refused without --force
    proc = subprocess.run([str(cli), "admin", "rebuild-index", *disk_paths(tmp_path),
                           "--meta-dir", str(tmp_path / "meta")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "--force" in proc.stderr
