"""The node's LMDB environment and its sub-databases.

One environment per node, opened by every worker process after fork. Writes are short
transactions; the segment log's group commit applies many PUTs in one. Values are msgpack.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import lmdb
import msgpack

from s3free.meta import keys as K

DBS = ("buckets", "objects", "uploads", "parts", "data", "segments", "state", "heal", "tombs")


def pack(value) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def unpack(raw):
    return msgpack.unpackb(raw, raw=False, strict_map_key=False)


@dataclass
class Listing:
    """One page of a listing: objects (key, manifest), common prefixes, and where to go on."""
    objects: list[tuple[str, dict]] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    next_marker: str = ""


class Index:
    def __init__(self, path: str | os.PathLike, map_size: int = 1 << 38, readonly: bool = False):
        os.makedirs(path, exist_ok=True)
        self.path = str(path)
        self.env = lmdb.open(self.path, map_size=map_size, max_dbs=len(DBS) + 2, max_readers=1024,
                             subdir=True, readonly=readonly, lock=True, writemap=False, metasync=True,
                             sync=True, map_async=False)
        self.env.reader_check()     # clear reader slots left by crashed processes
        self.db = {name: self.env.open_db(name.encode(), create=not readonly) for name in DBS}

    def close(self) -> None:
        self.env.close()

    def read(self) -> lmdb.Transaction:
        """`with index.read() as txn:` a read snapshot (lmdb's own context manager: ended on
        exit; no generator wrapper, which cost more than the lookup on a small GET)."""
        return self.env.begin(write=False, buffers=False)

    def write(self) -> lmdb.Transaction:
        """`with index.write() as txn:` committed on a clean exit, aborted on an exception."""
        return self.env.begin(write=True)

    # -- generic helpers --------------------------------------------------------------
    def get_raw(self, txn, db: str, key: bytes) -> bytes | None:
        """The stored bytes (msgpack) as they are, for callers that cache by them."""
        return txn.get(key, db=self.db[db])

    def get(self, txn, db: str, key: bytes):
        raw = self.get_raw(txn, db, key)
        return None if raw is None else unpack(raw)

    def put(self, txn, db: str, key: bytes, value) -> None:
        txn.put(key, pack(value), db=self.db[db])

    def delete(self, txn, db: str, key: bytes) -> bool:
        return txn.delete(key, db=self.db[db])

    def items(self, txn, db: str, prefix: bytes = b"") -> Iterator[tuple[bytes, object]]:
        cur = txn.cursor(db=self.db[db])
        if not cur.set_range(prefix):
            return
        for k, v in cur:
            if not k.startswith(prefix):
                break
            yield k, unpack(v)

    # -- buckets ----------------------------------------------------------------------
    def get_bucket(self, txn, name: str) -> dict | None:
        return self.get(txn, "buckets", name.encode())

    def put_bucket(self, txn, name: str, info: dict) -> None:
        self.put(txn, "buckets", name.encode(), info)

    def delete_bucket(self, txn, name: str) -> None:
        self.delete(txn, "buckets", name.encode())

    def buckets(self, txn) -> list[tuple[str, dict]]:
        return [(k.decode(), v) for k, v in self.items(txn, "buckets")]

    def bucket_is_empty(self, txn, name: str) -> bool:
        cur = txn.cursor(db=self.db["objects"])
        prefix = K.bucket_prefix(name)
        return not (cur.set_range(prefix) and cur.key().startswith(prefix))

    # -- objects ----------------------------------------------------------------------
    def get_object(self, txn, bucket: str, key: str) -> dict | None:
        return self.get(txn, "objects", K.object_key(bucket, key.encode()))

    def put_object(self, txn, bucket: str, key: str, manifest: dict) -> None:
        self.put(txn, "objects", K.object_key(bucket, key.encode()), manifest)

    def delete_object(self, txn, bucket: str, key: str) -> bool:
        return self.delete(txn, "objects", K.object_key(bucket, key.encode()))

    def put_tomb(self, txn, bucket: str, key: str, stamp) -> None:
        """Remember when a key was deleted (so a scrub can tell deleted from lost)."""
        self.put(txn, "tombs", K.object_key(bucket, key.encode()), list(stamp))

    def get_tomb(self, txn, bucket: str, key: str) -> tuple | None:
        got = self.get(txn, "tombs", K.object_key(bucket, key.encode()))
        return None if got is None else tuple(got)

    def ordered(self, txn, bucket: str, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """(key bytes, raw manifest) for every key >= start in S3 order, decoding nothing
        but the keys of long-key groups (which need re-sorting)."""
        cur = txn.cursor(db=self.db["objects"])
        prefix = K.bucket_prefix(bucket)
        ok = cur.set_range(K.seek_key(bucket, start))
        while ok:
            ikey = cur.key()
            if not ikey.startswith(prefix):
                return
            if not K.is_long(ikey, bucket):
                key = K.key_from_index(ikey, bucket)
                if key >= start:
                    yield key, cur.value()
                ok = cur.next()
                continue
            group_head = ikey[:len(prefix) + K.LONG + 2]
            group = []
            while ok and cur.key().startswith(group_head):
                raw = cur.value()
                group.append((unpack(raw)["k"].encode(), raw))
                ok = cur.next()
            for key, raw in sorted(group):
                if key >= start:
                    yield key, raw

    def list_objects(self, txn, bucket: str, prefix: str = "", delimiter: str = "",
                     marker: str = "", max_keys: int = 1000) -> Listing:
        """S3 listing by cursor: keys after `marker` under `prefix`, rolling keys up at
        `delimiter` into common prefixes by seeking past each one (never walking it)."""
        out = Listing()
        pfx, dlm, mark = prefix.encode(), delimiter.encode(), marker.encode()
        start = max(pfx, mark)
        count = 0
        while True:
            restart = None
            for key, raw in self.ordered(txn, bucket, start):
                if not key.startswith(pfx):
                    return out
                if key <= mark and mark:
                    continue
                if dlm:
                    i = key.find(dlm, len(pfx))
                    if i >= 0:
                        cp = key[:i + len(dlm)]
                        if mark and cp <= mark and mark.startswith(cp):
                            restart = K.successor(cp)   # the marker was inside this prefix
                            break
                        if count >= max_keys:
                            out.truncated = True
                            return out
                        out.prefixes.append(cp.decode())
                        out.next_marker = cp.decode()
                        count += 1
                        restart = K.successor(cp)
                        break
                if count >= max_keys:
                    out.truncated = True
                    return out
                out.objects.append((key.decode(), unpack(raw)))
                out.next_marker = key.decode()
                count += 1
            if restart is None:
                return out
            start = restart

    def count_objects(self, txn, bucket: str | None = None) -> int:
        if bucket is None:
            return txn.stat(self.db["objects"])["entries"]
        return sum(1 for _ in self.ordered(txn, bucket))
