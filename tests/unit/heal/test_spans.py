"""Span rebuilds: a rebuilt shard file is the file the encoder wrote (only the generation
moves on), whatever the span size and wherever the part ends; damaged sources are
dropped and replaced, never trusted; beyond tolerance nothing is written."""
import os

import pytest

from support import body, flip_byte, open_layer, payload, read_all, run
from s3free.heal.spans import WHOLE_FILE, rebuild_part_shards
from s3free.storage import beexl
from s3free.storage.shards import PartInfo, Unrecoverable, shard_path

MIB = 1 << 20


def _part(layer, key):
    return PartInfo.from_manifest(layer._manifest_of("s", key)["parts"][0])


def _same_but_newer(rebuilt: bytes, original: bytes, info: PartInfo) -> bool:
    """`rebuilt` is `original` with a newer generation (in header and footer) and no other
    difference. The new generation is one past the template shard's, which may itself
    have been rebuilt before."""
    header = beexl.parse_header(original)
    generation = beexl.parse_header(rebuilt).generation
    assert generation > header.generation
    header.generation = generation
    footer = beexl.parse_footer(original[-beexl.FOOTER_LEN:])
    footer.generation = generation
    return rebuilt == header.encode(info.header_len) + original[info.header_len:-beexl.FOOTER_LEN] + footer.encode()


async def _put(layer, sizes: dict[str, int]) -> dict[str, bytes]:
    await layer.make_bucket("s", "o")
    data = {key: payload(size, seed=size) for key, size in sizes.items()}
    for key, value in data.items():
        await layer.put_object("s", key, body(value))
    return data


SIZES = {"one-block": 200_000, "short-tail": 3 * MIB + 12_345, "exact": 4 * 6 * 176128, "big": 5 * MIB + 1}


@pytest.mark.parametrize("span_chunks", [1, 3, 1000])
def test_rebuilt_shard_is_byte_identical(tmp_path, span_chunks):
    async def main():
        layer = open_layer(tmp_path, k=6, m=3)
        try:
            data = await _put(layer, SIZES)
            for key in data:
                info = _part(layer, key)
                for t in (0, 5, 8):           # a data shard, the last data shard, a parity shard
                    path = shard_path(layer.disks, info.placement[t], info.data_id, info.number)
                    original = path.read_bytes()
                    os.unlink(path)
                    written = await rebuild_part_shards(layer, info, [t], span=span_chunks * info.chunk)
                    rebuilt = path.read_bytes()
                    assert _same_but_newer(rebuilt, original, info), (key, t)
                    assert written == len(rebuilt)
                    assert beexl.parse_footer(rebuilt[-beexl.FOOTER_LEN:]).leaf == \
                        beexl.parse_footer(original[-beexl.FOOTER_LEN:]).leaf
                assert await read_all(layer, "s", key) == data[key]
            assert not [p for p in tmp_path.rglob("*.heal-*")], "no temp file is left behind"
        finally:
            await layer.close()
    run(main())


def test_several_targets_at_once_and_dirs_deferred(tmp_path):
    async def main():
        layer = open_layer(tmp_path, k=4, m=2)
        try:
            data = await _put(layer, {"a": 5 * MIB + 7})
            info = _part(layer, "a")
            paths = [shard_path(layer.disks, info.placement[t], info.data_id, info.number) for t in (1, 4)]
            originals = [p.read_bytes() for p in paths]
            for p in paths:
                os.unlink(p)
            dirs: set = set()
            await rebuild_part_shards(layer, info, [1, 4], dirs=dirs, span=2 * info.chunk)
            assert dirs == {p.parent for p in paths}, "the caller syncs the directories"
            for p, original in zip(paths, originals):
                assert _same_but_newer(p.read_bytes(), original, info)
            assert await read_all(layer, "s", "a") == data["a"]
        finally:
            await layer.close()
    run(main())


def test_damaged_sources_are_replaced_not_trusted(tmp_path):
    """A flipped byte in one source's second span, and another source cut short (its CRC
    table gone): both are dropped and spares read instead; the result is still the
    encoder's file."""
    async def main():
        layer = open_layer(tmp_path, k=6, m=3)
        try:
            data = await _put(layer, {"a": 12 * MIB + 99})
            info = _part(layer, "a")
            path = lambda s: shard_path(layer.disks, info.placement[s], info.data_id, info.number)  # noqa: E731
            original = path(8).read_bytes()
            os.unlink(path(8))
            flip_byte(path(0), info.header_len + 5 * info.chunk + 17)
            with open(path(2), "r+b") as fh:
                fh.truncate(info.header_len + 9 * info.chunk)
            await rebuild_part_shards(layer, info, [8], span=4 * info.chunk)
            assert _same_but_newer(path(8).read_bytes(), original, info)
            assert await read_all(layer, "s", "a") == data["a"]
        finally:
            await layer.close()
    run(main())


@pytest.mark.parametrize("size", [300_000, 6 * MIB])
def test_beyond_tolerance_writes_nothing(tmp_path, size):
    async def main():
        layer = open_layer(tmp_path, k=4, m=2)
        try:
            await _put(layer, {"a": size})
            info = _part(layer, "a")
            path = lambda s: shard_path(layer.disks, info.placement[s], info.data_id, info.number)  # noqa: E731
            os.unlink(path(5))
            flip_byte(path(0), info.header_len + 3)
            flip_byte(path(3), info.header_len + 3)
            with pytest.raises(Unrecoverable):
                await rebuild_part_shards(layer, info, [5], span=4 * info.chunk)
            assert not path(5).exists()
            assert not [p for p in tmp_path.rglob("*.heal-*")]
        finally:
            await layer.close()
    run(main())


def test_small_files_are_read_whole(tmp_path):
    """A 1 MiB part's shard file fits WHOLE_FILE: one read per source, none per span."""
    async def main():
        layer = open_layer(tmp_path, k=6, m=3)
        try:
            await _put(layer, {"a": MIB})
            info = _part(layer, "a")
            size = shard_path(layer.disks, info.placement[0], info.data_id, info.number).stat().st_size
            assert size - beexl.FOOTER_LEN <= WHOLE_FILE
            os.unlink(shard_path(layer.disks, info.placement[2], info.data_id, info.number))
            ran = []
            real = layer.engine.arun

            async def counting(batch):
                ran.append([op[0] & 0xFF for op in batch])
                return await real(batch)
            layer.engine.arun = counting
            await rebuild_part_shards(layer, info, [2])
            layer.engine.arun = real
            reads = [b for b in ran if b and all(code == 0 for code in b)]
            assert reads == [[0] * 6], ran
        finally:
            await layer.close()
    run(main())
