"""Stripe geometry and range arithmetic, as pure functions.

A part is cut into blocks of `block_size = k * chunk_size` data bytes. Block b's data is
split into k chunks; shard i (i < k) stores data chunk i, shard i >= k parity. On disk
every chunk is padded to a multiple of ALIGN so O_DIRECT works everywhere: full blocks
have chunks of exactly `chunk_size` (a multiple of ALIGN); the last block's chunks hold
ceil(L / k) data bytes each, padded to ALIGN.
"""
from __future__ import annotations

from dataclasses import dataclass

ALIGN = 4096
TARGET_BLOCK = 1 << 20


def round_up(n: int, to: int = ALIGN) -> int:
    return -(-n // to) * to


def chunk_size_for(k: int, target_block: int = TARGET_BLOCK) -> int:
    """Per-shard chunk of a full block: about target/k, aligned.

    >>> chunk_size_for(6), 6 * chunk_size_for(6)
    (176128, 1056768)
    >>> chunk_size_for(2)
    524288
    """
    return round_up(-(-target_block // k))


@dataclass(frozen=True)
class Geometry:
    """Where the bytes of one part of `size` bytes live, for RS(k, m) with `chunk`."""

    k: int
    chunk: int
    size: int

    @property
    def block_size(self) -> int:
        return self.k * self.chunk

    @property
    def blocks(self) -> int:
        return -(-self.size // self.block_size)

    def block_len(self, b: int) -> int:
        """Data bytes in block b."""
        return min(self.block_size, self.size - b * self.block_size)

    def piece_len(self, b: int) -> int:
        """Data bytes per shard in block b (the last shard's piece may hold fewer).

        >>> g = Geometry(k=4, chunk=4096, size=4 * 4096 + 10)
        >>> g.blocks, g.piece_len(0), g.piece_len(1)
        (2, 4096, 3)
        """
        return -(-self.block_len(b) // self.k)

    def disk_chunk_len(self, b: int) -> int:
        """Bytes of block b's chunk on every shard file (aligned)."""
        return self.chunk if b < self.blocks - 1 else round_up(self.piece_len(b))

    def chunk_offset(self, b: int) -> int:
        """Offset of block b's chunk within a shard's payload."""
        return b * self.chunk

    @property
    def payload_len(self) -> int:
        if self.blocks == 0:
            return 0
        return (self.blocks - 1) * self.chunk + self.disk_chunk_len(self.blocks - 1)

    def locate(self, offset: int) -> tuple[int, int, int]:
        """Data offset -> (block, shard, offset within that shard's piece).

        >>> Geometry(k=4, chunk=4096, size=100000).locate(4096 * 4 + 4097)
        (1, 1, 1)
        """
        b, rem = divmod(offset, self.block_size)
        piece = self.piece_len(b)
        shard, within = divmod(rem, piece)
        return b, shard, within

    def shards_for(self, b: int, start: int, end: int) -> range:
        """Data shards of block b that hold bytes [start, end] (offsets within the block).

        >>> list(Geometry(k=4, chunk=4096, size=16384).shards_for(0, 4095, 4096))
        [0, 1]
        """
        piece = self.piece_len(b)
        return range(start // piece, end // piece + 1)

    def block_range(self, first: int, last: int) -> range:
        """Blocks holding data bytes [first, last] (inclusive).

        >>> list(Geometry(k=2, chunk=4096, size=3 * 8192).block_range(8191, 8192))
        [0, 1]
        """
        return range(first // self.block_size, last // self.block_size + 1)
