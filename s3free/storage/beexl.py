"""BeeXL v1 shard files: the self-describing container of one shard of one part.

    [header: H bytes, H a multiple of 4096]  identity, RS layout, generation, manifest
    [payload]                                this shard's chunk of every block, aligned
    [CRC table, padded to 4096]              CRC32C of each chunk, little-endian uint32
    [footer: 4096 bytes]                     Merkle leaf, generation, lengths

Byte offsets are in docs/format.md. Everything here is pure: bytes in, values out;
parsers raise FormatError on anything malformed, never another exception.
"""
from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field

import blake3
import msgpack

from s3free.native import crc32c
from s3free.storage.geometry import ALIGN, round_up

MAGIC = b"BeeXLv1\0"
FOOTER_MAGIC = b"BeeXLend"
VERSION = 1
FOOTER_LEN = ALIGN
MAX_HEADER = 64 * 1024

# magic, version, reserved, header_len, k, m, shard, reserved, chunk, part_size,
# payload_len, generation, part_number, meta_len, data_id, version_id, hlc, node
_HEAD = struct.Struct("<8sHHIBBBBIQQQII16s16sQQ")
# magic, generation, payload_len, chunks, table_len, merkle leaf
_FOOT = struct.Struct("<8sQQII32s")


class FormatError(ValueError):
    """A shard file (or part of one) is not valid BeeXL v1."""


@dataclass
class ShardHeader:
    k: int
    m: int
    shard: int
    chunk: int
    part_size: int
    payload_len: int
    generation: int
    part_number: int
    data_id: uuid.UUID
    version_id: uuid.UUID
    stamp: tuple[int, int]
    meta: dict = field(default_factory=dict)     # bucket, key, manifest for rebuilds

    def encode(self, header_len: int | None = None) -> bytes:
        meta = msgpack.packb(self.meta, use_bin_type=True)
        need = header_size(len(meta))
        length = header_len or need
        if length < need or length % ALIGN:
            raise ValueError(f"header of {length} bytes cannot hold {len(meta)} bytes of metadata")
        head = _HEAD.pack(MAGIC, VERSION, 0, length, self.k, self.m, self.shard, 0, self.chunk,
                          self.part_size, self.payload_len, self.generation, self.part_number,
                          len(meta), self.data_id.bytes, self.version_id.bytes, *self.stamp)
        body = head + meta
        body += bytes(length - 4 - len(body))
        return body + struct.pack("<I", crc32c(body))


def header_size(meta_len: int) -> int:
    """Header bytes needed for `meta_len` bytes of packed metadata."""
    return round_up(_HEAD.size + meta_len + 4)


def header_len_of(prefix: bytes) -> int:
    """The header length, from the first bytes of a file (at least 16)."""
    if len(prefix) < 16 or prefix[:8] != MAGIC:
        raise FormatError("not a BeeXL v1 shard file (bad magic)")
    length = struct.unpack_from("<I", prefix, 12)[0]
    if length < ALIGN or length % ALIGN or length > MAX_HEADER:
        raise FormatError(f"implausible header length {length}")
    return length


def parse_header(buf: bytes) -> ShardHeader:
    length = header_len_of(buf)
    if len(buf) < length:
        raise FormatError(f"header truncated: {len(buf)} of {length} bytes")
    (stored,) = struct.unpack_from("<I", buf, length - 4)
    if crc32c(memoryview(buf)[:length - 4]) != stored:
        raise FormatError("header checksum mismatch")
    (_, version, _, _, k, m, shard, _, chunk, part_size, payload_len, generation, part_number,
     meta_len, data_id, version_id, hlc, node) = _HEAD.unpack_from(buf, 0)
    if version != VERSION:
        raise FormatError(f"unsupported BeeXL version {version}")
    if _HEAD.size + meta_len + 4 > length:
        raise FormatError("metadata overruns the header")
    try:
        meta = msgpack.unpackb(bytes(buf[_HEAD.size:_HEAD.size + meta_len]), raw=False)
    except Exception as exc:  # msgpack raises several types
        raise FormatError(f"bad header metadata: {exc}") from None
    if not isinstance(meta, dict):
        raise FormatError("header metadata is not a map")
    return ShardHeader(k, m, shard, chunk, part_size, payload_len, generation, part_number,
                       uuid.UUID(bytes=data_id), uuid.UUID(bytes=version_id), (hlc, node), meta)


def table_len(chunks: int) -> int:
    return round_up(4 * chunks) if chunks else 0


def merkle_leaf(table: bytes) -> bytes:
    """A shard's Merkle leaf: BLAKE3 over its CRC table (which covers every chunk)."""
    return blake3.blake3(table).digest()


def merkle_root(leaves: list[bytes]) -> bytes:
    """A part's (or object's) root: BLAKE3 over its leaves in shard order."""
    return blake3.blake3(b"".join(leaves)).digest()


@dataclass
class ShardFooter:
    generation: int
    payload_len: int
    chunks: int
    leaf: bytes

    def encode(self) -> bytes:
        body = _FOOT.pack(FOOTER_MAGIC, self.generation, self.payload_len, self.chunks,
                          4 * self.chunks, self.leaf)
        body += bytes(FOOTER_LEN - 4 - len(body))
        return body + struct.pack("<I", crc32c(body))


def parse_footer(buf: bytes) -> ShardFooter:
    if len(buf) < FOOTER_LEN:
        raise FormatError("footer truncated")
    if bytes(buf[:8]) != FOOTER_MAGIC:
        raise FormatError("bad footer magic")
    (stored,) = struct.unpack_from("<I", buf, FOOTER_LEN - 4)
    if crc32c(memoryview(buf)[:FOOTER_LEN - 4]) != stored:
        raise FormatError("footer checksum mismatch")
    _, generation, payload_len, chunks, tlen, leaf = _FOOT.unpack_from(buf, 0)
    if tlen != 4 * chunks:
        raise FormatError("footer table length disagrees with its chunk count")
    return ShardFooter(generation, payload_len, chunks, leaf)


def layout(header_len: int, payload_len: int, chunks: int) -> tuple[int, int, int]:
    """(table offset, footer offset, file size) of a shard file."""
    table_off = header_len + payload_len
    footer_off = table_off + table_len(chunks)
    return table_off, footer_off, footer_off + FOOTER_LEN
