"""The node's ordered disk set: format files, identity checks and placement.

Each disk directory carries `.s3free/format.json` (deployment id, its own id, its slot,
the layout). Starting with disks in another order, from another deployment or with a
different layout is refused with a one-line reason; a missing or unreadable disk is
reported and the set runs degraded while at least k disks are online.
"""
from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import blake3

log = logging.getLogger("s3free.disks")

FORMAT_DIR = ".s3free"
FORMAT_FILE = "format.json"
FORMAT_NAME = "s3free-disk-v1"


class DiskSetupError(RuntimeError):
    """The disks cannot be used as given; the message says why, in one line."""


@dataclass
class Disk:
    index: int
    path: Path
    disk_id: str = ""
    state: str = "online"          # online | refilling | offline | unformatted
    reason: str = ""

    @property
    def online(self) -> bool:
        """Takes writes and reads (a refilling disk lacks what was written before it came)."""
        return self.state in ("online", "refilling")

    @property
    def refilling(self) -> bool:
        return self.state == "refilling"

    @property
    def objects(self) -> Path:
        return self.path / "objects"

    @property
    def segments(self) -> Path:
        return self.path / "segments"


def _read_format(path: Path) -> dict | None:
    fmt = path / FORMAT_DIR / FORMAT_FILE
    try:
        with open(fmt, "rb") as fh:
            data = json.loads(fh.read())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DiskSetupError(f"disk {path}: cannot read {fmt}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise DiskSetupError(f"disk {path}: {fmt} is not an s3free disk format file")
    return data


def _write_json_durably(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _check_writable(path: Path) -> None:
    probe = path / FORMAT_DIR / ".probe"
    try:
        with open(probe, "wb") as fh:
            fh.write(b"ok")
        os.unlink(probe)
    except OSError as exc:
        raise DiskSetupError(f"disk {path} is not writable: {exc.strerror}") from None


class DiskSet:
    """The ordered disks of one node with an RS(k, m) layout."""

    def __init__(self, paths: list[str | os.PathLike], k: int, m: int, create: bool = True):
        if k < 1 or m < 1:
            raise DiskSetupError(f"invalid erasure layout {k}+{m}: need k >= 1 and m >= 1")
        if len(paths) < k + m:
            raise DiskSetupError(f"{k}+{m} erasure coding needs at least {k + m} disks, got {len(paths)}")
        if len({os.path.realpath(p) for p in paths}) != len(paths):
            raise DiskSetupError("the same disk path is given twice")
        self.k, self.m = k, m
        self.disks = [Disk(i, Path(p)) for i, p in enumerate(paths)]
        self.deployment_id = ""
        self._open(create)

    @property
    def n(self) -> int:
        return len(self.disks)

    def _open(self, create: bool) -> None:
        formats: list[dict | None] = []
        for disk in self.disks:
            if not disk.path.is_dir():
                if create and not any(d.path.is_dir() and _read_format(d.path) for d in self.disks
                                      if d is not disk and d.path.is_dir()):
                    try:
                        disk.path.mkdir(parents=True, exist_ok=True)
                    except OSError as exc:
                        raise DiskSetupError(f"disk {disk.path} cannot be created: {exc.strerror}") from None
                else:
                    disk.state, disk.reason = "offline", "path missing"
                    formats.append(None)
                    continue
            formats.append(_read_format(disk.path))
        known = [f for f in formats if f]
        if not known:
            if not create:
                raise DiskSetupError("no formatted s3free disks found")
            self._format_new()
            return
        dep = known[0]["deployment_id"]
        for disk, fmt in zip(self.disks, formats):
            if fmt is None:
                continue
            if fmt["deployment_id"] != dep:
                raise DiskSetupError(f"disk {disk.path} belongs to another deployment "
                                     f"({fmt['deployment_id']}, expected {dep})")
            if (fmt["k"], fmt["m"]) != (self.k, self.m):
                raise DiskSetupError(f"disk {disk.path} was formatted for {fmt['k']}+{fmt['m']}, "
                                     f"not {self.k}+{self.m}")
            if fmt["disks"] != self.n:
                raise DiskSetupError(f"disk {disk.path} belongs to a set of {fmt['disks']} disks, "
                                     f"{self.n} given")
            if fmt["index"] != disk.index:
                raise DiskSetupError(f"disk {disk.path} is slot {fmt['index'] + 1} of the deployment "
                                     f"but was given as slot {disk.index + 1}: keep the original disk order")
        ids = known[0]["disk_ids"]
        self.deployment_id = dep
        for disk, fmt in zip(self.disks, formats):
            disk.disk_id = ids[disk.index]
            if fmt is None and disk.state != "offline":
                disk.state, disk.reason = "unformatted", "empty disk in a formatted set (replace it to refill)"
            elif fmt is not None:
                try:
                    _check_writable(disk.path)
                except DiskSetupError as exc:
                    disk.state, disk.reason = "offline", str(exc)
        online = sum(d.online for d in self.disks)
        if online < self.k:
            raise DiskSetupError(f"only {online} of {self.n} disks are usable; {self.k} are needed: "
                                 + "; ".join(f"{d.path}: {d.reason}" for d in self.disks if not d.online))
        for disk in self.disks:
            if not disk.online:
                log.warning("disk %s (slot %d) is %s: %s", disk.path, disk.index + 1, disk.state, disk.reason)
            else:
                self._ensure_dirs(disk)

    def _format_new(self) -> None:
        self.deployment_id = str(uuid.uuid4())
        ids = [str(uuid.uuid4()) for _ in self.disks]
        for disk in self.disks:
            if any(p.name != FORMAT_DIR for p in disk.path.iterdir()):
                raise DiskSetupError(f"disk {disk.path} is not empty and has no s3free format; "
                                     "refusing to take it over")
            (disk.path / FORMAT_DIR).mkdir(exist_ok=True)
            _check_writable(disk.path)
        for disk in self.disks:
            disk.disk_id = ids[disk.index]
            _write_json_durably(disk.path / FORMAT_DIR / FORMAT_FILE, {
                "format": FORMAT_NAME, "deployment_id": self.deployment_id, "disk_id": disk.disk_id,
                "index": disk.index, "disks": self.n, "k": self.k, "m": self.m, "disk_ids": ids})
            self._ensure_dirs(disk)
        log.info("formatted %d disks for %d+%d (deployment %s)", self.n, self.k, self.m, self.deployment_id)

    @staticmethod
    def _ensure_dirs(disk: Disk) -> None:
        for sub in (disk.objects, disk.segments):
            sub.mkdir(exist_ok=True)

    def online(self) -> list[int]:
        return [d.index for d in self.disks if d.online]

    def suspect(self, index: int) -> None:
        """An I/O error hit this disk: probe it now rather than at the next periodic check."""
        disk = self.disks[index]
        if disk.online:
            reason = self.probe(index)
            if reason is not None:
                self.mark_offline(index, reason)

    def probe(self, index: int) -> str | None:
        """None if the disk in this slot is ours, readable and writable; else why not."""
        disk = self.disks[index]
        try:
            fmt = _read_format(disk.path)
        except DiskSetupError as exc:
            return str(exc)
        if fmt is None:
            return "format file missing" if disk.path.is_dir() else "path missing"
        if fmt.get("deployment_id") != self.deployment_id or fmt.get("index") != index:
            return "a different disk is mounted in this slot"
        try:
            probe = disk.path / FORMAT_DIR / f".probe-{os.getpid()}"
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, b"ok")
                os.fsync(fd)
            finally:
                os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            return f"not writable: {exc.strerror}"
        return None

    def is_empty_replacement(self, index: int) -> bool:
        """An empty folder sits in a slot whose disk was lost: it can be formatted in."""
        path = self.disks[index].path
        try:
            return path.is_dir() and not any(p.name != FORMAT_DIR for p in path.iterdir()) \
                and _read_format(path) is None
        except (OSError, DiskSetupError):
            return False

    def check(self, refilling: set[int] = frozenset()) -> list[tuple[int, str, str]]:
        """Probe every disk and update its state; returns (slot, new state, reason) changes.
        Run periodically, and after I/O errors."""
        changes = []
        for disk in self.disks:
            reason = self.probe(disk.index)
            if reason is None:
                new = "refilling" if disk.index in refilling else "online"
            elif self.is_empty_replacement(disk.index):
                new = "unformatted"
            else:
                new = "offline"
            if new != disk.state:
                old = disk.state
                disk.state, disk.reason = new, reason or ""
                if new == "online" or new == "refilling":
                    self._ensure_dirs(disk)
                changes.append((disk.index, new, reason or ""))
                log.warning("disk %s (slot %d): %s -> %s%s", disk.path, disk.index + 1, old, new,
                            f" ({reason})" if reason else "")
        return changes

    def format_replacement(self, index: int) -> None:
        """Write this slot's format file (with its original disk id) into an empty folder."""
        disk = self.disks[index]
        if not self.is_empty_replacement(index):
            raise DiskSetupError(f"disk {disk.path} is not an empty folder; refusing to format it")
        ids = [d.disk_id for d in self.disks]
        (disk.path / FORMAT_DIR).mkdir(exist_ok=True)
        _write_json_durably(disk.path / FORMAT_DIR / FORMAT_FILE, {
            "format": FORMAT_NAME, "deployment_id": self.deployment_id, "disk_id": ids[index],
            "index": index, "disks": self.n, "k": self.k, "m": self.m, "disk_ids": ids})
        self._ensure_dirs(disk)
        disk.state, disk.reason = "refilling", ""
        log.warning("disk %s (slot %d) formatted as a replacement; refilling", disk.path, index + 1)

    def mark_offline(self, index: int, reason: str) -> None:
        disk = self.disks[index]
        if disk.online:
            log.warning("disk %s (slot %d) went offline: %s", disk.path, index + 1, reason)
        disk.state, disk.reason = "offline", reason

    def placement(self, data_id: str) -> list[int]:
        """The k+m disks (shard order) for a data id: rendezvous hashing, so a part's
        shards always land on k+m distinct disks and spread evenly."""
        scored = sorted(range(self.n), key=lambda i: blake3.blake3(f"{data_id}/{i}".encode()).digest()[:8])
        return scored[:self.k + self.m]
