"""The public face of the compiled core (`s3free._native`, built from ext/).

Per-byte work lives in C with the GIL released: Reed-Solomon on ISA-L, CRC32C/CRC32/
CRC-64-NVME on ISA-L, aligned buffers for O_DIRECT. This module adds argument checks and
conveniences; storage code imports from here, never from `_native` directly.
"""
from __future__ import annotations

import collections
import threading
from collections.abc import Sequence

try:
    from s3free import _native
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    raise ImportError(
        f"s3free's native core is not available ({exc}). Build it with `pip install -e .` "
        "(the README's `./dev` commands do this); see docs/native.md."
    ) from exc

AlignedBuffer = _native.AlignedBuffer
NotEnoughShards = _native.NotEnoughShards
LIBRARY_PATHS: dict[str, str] = dict(_native.LIBRARY_PATHS)

crc32c = _native.crc32c
crc32c_chunks = _native.crc32c_chunks
crc32 = _native.crc32
crc64nvme = _native.crc64nvme

fallocate = _native.fallocate              # (fd, offset, length, mode=0); never emulated
new_bytes = _native.new_bytes              # uninitialized bytes for pread_bytes to fill
pread_bytes = _native.pread_bytes          # a block's chunks read into bytes + their CRC32C, GIL released

sigv4_verify_fast = _native.sigv4_verify_fast  # the common SigV4 request, or None: see ext/sigv4.pyx
MD5 = _native.MD5                          # hashlib.md5's interface; concurrent streams share SIMD lanes
md5_lane_stats = _native.md5_lane_stats    # (mixer passes, lanes they filled)


def keep_buffers_mapped() -> bool:
    """Make glibc reuse freed block buffers (~1 MiB) instead of unmapping or trimming them,
    so a large GET or PUT stops faulting in fresh pages per block. Costs at most the trim
    threshold of idle heap per process. Called once per server worker."""
    return _native.tune_malloc(16 << 20, 128 << 20, 16 << 20)

ALIGNMENT = 4096


class RSCodec(_native.RSCodec):
    """RS(k, m) with a Cauchy matrix; see ext/rs.pyx for the in-place primitives
    `encode(data, parity)` and `reconstruct_into(shards, targets, outputs)`."""

    def encode_parity(self, data: Sequence) -> list[bytearray]:
        """Return m new parity buffers for the k equal-length `data` buffers."""
        size = len(memoryview(data[0]))
        parity = [bytearray(size) for _ in range(self.m)]
        self.encode(data, parity)
        return parity

    def reconstruct(self, shards: Sequence, targets: Sequence[int] | None = None) -> dict[int, bytearray]:
        """Rebuild the missing shards (or just `targets`); returns {index: bytes}."""
        if targets is None:
            targets = [i for i, s in enumerate(shards) if s is None]
        present = next((s for s in shards if s is not None), None)
        if present is None:
            raise NotEnoughShards(f"RS({self.k},{self.m}) got no shards at all")
        size = len(memoryview(present))
        outputs = [bytearray(size) for _ in targets]
        self.reconstruct_into(shards, list(targets), outputs)
        return dict(zip(targets, outputs))


class BufferPool:
    """Reusable aligned buffers of one size, so hot paths do not allocate per block.

    `get()` never blocks: it reuses a free buffer or allocates a new one; `put()` keeps at
    most `keep` free buffers. Callers bound memory by bounding work in flight.
    """

    def __init__(self, size: int, keep: int = 32, alignment: int = ALIGNMENT):
        if size <= 0:
            raise ValueError("buffer size must be > 0")
        self.size = size
        self.alignment = alignment
        self.keep = keep
        self._free: collections.deque = collections.deque()
        self._lock = threading.Lock()
        self.allocated = 0

    def get(self) -> AlignedBuffer:
        with self._lock:
            if self._free:
                return self._free.pop()
            self.allocated += 1
        return AlignedBuffer(self.size, self.alignment)

    def put(self, buf: AlignedBuffer) -> None:
        if len(buf) != self.size:
            raise ValueError(f"buffer of {len(buf)} bytes returned to a pool of {self.size}")
        with self._lock:
            if len(self._free) < self.keep:
                self._free.append(buf)
