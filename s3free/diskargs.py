"""Disk and layout arguments shared by `s3free server` and the offline admin commands."""
from __future__ import annotations

import os
import re

DEFAULT_DATA_DIR = "s3free-data"
DEFAULT_DISKS = 9
DEFAULT_EC = (6, 3)

_RANGE = re.compile(r"\{(\d+)\.\.\.(\d+)\}")


def expand(pattern: str) -> list[str]:
    """MinIO-style ranges: '/mnt/d{1...3}' -> ['/mnt/d1', '/mnt/d2', '/mnt/d3'].

    >>> expand("/x/d{1...3}/data")
    ['/x/d1/data', '/x/d2/data', '/x/d3/data']
    >>> expand("/plain")
    ['/plain']
    """
    match = _RANGE.search(pattern)
    if not match:
        return [pattern]
    lo, hi = int(match.group(1)), int(match.group(2))
    if hi < lo:
        raise ValueError(f"empty disk range in {pattern!r}")
    width = len(match.group(1)) if match.group(1).startswith("0") else 0
    out = []
    for i in range(lo, hi + 1):
        out += expand(pattern[:match.start()] + str(i).zfill(width) + pattern[match.end():])
    return out


def expand_all(patterns: list[str]) -> list[str]:
    return [p for pat in patterns for p in expand(pat)]


def parse_ec(text: str) -> tuple[int, int]:
    """'6+3' -> (6, 3)."""
    try:
        k, m = (int(x) for x in text.split("+"))
    except ValueError:
        raise ValueError(f"erasure layout must look like K+M (e.g. 6+3), not {text!r}") from None
    if k < 1 or m < 1:
        raise ValueError(f"erasure layout {text!r}: K and M must be at least 1")
    return k, m


def default_disks(base: str | None = None) -> list[str]:
    base = base or os.path.join(os.getcwd(), DEFAULT_DATA_DIR)
    return [os.path.join(base, f"disk{i}") for i in range(1, DEFAULT_DISKS + 1)]


def default_meta_dir(base: str | None = None) -> str:
    return os.path.join(base or os.path.join(os.getcwd(), DEFAULT_DATA_DIR), "meta")
