"""The pipelined large-object paths: PartWriter keeps several blocks in flight (encode,
write and hashing on worker threads), PartReader reads ahead. Failures in any block in
flight must still end in either a part that meets quorum or a clean refusal; reads ahead
must never serve an unverified byte."""
import asyncio
import errno
import hashlib
import os

import pytest

from support import body, disk_problems, flip_byte, payload, read_all, with_layer
from s3free.objects import errors as E
from s3free.storage.shards import PartInfo, PartWriter, shard_path

MIB = 1 << 20


def open_fds() -> int:
    """Shard files (and their directories) this process holds open."""
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        n += target.endswith(".bxl") or "/objects" in target
    return n


def fail_writes(layer, shards_of, after_block: int):
    """Make the engine fail every write to the given shard files from `after_block` on
    (as a disk that dies mid-stream would); `shards_of()` names the files to fail."""
    real = layer.engine.run
    chunk = layer.chunk

    def run_(batch):
        bad = shards_of()
        results = real(batch)
        out = []
        for op, res in zip(batch, results):
            if op[0] & 0xFF == 1 and op[4] in bad and op[3] >= after_block * chunk:
                res = -errno.EIO
            out.append(res)
        return out

    layer.engine.run = run_


def shard_files(layer, bucket, key):
    part = PartInfo.from_manifest(layer._manifest_of(bucket, key)["parts"][0])
    return part, [shard_path(layer.disks, d, part.data_id, 1) for d in part.placement]


def test_a_disk_failing_mid_stream_still_meets_quorum(tmp_path):
    async def check(layer):      # RS(6,3), quorum 7 of 9
        written = {}
        real_init = PartWriter.__init__

        def spy(self, *a, **kw):
            real_init(self, *a, **kw)
            written["w"] = self

        PartWriter.__init__ = spy
        try:
            fail_writes(layer, lambda: {str(p) for p in written["w"].paths[4:6]}
                        if "w" in written else set(), after_block=5)
            data = payload(20 * MIB + 12345, seed=3)
            before = 0
            info = await layer.put_object("b", "obj", body(data), size_hint=len(data))
        finally:
            PartWriter.__init__ = real_init
        assert info.etag == hashlib.md5(data).hexdigest()
        part, _ = shard_files(layer, "b", "obj")
        assert part.missing == [4, 5]
        assert open_fds() == before, "every shard file is closed, the failed ones too"
        assert await read_all(layer, "b", "obj") == data
        with layer.index.read() as txn:
            assert f"{part.data_id}.1".encode() in dict(layer.index.items(txn, "heal"))
    with_layer(tmp_path, check)


def test_too_many_disks_failing_mid_stream_is_a_clean_refusal(tmp_path):
    async def check(layer):      # RS(4,2), quorum 5 of 6
        fail_writes(layer, lambda: {str(p) for p in tmp_path.rglob("*.bxl")
                                    if p.parts[-5] in ("disk2", "disk5")}, after_block=3)
        data = payload(12 * MIB, seed=4)
        before = 0
        with pytest.raises(E.WriteQuorum):
            await layer.put_object("b", "obj", body(data), size_hint=len(data))
        with pytest.raises(E.NoSuchKey):
            layer.head_object("b", "obj")
        assert open_fds() == before
        assert not list(tmp_path.rglob("*.bxl")), "what was written is removed"
        assert layer.pool.allocated <= PartWriter.DEPTH + 2, "block buffers are reused, not leaked"
    with_layer(tmp_path, check, k=4, m=2)


def test_a_hasher_failing_mid_stream_fails_the_put_and_no_job_hangs(tmp_path):
    class Boom:
        def __init__(self):
            self.n = 0

        def update(self, data):
            self.n += 1
            if self.n == 4:
                raise RuntimeError("hasher broke")

    async def check(layer):
        before = 0
        with pytest.raises(RuntimeError, match="hasher broke"):
            await asyncio.wait_for(layer.put_object("b", "obj", body(payload(9 * MIB)), hashers=[Boom()]), 30)
        with pytest.raises(E.NoSuchKey):
            layer.head_object("b", "obj")
        assert open_fds() == before
        # the engine's threads are free again: another PUT goes through
        data = payload(5 * MIB, seed=9)
        await asyncio.wait_for(layer.put_object("b", "ok", body(data)), 30)
        assert await read_all(layer, "b", "ok") == data
    with_layer(tmp_path, check)


