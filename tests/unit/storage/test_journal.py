"""The segment journal's page writes: preallocated files, rewritten tail pages, zero tails."""
from __future__ import annotations

import asyncio
import errno
import logging
import os

from support import open_layer, payload

from s3free.storage import segments
from s3free.storage.segments import PAGE, list_segments, scan_any, segment_path


async def _put_many(layer, sizes: list[int], prefix: str = "k") -> dict[str, bytes]:
    """PUT small objects 16 at a time (so batches of several records form)."""
    objects = {f"{prefix}{i:04d}": payload(size, seed=i) for i, size in enumerate(sizes)}

    async def one(key: str, data: bytes) -> None:
        async def body():
            yield data
        await layer.put_object("b", key, body())

    if layer.bucket("b") is None:
        await layer.make_bucket("b", "owner")
    keys = list(objects)
    for i in range(0, len(keys), 16):
        await asyncio.gather(*(one(k, objects[k]) for k in keys[i:i + 16]))
    return objects


async def _check_all(layer, objects: dict[str, bytes]) -> None:
    for key, data in objects.items():
        _, stream = await layer.get_object("b", key)
        assert b"".join([piece async for piece in stream]) == data, key


def test_records_across_pages_and_preallocation_steps(tmp_path, monkeypatch):
    monkeypatch.setattr(segments, "ALLOC_STEP", 64 << 10)     # cross several preallocation steps
    layer = open_layer(tmp_path)
    sizes = [0, 1, 100, PAGE - 1, PAGE, PAGE + 1, 3 * PAGE + 7, 20_000] * 12

    async def go():
        objects = await _put_many(layer, sizes)
        assert layer.log.batches < len(objects)        # some batches held several records
        await _check_all(layer, objects)
        segment, size = layer.log._segment, layer.log._size
        assert os.path.getsize(segment_path(layer.disks, 0, segment)) > size   # open: preallocated
        await layer.close()
        return segment, size
    segment, size = asyncio.run(go())
    for d in range(layer.disks.n):                     # sealed: truncated to its records
        assert os.path.getsize(segment_path(layer.disks, d, segment)) == size


def test_a_crashed_writers_zero_tail_ends_the_scan_quietly(tmp_path, caplog):
    layer = open_layer(tmp_path)
    objects = asyncio.run(_put_many(layer, [500] * 40))
    segment, size = layer.log._segment, layer.log._size
    # as a crash leaves it: the open segment keeps its preallocated zeros (no seal)
    assert os.path.getsize(segment_path(layer.disks, 0, segment)) > size
    with caplog.at_level(logging.WARNING, logger="s3free.segments"):
        found = list(scan_any(layer.disks, segment))
    assert not [r for r in caplog.records if "no intact record" in r.getMessage()]
    assert found[-1][0] + found[-1][2] == size
    assert sum(1 for _, rec, _ in found if rec.meta.get("k") in objects) == len(objects)
    assert segment in list_segments(layer.disks)


def test_a_later_batch_restores_a_scribbled_tail_page(tmp_path):
    """Each batch rewrites the partial tail page from memory: bytes of acknowledged
    records in it are written again unchanged (so damage there is even undone)."""
    layer = open_layer(tmp_path)

    async def go():
        first = await _put_many(layer, [3000] * 5)
        size = layer.log._size
        path = segment_path(layer.disks, 2, layer.log._segment)
        at = size - size % PAGE
        with open(path, "r+b") as fh:
            fh.seek(at)
            fh.write(b"\xff" * (size - at))
        second = await _put_many(layer, [3000] * 5, prefix="z")
        with open(path, "rb") as fh:
            fh.seek(at)
            assert b"\xff" * 16 not in fh.read(size - at)
        await _check_all(layer, {**first, **second})
        await layer.close()
    asyncio.run(go())


def test_a_filesystem_without_fallocate_still_takes_writes(tmp_path, monkeypatch):
    def refuse(fd, offset, length):
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")
    monkeypatch.setattr(segments, "fallocate", refuse)
    layer = open_layer(tmp_path)

    async def go():
        objects = await _put_many(layer, [700] * 20)
        assert all(layer.disks.disks[d].online for d in range(layer.disks.n))
        await _check_all(layer, objects)
        await layer.close()
    asyncio.run(go())
