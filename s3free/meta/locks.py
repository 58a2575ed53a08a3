"""Advisory locks in the metadata directory: who leads the healing, and which journal
writers are alive. flock locks die with their process (kill -9 included), so a lock
that can be taken belongs to nobody."""
from __future__ import annotations

import fcntl
import os


class NodeLock:
    """A non-blocking exclusive flock on a file in the metadata directory."""

    def __init__(self, meta_dir: str, name: str = "healer.lock"):
        self.path = os.path.join(meta_dir, name)
        self.fh = None

    def try_acquire(self) -> bool:
        if self.fh is not None:
            return True
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        self.fh = fh
        return True

    def release(self, remove: bool = False) -> None:
        if self.fh is not None:
            if remove:
                try:
                    os.unlink(self.path)
                except OSError:
                    pass
            fcntl.flock(self.fh, fcntl.LOCK_UN)
            self.fh.close()
            self.fh = None


def is_held(meta_dir: str, name: str) -> bool:
    """Whether some live process holds the lock `name` (never blocks)."""
    try:
        fh = open(os.path.join(meta_dir, name), "r")
    except OSError:
        return False
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def writer_lock_name(writer: str) -> str:
    return os.path.join("writers", f"{writer}.lock")
