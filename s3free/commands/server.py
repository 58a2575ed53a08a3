"""`s3free server`: check everything that can be checked up front, then become Granian.

The parent validates settings, formats or verifies the disks and the index (the same
`ObjectLayer.open` the workers run, so a bad disk fails here, once, with one line),
checks the port, settles credentials, and then *execs* `python -m granian --interface
asgi s3free.app:app` with the settings in S3FREE_* variables. Exec rather than a child
process or Granian's Python API: one process tree (signals and exit codes go straight to
Granian, no supervisor of our own), and the served app is exactly what
`granian --interface asgi s3free.app:app` serves, with the same configuration path.
"""
from __future__ import annotations

import argparse
import asyncio
import errno
import os
import socket
import sys

from s3free import config, credentials


def register(sub) -> None:
    p = sub.add_parser("server", help="serve the S3 API", description=(
        "Serve the S3 API with Granian. With no DISK, data goes to ./s3free-data/disk1..disk9 "
        "(metadata in ./s3free-data/meta) with 6+3 erasure coding on 127.0.0.1:9000."))
    p.add_argument("disks", nargs="*", metavar="DISK", help="disk paths; MinIO ranges like /mnt/d{1...9} work")
    p.add_argument("--address", help="HOST:PORT to listen on (default 127.0.0.1:9000)")
    p.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    p.add_argument("--ec", help="erasure coding K+M (default 6+3)")
    p.add_argument("--meta-dir", help="metadata (LMDB) directory")
    p.add_argument("--config", help="YAML config file (also $S3FREE_CONFIG)")
    p.add_argument("--tls-cert", help="TLS certificate (PEM)")
    p.add_argument("--tls-key", help="TLS private key (PEM, PKCS#8)")
    p.add_argument("--log-level", help="debug, info (one JSON line per request; default), warning or error")
    p.set_defaults(func=run)


def fail(message: str) -> int:
    print(f"s3free server: {message}", file=sys.stderr)
    return 1


def settings_from(args: argparse.Namespace) -> config.Settings:
    settings = config.load(args.config)
    overrides = {"disks": args.disks or None, "address": args.address, "workers": args.workers,
                 "ec": args.ec, "meta_dir": args.meta_dir, "tls_cert": args.tls_cert, "tls_key": args.tls_key,
                 "log_level": args.log_level}
    config.apply(settings, {k: v for k, v in overrides.items() if v is not None}, source="command line")
    config.validate(settings)
    if settings.disks:
        settings.disks = config.expand_disks(settings.disks)
    if not settings.workers:
        settings.workers = os.cpu_count() or 1
    for name in ("tls_cert", "tls_key"):
        path = getattr(settings, name)
        if path and not os.access(path, os.R_OK):
            raise config.ConfigError(f"{name}: cannot read {path}")
    return settings


def worker_env(args: argparse.Namespace, settings: config.Settings) -> dict[str, str]:
    """The workers' environment: every setting as S3FREE_*, the config file to re-read on
    SIGHUP with the keys it may change (config.reload_env), and the metrics directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("S3FREE_")}
    env.update(config.to_env(settings))
    path = args.config or os.environ.get("S3FREE_CONFIG")
    if path:
        env["S3FREE_CONFIG"] = os.path.abspath(path)
    pinned = {k for k in config.RELOADABLE
              if f"S3FREE_{k.upper()}" in os.environ or getattr(args, k, None) is not None}
    env.update(config.reload_env(settings, config.file_keys(path), pinned))
    from s3free.obs import metrics
    directory = metrics.metrics_dir(os.path.abspath(settings.meta_path()))
    metrics.prepare_dir(directory, clean=True)
    env[metrics.ENV] = directory
    return env


def check_disks(settings: config.Settings) -> None:
    """Format fresh disks or verify known ones (raises with a one-line reason)."""
    from s3free.objects.layer import EngineConfig, ObjectLayer

    layer = ObjectLayer.open(settings.disk_paths(), settings.meta_path(), EngineConfig.from_settings(settings))
    asyncio.run(layer.close())


def check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen(1)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise OSError(f"address {host}:{port} is already in use") from None
            raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def settle_credentials(settings: config.Settings) -> None:
    """Use configured root credentials, else the stored pair, else generate and announce one."""
    if settings.root_user:
        return
    found = credentials.load(settings.meta_path())
    if found is None:
        found = credentials.generate(settings.meta_path())
        scheme = "https" if settings.tls_cert else "http"
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
        endpoint = f"{scheme}://{host}:{settings.port}"
        print("\n".join([
            "",
            "s3free: generated root credentials (shown once; stored in "
            f"{credentials.path_for(settings.meta_path())}, mode 0600)",
            f"  endpoint:   {endpoint}",
            f"  access key: {found[0]}",
            f"  secret key: {found[1]}",
            "  try:",
            f"    AWS_ACCESS_KEY_ID={found[0]} AWS_SECRET_ACCESS_KEY={found[1]} \\",
            f"      aws --endpoint-url {endpoint} s3 mb s3://my-bucket",
            "",
        ]), flush=True)
    settings.root_user, settings.root_password = found


def granian_command(settings: config.Settings) -> list[str]:
    cmd = [sys.executable, "-m", "granian", "--interface", "asgi", "--host", settings.host,
           "--port", str(settings.port), "--workers", str(settings.workers), "--no-ws",
           "--respawn-failed-workers", "--log-level", settings.log_level]
    if settings.tls_cert:
        cmd += ["--ssl-certificate", settings.tls_cert, "--ssl-keyfile", settings.tls_key]
    return cmd + ["s3free.app:app"]


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from(args)
    except config.ConfigError as exc:
        return fail(f"bad configuration: {exc}")
    try:
        check_disks(settings)
    except Exception as exc:  # DiskSetupError, a foreign index, permissions: one line each
        return fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    try:
        check_port(settings.host, settings.port)
    except OSError as exc:
        return fail(str(exc))
    generated = not settings.root_user
    try:
        settle_credentials(settings)
    except (OSError, RuntimeError) as exc:
        return fail(f"credentials: {exc}")
    env = worker_env(args, settings)
    if generated:
        # generated credentials: workers read them from the metadata dir, not the environment
        env["S3FREE_ROOT_USER"], env["S3FREE_ROOT_PASSWORD"] = "", ""
    # Workers resolve relative paths against the same directory as this process.
    cmd = granian_command(settings)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, cmd, env)
    return 0  # not reached
