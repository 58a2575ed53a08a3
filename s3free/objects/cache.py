"""A per-worker cache of verified small objects, keyed by their journal location.

A small object's bytes live in one journal record whose location never changes meaning:
records are append-only, compaction writes live ones to new locations, and a repair
rewrites a copy with the identical bytes. So an entry can never be stale, and a warm
small GET needs neither the k reads nor their CRC checks (the bytes were verified when
they were read). Damage on disk under a hot object is still found by the scrubber.
"""
from __future__ import annotations

import collections


class SmallCache:
    """LRU by bytes: at most `capacity` bytes of object data (0 disables it)."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.used = 0
        self.hits = self.misses = 0
        self._items: collections.OrderedDict[tuple, bytes] = collections.OrderedDict()

    def get(self, loc: tuple) -> bytes | None:
        data = self._items.get(loc)
        if data is None:
            self.misses += 1
            return None
        self._items.move_to_end(loc)
        self.hits += 1
        return data

    def put(self, loc: tuple, data: bytes) -> None:
        if len(data) > self.capacity // 8 or loc in self._items:
            return
        self._items[loc] = data
        self.used += len(data)
        while self.used > self.capacity:
            _, old = self._items.popitem(last=False)
            self.used -= len(old)


class DecodedRecords:
    """Index records decoded once: raw bytes -> the object built from them.

    Keyed by the record's exact bytes (with its name), so a changed record is simply a
    different key and an entry cannot be stale. What it returns is shared between
    requests: callers read it, never change it. When full it starts over (cheap, and
    the hot records come straight back)."""

    def __init__(self, capacity: int = 4096):
        self.capacity = capacity
        self._items: dict[tuple, object] = {}

    def get(self, name: str, raw: bytes, build):
        key = (name, raw, build)          # one namespace per kind of record
        item = self._items.get(key)
        if item is None:
            if len(self._items) >= self.capacity:
                self._items.clear()
            item = self._items[key] = build(name, raw)
        return item
