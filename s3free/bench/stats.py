"""What a benchmark measured: per-operation counters, latencies and a per-second series.

Pure and small: `OpStats.record()` is the only thing on the hot path (a few appends);
everything else runs once at the end. Throughput is over the measured window (the first
request sent to the last response read), MB/s means MiB/s (2**20 bytes), as in perf/.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

MIB = 1 << 20


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks
    (numpy's default). Sorted input is not required. Empty input gives 0.0.

    >>> percentile([1, 2, 3, 4], 50)
    2.5
    >>> percentile([10, 20, 30], 90)
    28.0
    """
    if not values:
        return 0.0
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    data = sorted(values)
    pos = (len(data) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    frac = pos - lo
    return data[lo] + (data[hi] - data[lo]) * frac


def summary_ms(values: Sequence[float]) -> dict[str, float]:
    """mean/p50/p90/p99/max of durations in seconds, as milliseconds (3 decimals)."""
    if not values:
        return {"mean": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    data = sorted(values)
    out = {"mean": sum(data) / len(data)}
    for q in (50, 90, 99):
        out[f"p{q}"] = percentile(data, q)
    out["max"] = data[-1]
    return {k: round(v * 1000.0, 3) for k, v in out.items()}


class OpStats:
    """Counters for one operation type (put, get, stat, delete, list, multipart...)."""

    __slots__ = ("name", "ops", "errors", "bytes", "latencies", "ttfbs", "first", "last", "_sec_ops",
                 "_sec_bytes", "origin", "error_samples")

    def __init__(self, name: str, origin: float):
        self.name = name
        self.origin = origin            # the run's time zero (perf_counter), for the series
        self.ops = 0
        self.errors = 0
        self.bytes = 0
        self.latencies: list[float] = []
        self.ttfbs: list[float] = []
        self.first = math.inf           # start of the first request
        self.last = -math.inf           # end of the last response
        self._sec_ops: dict[int, int] = {}
        self._sec_bytes: dict[int, int] = {}
        self.error_samples: list[str] = []

    def record(self, start: float, end: float, nbytes: int, ttfb: float | None = None) -> None:
        self.ops += 1
        self.bytes += nbytes
        self.latencies.append(end - start)
        if ttfb is not None:
            self.ttfbs.append(ttfb)
        if start < self.first:
            self.first = start
        if end > self.last:
            self.last = end
        sec = int(end - self.origin)
        self._sec_ops[sec] = self._sec_ops.get(sec, 0) + 1
        self._sec_bytes[sec] = self._sec_bytes.get(sec, 0) + nbytes

    def error(self, start: float, end: float, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(message[:300])
        if start < self.first:
            self.first = start
        if end > self.last:
            self.last = end

    @property
    def seconds(self) -> float:
        return max(self.last - self.first, 0.0) if self.ops or self.errors else 0.0

    def per_second(self, until: int | None = None) -> list[dict]:
        """[{"t": second since the run began, "ops": n, "mbps": MiB/s}] with empty seconds filled."""
        if not self._sec_ops:
            return []
        last = max(self._sec_ops) if until is None else until
        return [{"t": s, "ops": self._sec_ops.get(s, 0), "mbps": round(self._sec_bytes.get(s, 0) / MIB, 3)}
                for s in range(min(self._sec_ops), last + 1)]

    def ops_in_second(self, sec: int) -> int:
        return self._sec_ops.get(sec, 0)

    def bytes_in_second(self, sec: int) -> int:
        return self._sec_bytes.get(sec, 0)

    def to_dict(self) -> dict:
        secs = self.seconds
        return {
            "ops": self.ops,
            "errors": self.errors,
            "bytes": self.bytes,
            "seconds": round(secs, 4),
            "ops_per_s": round(self.ops / secs, 3) if secs > 0 else 0.0,
            "mbps": round(self.bytes / MIB / secs, 3) if secs > 0 else 0.0,
            "latency_ms": summary_ms(self.latencies),
            "ttfb_ms": summary_ms(self.ttfbs),
            "series": self.per_second(),
            "error_samples": list(self.error_samples),
        }


def is_stable(rates: Sequence[float], samples: int = 7, pct: float = 7.5) -> bool:
    """True when the last `samples` per-second rates all lie within ±pct% of their mean
    (the spirit of warp's --autoterm: 7 samples within 7.5%)."""
    if len(rates) < samples:
        return False
    tail = rates[-samples:]
    mean = sum(tail) / samples
    if mean <= 0:
        return False
    return all(abs(r - mean) <= mean * pct / 100.0 for r in tail)


def parse_size(text: str) -> int:
    """'4KiB' -> 4096, '64MiB', '1MB' (10**6), '512' (bytes), '1.5GiB'."""
    units = {"": 1, "B": 1, "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40,
             "K": 1 << 10, "M": 1 << 20, "G": 1 << 30,
             "KB": 10 ** 3, "MB": 10 ** 6, "GB": 10 ** 9, "TB": 10 ** 12}
    s = text.strip().upper()
    i = len(s)
    while i and not (s[i - 1].isdigit() or s[i - 1] == "."):
        i -= 1
    number, unit = s[:i], s[i:].strip()
    if not number or unit not in units:
        raise ValueError(f"bad size {text!r} (examples: 4KiB, 64MiB, 1MB, 512)")
    value = float(number) * units[unit]
    if value < 0 or value != int(value):
        raise ValueError(f"bad size {text!r}")
    return int(value)


def parse_size_range(text: str) -> tuple[int, int]:
    """'4KiB' -> (4096, 4096); '1KiB-1MiB' -> (1024, 1048576) (random sizes in the range)."""
    lo, sep, hi = text.partition("-")
    a = parse_size(lo)
    b = parse_size(hi) if sep else a
    if b < a:
        raise ValueError(f"bad size range {text!r}: the upper bound is below the lower")
    return a, b


def human_size(n: int) -> str:
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div and n % div == 0:
            return f"{n // div}{unit}"
    return f"{n}B"
