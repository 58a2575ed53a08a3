"""Node settings: one plain dataclass, filled from defaults, a YAML file and `S3FREE_*` env vars.

Precedence (lowest first): defaults, the YAML file named by `S3FREE_CONFIG` (or passed in),
environment variables, then command-line flags (applied by each command with `apply`).
Unknown keys and bad values are refused with the key named, so a typo never silently runs
with a default. Nothing is read at import time: `load()` is called by `s3free server` (in
the parent) and by the ASGI app's lifespan (in each worker).

Reload: on SIGHUP Granian respawns its workers one by one. `s3free server` hands the workers
every setting as S3FREE_* variables and names in S3FREE_RELOAD the runtime-safe keys
(RELOADABLE) that came from the file; a starting worker re-reads just those from the file
(`reload_from_file`), so an edited log level or rate reaches every worker, while a changed
layout in the file waits for a restart, and a broken file keeps the values in force.
"""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DEFAULT_DATA_DIR = "s3free-data"


class ConfigError(ValueError):
    """A bad setting; the message names the key and says what is wrong, in one line."""


@dataclass
class Settings:
    disks: list[str] = field(default_factory=list)        # empty: <data_dir>/disk1..disk9
    data_dir: str = DEFAULT_DATA_DIR
    meta_dir: str = ""                                      # empty: <data_dir>/meta
    ec: str = "6+3"
    address: str = "127.0.0.1:9000"
    workers: int = 0                                        # 0: one per core
    root_user: str = ""
    root_password: str = ""
    users: dict[str, str] = field(default_factory=dict)    # access key -> secret
    domain: list[str] = field(default_factory=list)         # virtual-hosted style: <bucket>.<domain>
    region: str = "us-east-1"
    small_threshold: int = 128 * 1024
    tls_cert: str = ""
    tls_key: str = ""
    io_engine: str = ""
    log_level: str = "info"                 # debug | info (one JSON line per request) | warning | error
    metrics_token: str = ""                 # empty: /_s3free/metrics is anonymous; else a bearer token
    body_idle_timeout: float = 60.0         # seconds a request body may stall before RequestTimeout (0: never)
    # self-healing (docs/healing.md)
    scrub_interval: float = 86400.0      # seconds between scrub passes; 0 turns the scrubber off
    scrub_rate_mb: float = 64.0          # MB/s the scrubber may read (0: unlimited)
    heal_rate_mb: float = 256.0          # MB/s the healer may write (0: unlimited)
    auto_replace: bool = True            # format an empty folder found in a lost disk's slot, refill it
    disk_check_interval: float = 5.0     # seconds between disk probes in every worker

    @property
    def k(self) -> int:
        return _parse_ec(self.ec)[0]

    @property
    def m(self) -> int:
        return _parse_ec(self.ec)[1]

    @property
    def host(self) -> str:
        return split_address(self.address)[0]

    @property
    def port(self) -> int:
        return split_address(self.address)[1]

    def disk_paths(self) -> list[str]:
        if self.disks:
            return expand_disks(self.disks)
        return [str(Path(self.data_dir) / f"disk{i}") for i in range(1, 10)]

    def meta_path(self) -> str:
        return self.meta_dir or str(Path(self.data_dir) / "meta")

    def credentials(self) -> dict[str, str]:
        """access key -> secret, root first."""
        creds = {}
        if self.root_user:
            creds[self.root_user] = self.root_password
        for access, secret in self.users.items():
            creds.setdefault(access, secret)
        return creds


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
_INT_KEYS = {"workers", "small_threshold"}
_FLOAT_KEYS = {"scrub_interval", "scrub_rate_mb", "heal_rate_mb", "disk_check_interval", "body_idle_timeout"}
_BOOL_KEYS = {"auto_replace"}
RELOADABLE = ("log_level", "scrub_rate_mb", "heal_rate_mb", "scrub_interval")
RELOAD_ENV = "S3FREE_RELOAD"
_NOT_SETTINGS = {"S3FREE_CONFIG", RELOAD_ENV}
LOG_LEVELS = ("debug", "info", "warning", "error")
_LIST_KEYS = {"disks", "domain"}


