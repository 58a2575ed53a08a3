"""Compaction reclaims dead segment space; GC removes unreferenced shard files."""
import asyncio
import os

from support import body, open_layer, payload, read_all, run
from s3free.objects import multipart
from s3free.objects.maintenance import compact, gc
from s3free.storage.shards import PartInfo, PartWriter


def _segment_bytes(root):
    return sum(e.stat().st_size for d in range(9) for e in os.scandir(root / f"disk{d + 1}" / "segments"))


def test_compaction_after_deleting_90_percent(tmp_path):
    async def main():
        layer = open_layer(tmp_path, max_segment=8 << 20)
        try:
            await layer.make_bucket("c", "o")
            sem = asyncio.Semaphore(128)

            async def put(i):
                async with sem:
                    await layer.put_object("c", f"o{i:05d}", body(payload(2000, seed=i)))

            async def delete(i):
                async with sem:
                    await layer.delete_object("c", f"o{i:05d}")
            await asyncio.gather(*(put(i) for i in range(20_000)))
            await asyncio.gather(*(delete(i) for i in range(20_000) if i % 10))
            await layer.log.close()           # seal the open segment so it can be compacted too
            before = _segment_bytes(tmp_path)
            stats = await compact(layer, max_live_ratio=0.5)
            await layer.log.close()
            after = _segment_bytes(tmp_path)
            assert stats.segments and stats.records_moved >= 2000
            # 10% of the data remains, plus tombstones (kept so deletes stay durable)
            assert after < before * 0.45, (before, after)
            for i in range(0, 20_000, 10):
                assert await read_all(layer, "c", f"o{i:05d}") == payload(2000, seed=i)
            objs, _, _, _ = layer.list_objects("c", max_keys=5000)
            assert len(objs) == 2000
            return before, after
        finally:
            await layer.close()
    before, after = run(main())
    print(f"segment bytes before compaction {before}, after {after}")


def test_gc_removes_orphans_and_stale_uploads_but_not_live_data(tmp_path):
    async def main():
        layer = open_layer(tmp_path)
        try:
            await layer.make_bucket("g", "o")
            await layer.put_object("g", "live", body(payload(600_000, seed=1)))
            # an orphan: a part written but never committed (as after a crash)
            import uuid
            from s3free import clock
            w = PartWriter(layer.disks, layer.engine, layer.codec, layer.chunk, layer.pool, 1, uuid.uuid4(),
                           clock.stamp(), {}, layer.quorum)
            buf = layer.pool.get()
            await w.add_block(buf, 5000)
            orphan = await w.finish()
            uid = await multipart.create(layer, "g", "stale")
            await multipart.upload_part(layer, "g", "stale", uid, 1, body(b"abc"))
            stats = await gc(layer, grace=0.0, upload_max_age=0.0)
            assert stats.uploads_aborted == 1
            assert stats.shard_files_removed == 9
            assert not any(os.path.exists(p) for p in w.paths)
            assert await read_all(layer, "g", "live") == payload(600_000, seed=1)
            assert orphan.data_id not in str(list(tmp_path.rglob("*.bxl")))
            again = await gc(layer, grace=0.0)
            assert again.shard_files_removed == 0
        finally:
            await layer.close()
    run(main())
