"""Segment records: the on-disk journal that every disk carries at the same offsets.

A record is a 40-byte head, then packed metadata (identical on every disk), then a body
(this disk's shard of a small object; empty for metadata-only records):

    0  4s  magic b"BXR1"        16 Q  stamp hlc
    4  B   type                  24 Q  stamp node
    5  B   shard index           32 I  CRC32C of the body
    6  B   k                     36 I  CRC32C of head[0:36] + metadata
    7  B   m
    8  I   metadata length
    12 I   body length

Records can be scanned without the index (rebuild-index) and verified on their own.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import msgpack

from s3free.native import crc32c

MAGIC = b"BXR1"
HEAD = struct.Struct("<4sBBBBIIQQII")
HEAD_LEN = HEAD.size  # 40
MAX_META = 1 << 20
MAX_BODY = 1 << 30

# record types
DATA = 1            # a small object: its shard for this disk is the body
OBJECT = 2          # a large object's manifest was committed (its parts are shard files)
DELETE = 3          # an object was deleted (a tombstone)
BUCKET = 4          # a bucket was created
BUCKET_DELETE = 5   # a bucket was deleted

TYPE_NAMES = {DATA: "data", OBJECT: "object", DELETE: "delete", BUCKET: "bucket",
              BUCKET_DELETE: "bucket-delete"}


class RecordError(ValueError):
    """A record's bytes are damaged or not a record."""


@dataclass
class Record:
    type: int
    shard: int
    k: int
    m: int
    stamp: tuple[int, int]
    meta: dict
    body: bytes = b""
    meta_raw: bytes = b""      # the packed metadata exactly as stored (for byte-identical repairs)

    @property
    def size(self) -> int:
        return HEAD_LEN + len(self.meta_raw or pack_meta(self.meta)) + len(self.body)


def pack_meta(meta: dict) -> bytes:
    return msgpack.packb(meta, use_bin_type=True)


def encode(rtype: int, shard: int, k: int, m: int, stamp: tuple[int, int], meta_bytes: bytes,
           body) -> bytes:
    """One record's bytes. `meta_bytes` is packed once and shared by every disk's copy."""
    head = HEAD.pack(MAGIC, rtype, shard, k, m, len(meta_bytes), len(body), stamp[0], stamp[1],
                     crc32c(body), 0)
    head_crc = crc32c(meta_bytes, crc32c(memoryview(head)[:36]))
    return head[:36] + struct.pack("<I", head_crc) + meta_bytes + bytes(body)


@dataclass
class Head:
    type: int
    shard: int
    k: int
    m: int
    meta_len: int
    body_len: int
    stamp: tuple[int, int]
    body_crc: int
    head_crc: int

    @property
    def length(self) -> int:
        return HEAD_LEN + self.meta_len + self.body_len


def parse_head(buf) -> Head:
    if len(buf) < HEAD_LEN:
        raise RecordError("record head truncated")
    magic, rtype, shard, k, m, meta_len, body_len, hlc, node, body_crc, head_crc = HEAD.unpack_from(buf, 0)
    if magic != MAGIC:
        raise RecordError("bad record magic")
    if rtype not in TYPE_NAMES or meta_len > MAX_META or body_len > MAX_BODY:
        raise RecordError("implausible record head")
    return Head(rtype, shard, k, m, meta_len, body_len, (hlc, node), body_crc, head_crc)


def _checked(buf, verify_body: bool = True, shard: int | None = None) -> tuple[Head, memoryview, memoryview]:
    """(head, metadata bytes, body) of the record at the start of `buf`, its head and
    metadata CRC verified (and its body's, unless told not to; and that it is `shard`'s
    copy, if given)."""
    view = memoryview(buf)
    head = parse_head(view)
    if len(view) < head.length:
        raise RecordError(f"record truncated: {len(view)} of {head.length} bytes")
    meta_bytes = view[HEAD_LEN:HEAD_LEN + head.meta_len]
    if crc32c(meta_bytes, crc32c(view[:36])) != head.head_crc:
        raise RecordError("record head checksum mismatch")
    body = view[HEAD_LEN + head.meta_len:head.length]
    if verify_body and crc32c(body) != head.body_crc:
        raise RecordError("record body checksum mismatch")
    if shard is not None and head.shard != shard:
        raise RecordError(f"record belongs to disk {head.shard}, found on {shard}")
    return head, meta_bytes, body


def verified_body(buf, shard: int) -> bytes:
    """The verified body of `shard`'s copy of the record at the start of `buf`, without
    decoding the metadata: a small GET needs only the k bodies."""
    _, _, body = _checked(buf, shard=shard)
    return bytes(body)


def parse(buf, verify_body: bool = True, shard: int | None = None) -> Record:
    """Parse and verify one whole record from the start of `buf` (if `shard` is given,
    it must be that disk's copy)."""
    head, meta_bytes, body = _checked(buf, verify_body, shard)
    try:
        meta = msgpack.unpackb(bytes(meta_bytes), raw=False)
    except Exception as exc:
        raise RecordError(f"bad record metadata: {exc}") from None
    if not isinstance(meta, dict):
        raise RecordError("record metadata is not a map")
    return Record(head.type, head.shard, head.k, head.m, head.stamp, meta, bytes(body), bytes(meta_bytes))
