"""Version stamps: a hybrid logical clock plus a writer id, ordering writes across
processes (and, later, machines). The newest stamp wins, in the index and on rebuild."""
from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last = 0
_node = 0


def _draw_node() -> None:
    global _node
    _node = int.from_bytes(os.urandom(8), "little") & 0x7FFF_FFFF_FFFF_FFFF


def node_id() -> int:
    """A random 63-bit id for this process (re-drawn in a forked child: no getpid per call)."""
    return _node


_draw_node()
os.register_at_fork(after_in_child=_draw_node)


def hlc_now() -> int:
    """Milliseconds since the epoch << 16 | a counter: strictly increasing per process."""
    global _last
    with _lock:
        wall = (time.time_ns() // 1_000_000) << 16
        _last = wall if wall > _last else _last + 1
        return _last


def stamp() -> tuple[int, int]:
    """A new (hlc, node) stamp; tuples compare in write order."""
    return (hlc_now(), node_id())


def observe(hlc: int) -> None:
    """Move the clock past a stamp seen elsewhere, so later writes order after it."""
    global _last
    with _lock:
        if hlc > _last:
            _last = hlc


def stamp_time(hlc: int) -> float:
    return (hlc >> 16) / 1000.0


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7) for version ids."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | (0x7 << 76) | ((rand >> 64) & 0xFFF) << 64 \
        | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return uuid.UUID(int=value)
