"""Progress for long commands: a redrawn line with rate and ETA on a terminal, plain
lines (at most one every `every` seconds, and the last) when output is a file or pipe."""
from __future__ import annotations

import sys
import time


def _eta(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    def __init__(self, what: str, unit: str = "", stream=None, every: float = 5.0):
        self.what, self.unit = what, unit
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every = every
        self.started = time.monotonic()
        self.last = 0.0
        self.drawn = False

    def line(self, done: float, total: float | None) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = done / elapsed
        unit = f" {self.unit}" if self.unit else ""
        if total:
            pct = min(100.0, 100.0 * done / total)
            eta = _eta((total - done) / rate) if rate > 0 and done < total else "0:00:00"
            width = 24
            bar = "#" * int(width * pct / 100) + "-" * (width - int(width * pct / 100))
            head = f"[{bar}] {pct:5.1f}% " if self.tty else f"{pct:.1f}% "
            return (f"{self.what}: {head}{done:g}/{total:g}{unit}  {rate:.1f}{unit}/s  ETA {eta}")
        return f"{self.what}: {done:g}{unit}  {rate:.1f}{unit}/s  {_eta(elapsed)} elapsed"

    def update(self, done: float, total: float | None = None, final: bool = False) -> None:
        now = time.monotonic()
        if self.tty:
            if final or now - self.last >= 0.1:
                print(f"\r\033[K{self.line(done, total)}", end="", file=self.stream, flush=True)
                self.drawn, self.last = True, now
        elif final or now - self.last >= self.every:
            print(self.line(done, total), file=self.stream, flush=True)
            self.last = now

    def finish(self, done: float, total: float | None = None) -> None:
        self.update(done, total, final=True)
        if self.tty and self.drawn:
            print(file=self.stream, flush=True)
