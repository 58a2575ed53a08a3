"""Root credentials when none are configured: generated on first start, kept in the
metadata directory (mode 0600), and reused by every later start and by every worker."""
from __future__ import annotations

import json
import os
import secrets
import string

FILE_NAME = "root-credentials.json"


def path_for(meta_dir: str) -> str:
    return os.path.join(meta_dir, FILE_NAME)


def load(meta_dir: str) -> tuple[str, str] | None:
    try:
        with open(path_for(meta_dir)) as fh:
            data = json.load(fh)
        return data["access_key"], data["secret_key"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RuntimeError(f"cannot read {path_for(meta_dir)}: {exc}") from None


def generate(meta_dir: str) -> tuple[str, str]:
    """Create and store a new root key pair (fails if one exists: never overwrite)."""
    os.makedirs(meta_dir, exist_ok=True)
    access = "S3F" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(17))
    secret = secrets.token_urlsafe(30)
    fd = os.open(path_for(meta_dir), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"access_key": access, "secret_key": secret}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    return access, secret
