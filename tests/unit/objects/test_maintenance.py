"""Compaction reclaims dead segment space; GC removes unreferenced shard files."""
import asyncio
import os
import time

from support import body, open_layer, payload, read_all, run
from s3free.objects import multipart
from s3free.objects.maintenance import compact, gc
from s3free.storage.shards import PartWriter


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


_WRITER = """
import asyncio, sys
sys.path.insert(0, {tests!r})
from support import body, open_layer
layer = open_layer({root!r})
async def main():
    await layer.make_bucket("b", "o")
    for i in range(20):
        await layer.put_object("b", f"k{{i}}", body(b"x" * 3000))
    for i in range(19):
        await layer.delete_object("b", f"k{{i}}")
    print(layer.log._segment, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)   # idle, alive
asyncio.run(main())
"""


def test_compaction_never_takes_a_live_idle_writers_open_segment(tmp_path):
    """A worker that has gone quiet keeps its segment open; compaction run elsewhere (another
    worker, `s3free admin compact`) must leave it alone until that writer is gone."""
    import subprocess
    import sys
    from pathlib import Path

    from s3free.objects.maintenance import candidates
    from s3free.storage.segments import segment_path
    tests = str(Path(__file__).resolve().parents[2])
    child = subprocess.Popen([sys.executable, "-c", _WRITER.format(tests=tests, root=str(tmp_path))],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        seg = child.stdout.readline().strip()
        assert seg
        layer = open_layer(tmp_path)
        old = time.time() - 3600            # idle for an hour
        for d in range(layer.disks.n):
            os.utime(segment_path(layer.disks, d, seg), (old, old))
        assert seg not in candidates(layer, 1.01)            # its writer lives: hands off
        child.kill()                                          # the writer dies (its lease with it)
        child.wait()
        assert seg in candidates(layer, 1.01)
        run(layer.close())
    finally:
        if child.poll() is None:
            child.kill()
