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
