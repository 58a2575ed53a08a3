"""Index key encoding that sorts as S3 lists (bucket, then key bytes in UTF-8 order).

LMDB keys are limited to 511 bytes but S3 keys reach 1024, so a key longer than LONG
bytes is stored as its first LONG bytes, a 0xFF 0xFE marker (0xFF never occurs in UTF-8)
and 16 bytes of its hash. That keeps it in the right place relative to every other key
except other long keys sharing its first LONG bytes; `ordered` re-sorts those groups.
"""
from __future__ import annotations

import blake3

LONG = 400
MARK = b"\xff\xfe"
SEP = b"\x00"


def bucket_prefix(bucket: str) -> bytes:
    return bucket.encode() + SEP


def object_key(bucket: str, key: bytes) -> bytes:
    if len(key) <= LONG:
        return bucket_prefix(bucket) + key
    return bucket_prefix(bucket) + key[:LONG] + MARK + blake3.blake3(key).digest()[:16]


def seek_key(bucket: str, start: bytes) -> bytes:
    """Where to position a cursor so that every key >= start follows."""
    if len(start) <= LONG:
        return bucket_prefix(bucket) + start
    return bucket_prefix(bucket) + start[:LONG] + MARK


def is_long(index_key: bytes, bucket: str) -> bool:
    base = len(bucket) + 1 + LONG
    return len(index_key) > base and index_key[base:base + 2] == MARK


def key_from_index(index_key: bytes, bucket: str) -> bytes:
    return index_key[len(bucket) + 1:]


def successor(prefix: bytes) -> bytes:
    """The smallest key greater than every key that starts with `prefix`.

    >>> successor(b"photos/")
    b'photos0'
    """
    return prefix[:-1] + bytes([prefix[-1] + 1])