def load(path: str | None = None, env: dict[str, str] | None = None) -> Settings:
    """Defaults ← YAML file (`path`, else $S3FREE_CONFIG) ← S3FREE_* environment."""
    env = dict(os.environ if env is None else env)
    settings = Settings()
    if not path and RELOAD_ENV in env:
        # a worker of `s3free server`: every setting is in the environment; the file is read
        # only for the runtime-safe keys (reload_from_file), so a broken edit cannot stop it
        env.pop("S3FREE_CONFIG", None)
    path = path or env.get("S3FREE_CONFIG")
    if path:
        apply(settings, _read_yaml(path), source=path)
    apply(settings, _from_env(env), source="environment")
    validate(settings)
    return settings


def reload_from_file(settings: Settings, env: dict[str, str] | None = None) -> list[str]:
    """In a starting worker: take the RELOADABLE keys named in $S3FREE_RELOAD from the file
    in $S3FREE_CONFIG. Returns the problems (each naming the key); on a problem the value
    given by `s3free server` stays."""
    env = dict(os.environ if env is None else env)
    keys = [k for k in env.get(RELOAD_ENV, "").split(",") if k in RELOADABLE]
    path = env.get("S3FREE_CONFIG")
    if not keys or not path:
        return []
    try:
        values = _read_yaml(path)
    except ConfigError as exc:
        return [str(exc)]
    problems = []
    for key in keys:
        if key not in values:
            continue
        trial = dataclasses.replace(settings)
        try:
            apply(trial, {key: values[key]}, source=path)
            validate(trial)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        setattr(settings, key, getattr(trial, key))
    return problems


def reload_env(s: Settings, file_keys: set[str], pinned: set[str]) -> dict[str, str]:
    """What `s3free server` adds for its workers: RELOADABLE keys the file set and neither the
    environment nor a flag overrode."""
    keys = [k for k in RELOADABLE if k in file_keys and k not in pinned]
    return {RELOAD_ENV: ",".join(keys)}


def file_keys(path: str | None) -> set[str]:
    """The setting names a YAML file sets (already validated by `load`)."""
    if not path:
        return set()
    return {str(k).replace("-", "_").lower() for k in _read_yaml(path)}


def apply(settings: Settings, values: dict, source: str) -> None:
    """Set each known key (converted and checked); refuse unknown ones."""
    for key, raw in values.items():
        name = str(key).replace("-", "_").lower()
        if name not in _FIELDS:
            raise ConfigError(f"{source}: unknown setting {key!r} (known: {', '.join(sorted(_FIELDS))})")
        setattr(settings, name, _convert(name, raw, source))


def validate(s: Settings) -> None:
    _parse_ec(s.ec)
    split_address(s.address)
    if s.workers < 0:
        raise ConfigError(f"workers: must be >= 0, got {s.workers}")
    if s.small_threshold < 0:
        raise ConfigError(f"small_threshold: must be >= 0, got {s.small_threshold}")
    if s.body_idle_timeout < 0:
        raise ConfigError(f"body_idle_timeout: must be >= 0, got {s.body_idle_timeout}")
    if bool(s.tls_cert) != bool(s.tls_key):
        raise ConfigError("tls_cert/tls_key: give both or neither")
    if bool(s.root_user) != bool(s.root_password):
        raise ConfigError("root_user/root_password: give both or neither")
    if s.root_user and len(s.root_password) < 8:
        raise ConfigError("root_password: must be at least 8 characters")
    if s.log_level.lower() not in LOG_LEVELS:
        raise ConfigError(f"log_level: must be one of {', '.join(LOG_LEVELS)}, got {s.log_level!r}")
    s.log_level = s.log_level.lower()
    if s.io_engine not in ("", "auto", "io_uring", "threadpool"):
        raise ConfigError(f"io_engine: must be auto, io_uring or threadpool, got {s.io_engine!r}")
    s.disk_paths()


