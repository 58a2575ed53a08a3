"""Helpers shared by tests: deterministic payloads, async body streams, layer set-up."""
from __future__ import annotations

import asyncio
import hashlib
import os
import random

from s3free.objects.layer import EngineConfig, ObjectLayer

PIECE = 172 * 1024      # what Granian hands the app per receive()


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


async def body(data: bytes, piece: int = PIECE):
    view = memoryview(data)
    for i in range(0, len(data), piece):
        yield bytes(view[i:i + piece])


async def pattern_body(size: int, seed: int = 0, piece: int = 1 << 20):
    """A large deterministic body without holding it: 1 MiB blocks, each unique."""
    base = random.Random(seed).randbytes(piece)
    sent = 0
    n = 0
    while sent < size:
        block = n.to_bytes(8, "little") + base[8:]
        chunk = block[:min(piece, size - sent)]
        yield chunk
        sent += len(chunk)
        n += 1


def pattern_md5(size: int, seed: int = 0, piece: int = 1 << 20) -> str:
    base = random.Random(seed).randbytes(piece)
    md5 = hashlib.md5()
    sent, n = 0, 0
    while sent < size:
        block = n.to_bytes(8, "little") + base[8:]
        chunk = block[:min(piece, size - sent)]
        md5.update(chunk)
        sent += len(chunk)
        n += 1
    return md5.hexdigest()


async def read_all(layer, bucket, key, first=None, last=None) -> bytes:
    _, stream = await layer.get_object(bucket, key, first, last)
    return b"".join([c async for c in stream])


def disk_paths(root, n: int = 9) -> list[str]:
    return [os.path.join(root, f"disk{i + 1}") for i in range(n)]


def open_layer(root, k: int = 6, m: int = 3, n: int | None = None, **config) -> ObjectLayer:
    return ObjectLayer.open(disk_paths(root, n or k + m), os.path.join(root, "meta"),
                            EngineConfig(k=k, m=m, **config))


def run(coro):
    return asyncio.run(coro)


def with_layer(root, check, bucket: str = "b", **layer_kw) -> None:
    """Open a layer under `root` with `bucket` made, run `await check(layer)`, close it."""
    async def main():
        layer = open_layer(root, **layer_kw)
        try:
            await layer.make_bucket(bucket, "o")
            await check(layer)
        finally:
            await layer.close()
    run(main())


def disk_problems(layer) -> list[str]:
    """Check every live object's shards on disk directly (files, not the read path):
    headers, footers, every chunk's CRC; every copy of every small object's record."""
    from s3free.meta.index import unpack
    from s3free.native import crc32c
    from s3free.storage import beexl, records
    from s3free.storage.geometry import Geometry
    from s3free.storage.segments import Location, segment_path
    from s3free.storage.shards import PartInfo, shard_path

    problems = []
    with layer.index.read() as txn:
        manifests = [unpack(v) for _, v in txn.cursor(db=layer.index.db["objects"])]
    for m in manifests:
        if "parts" not in m:
            loc = Location.from_list(m["loc"])
            for d in range(layer.disks.n):
                try:
                    with open(segment_path(layer.disks, d, loc.segment), "rb") as fh:
                        fh.seek(loc.offset)
                        rec = records.parse(fh.read(loc.length))
                    assert rec.shard == d
                except Exception as exc:
                    problems.append(f"{m['b']}/{m['k']} record on disk {d}: {exc!r}")
            continue
        for item in m["parts"]:
            part = PartInfo.from_manifest(item)
            g = Geometry(layer.k, part.chunk, part.size)
            for s, d in enumerate(part.placement):
                path = shard_path(layer.disks, d, part.data_id, part.number)
                try:
                    raw = path.read_bytes()
                    header = beexl.parse_header(raw[:part.header_len])
                    assert header.shard == s and header.data_id.hex == part.data_id
                    table_off, footer_off, size = beexl.layout(part.header_len, g.payload_len, g.blocks)
                    assert len(raw) == size, f"size {len(raw)} != {size}"
                    footer = beexl.parse_footer(raw[footer_off:])
                    table = raw[table_off:table_off + 4 * g.blocks]
                    assert footer.leaf == beexl.merkle_leaf(table)
                    for b in range(g.blocks):
                        start = part.header_len + g.chunk_offset(b)
                        chunk = raw[start:start + g.disk_chunk_len(b)]
                        assert crc32c(chunk) == int.from_bytes(table[4 * b:4 * b + 4], "little"), f"block {b}"
                except Exception as exc:
                    problems.append(f"{m['b']}/{m['k']} shard {s} ({path}): {exc!r}")
    return problems


def flip_byte(path, offset: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        b = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([b[0] ^ 0xA5]))