@pytest.mark.parametrize("hint_delta", [-3 * MIB, +5 * MIB + 7, 0])
def test_preallocation_with_a_wrong_size_hint_still_writes_a_valid_part(tmp_path, hint_delta):
    async def check(layer):
        data = payload(7 * MIB + 333, seed=5)
        await layer.put_object("b", "obj", body(data), size_hint=len(data) + hint_delta)
        assert await read_all(layer, "b", "obj") == data
        assert await read_all(layer, "b", "obj", 6 * MIB, 6 * MIB + 500) == data[6 * MIB:6 * MIB + 501]
        assert disk_problems(layer) == []
        _, paths = shard_files(layer, "b", "obj")
        sizes = {os.path.getsize(p) for p in paths}
        assert len(sizes) == 1, "every shard file ends at its footer"
    with_layer(tmp_path, check)


def test_a_put_cancelled_with_blocks_in_flight_leaves_nothing_open(tmp_path):
    async def check(layer):
        started = asyncio.Event()

        async def slow_body():
            async for piece in body(payload(8 * MIB, seed=6)):
                yield piece
            started.set()
            await asyncio.sleep(30)
            yield b"never"

        before = 0
        task = asyncio.ensure_future(layer.put_object("b", "obj", slow_body()))
        await started.wait()
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(100):
            if open_fds() == before and not list(tmp_path.rglob("*.bxl")):
                break
            await asyncio.sleep(0.05)
        assert open_fds() == before
        assert not list(tmp_path.rglob("*.bxl"))
    with_layer(tmp_path, check)


def test_a_corrupt_chunk_in_a_read_ahead_block_is_served_around_and_reported(tmp_path):
    async def check(layer):
        data = payload(30 * MIB + 999, seed=7)
        await layer.put_object("b", "obj", body(data))
        part, paths = shard_files(layer, "b", "obj")
        block = 9                           # in the second or third read-ahead piece
        flip_byte(paths[2], part.header_len + block * part.chunk + 1234)
        os.unlink(paths[4])                 # and a data shard gone altogether
        pieces = []
        _, stream = await layer.get_object("b", "obj")
        async for piece in stream:
            assert isinstance(piece, (bytes, bytearray)), "Granian sends only bytes/bytearray"
            pieces.append(bytes(piece))
        assert b"".join(pieces) == data
        assert max(len(p) for p in pieces) <= 4 * MIB + 4 * part.chunk * 6
        with layer.index.read() as txn:
            heal = dict(layer.index.items(txn, "heal"))
        entry = heal[f"{part.data_id}.1".encode()]
        assert set(entry["shards"]) == {"2", "4"}
        assert "CRC mismatch in block 9" in entry["shards"]["2"]
    with_layer(tmp_path, check)


@pytest.mark.parametrize("first,last", [(0, 0), (5, 3 * MIB), (MIB - 1, 9 * MIB + 17), (1234567, 13 * MIB - 2),
                                        (6 * 176128 * 4 - 1, 6 * 176128 * 8), (13 * MIB - 5, 13 * MIB + 999)])
def test_ranges_across_read_ahead_pieces(tmp_path, first, last):
    async def check(layer):
        data = payload(13 * MIB + 1000, seed=8)
        await layer.put_object("b", "obj", body(data))
        assert await read_all(layer, "b", "obj", first, last) == data[first:last + 1]
    with_layer(tmp_path, check)


def test_a_reader_stopped_early_leaves_no_read_running_nor_file_open(tmp_path):
    async def check(layer):
        data = payload(24 * MIB, seed=10)
        await layer.put_object("b", "obj", body(data))
        for _ in range(3):
            _, stream = await layer.get_object("b", "obj")
            got = await anext(stream)
            assert bytes(got) == data[:len(got)]
            await stream.aclose()
            assert open_fds() == 0
    with_layer(tmp_path, check)


def test_a_healthy_object_goes_out_one_run_of_blocks_per_piece(tmp_path):
    """Each read-ahead run (SPAN_BLOCKS blocks) is one bytes object: one message to send."""
    from s3free.storage.shards import PartReader

    async def check(layer):
        data = payload(21 * MIB + 77, seed=11)
        await layer.put_object("b", "obj", body(data))
        part, _ = shard_files(layer, "b", "obj")
        run_bytes = PartReader.SPAN_BLOCKS * part.chunk * 6
        _, stream = await layer.get_object("b", "obj")
        sizes = [len(piece) async for piece in stream]
        assert sum(sizes) == len(data)
        # whole runs, then what is left: a part run and the short last block (alone)
        assert sizes[:-2] == [run_bytes] * (len(sizes) - 2) and len(sizes) >= 4
        assert len(sizes) <= -(-len(data) // run_bytes) + 1
    with_layer(tmp_path, check)