def split_address(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"address: expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def _parse_ec(value: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*\+\s*(\d+)\s*", str(value))
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise ConfigError(f"ec: expected K+M with K, M >= 1 (e.g. 6+3), got {value!r}")
    return int(m.group(1)), int(m.group(2))


_RANGE = re.compile(r"\{(\d+)\.\.\.(\d+)\}")


def expand_disks(items: list[str]) -> list[str]:
    """MinIO-style ranges: '/mnt/d{1...4}' -> /mnt/d1 ... /mnt/d4 (several ranges multiply)."""
    out: list[str] = []
    for item in items:
        m = _RANGE.search(item)
        if not m:
            out.append(item)
            continue
        lo, hi = int(m.group(1)), int(m.group(2))
        if hi < lo:
            raise ConfigError(f"disks: empty range in {item!r}")
        width = len(m.group(1)) if m.group(1).startswith("0") else 0
        out += expand_disks([item[:m.start()] + str(i).zfill(width) + item[m.end():] for i in range(lo, hi + 1)])
    return out


def parse_users(value: str) -> dict[str, str]:
    """'ACCESS:SECRET[,ACCESS:SECRET...]' -> {access: secret}."""
    users = {}
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        access, sep, secret = item.partition(":")
        if not sep or not access or len(secret) < 8:
            raise ConfigError("S3FREE_USERS: expected ACCESS:SECRET pairs (secret of 8+ characters), "
                              f"got {access or item!r}")
        users[access] = secret
    return users


def _read_yaml(path: str) -> dict:
    try:
        with open(path) as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping of settings at the top level")
    return data


def _from_env(env: dict[str, str]) -> dict:
    out: dict = {}
    for name, value in env.items():
        if not name.startswith("S3FREE_") or name in _NOT_SETTINGS:
            continue
        key = name[len("S3FREE_"):].lower()
        if key == "users":
            out["users"] = parse_users(value)
        elif key in _LIST_KEYS:
            out[key] = _split_list(value)
        else:
            out[key] = value
    return out


def _split_list(value: str) -> list[str]:
    """Comma-separated (paths may contain spaces)."""
    return [item.strip() for item in value.split(",") if item.strip()]


def _convert(name: str, raw, source: str):
    where = f"{source}: {name}"
    if name in _INT_KEYS:
        if isinstance(raw, bool):
            raise ConfigError(f"{where}: expected an integer, got {raw!r}")
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected an integer, got {raw!r}") from None
    if name in _FLOAT_KEYS:
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {raw!r}") from None
        if isinstance(raw, bool) or value < 0:
            raise ConfigError(f"{where}: expected a number >= 0, got {raw!r}")
        return value
    if name in _BOOL_KEYS:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: expected true or false, got {raw!r}")
    if name in _LIST_KEYS:
        if isinstance(raw, str):
            return _split_list(raw)
        if isinstance(raw, list) and all(isinstance(x, (str, int)) for x in raw):
            return [str(x) for x in raw]
        raise ConfigError(f"{where}: expected a list of strings, got {raw!r}")
    if name == "users":
        if isinstance(raw, str):
            return parse_users(raw)
        if isinstance(raw, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
            for access, secret in raw.items():
                if len(secret) < 8:
                    raise ConfigError(f"{where}: the secret of {access!r} must be at least 8 characters")
            return dict(raw)
        raise ConfigError(f"{where}: expected a mapping of access key to secret, got {type(raw).__name__}")
    if isinstance(raw, (dict, list)):
        raise ConfigError(f"{where}: expected a single value, got {raw!r}")
    return str(raw)


def to_env(s: Settings) -> dict[str, str]:
    """The settings as S3FREE_* variables, so Granian's workers load exactly these."""
    env = {}
    for name in _FIELDS:
        value = getattr(s, name)
        if name == "users":
            value = ",".join(f"{a}:{b}" for a, b in value.items())
        elif name in _LIST_KEYS:
            value = ",".join(value)
        env[f"S3FREE_{name.upper()}"] = str(value)
    return env
