"""Arguments shared by the commands that work on a node's disks (server, admin, disk)."""
from __future__ import annotations

import argparse
import asyncio
import json

from s3free import config


def add_layout_args(p: argparse.ArgumentParser, json_flag: bool = True) -> None:
    """The disk/layout/metadata arguments of `s3free server`."""
    p.add_argument("disks", nargs="*", metavar="DISK",
                   help="disk paths (MinIO ranges like /mnt/d{1...9}); default: ./s3free-data/disk1..9")
    p.add_argument("--ec", help="erasure coding K+M (default 6+3)")
    p.add_argument("--meta-dir", help="metadata (LMDB) directory (default ./s3free-data/meta)")
    p.add_argument("--config", help="YAML config file (also $S3FREE_CONFIG)")
    if json_flag:
        p.add_argument("--json", action="store_true", help="print one JSON object")


def layout_settings(args: argparse.Namespace) -> config.Settings:
    settings = config.load(getattr(args, "config", None))
    overrides = {"disks": args.disks or None, "ec": args.ec, "meta_dir": args.meta_dir}
    config.apply(settings, {k: v for k, v in overrides.items() if v is not None}, source="command line")
    config.validate(settings)
    return settings


def open_layer(settings: config.Settings):
    from s3free.objects.layer import EngineConfig, ObjectLayer
    return ObjectLayer.open(settings.disk_paths(), settings.meta_path(), EngineConfig.from_settings(settings))


def run_on_layer(settings: config.Settings, coro_fn):
    """Open the node's object layer in this process, run `coro_fn(layer)`, close it."""
    async def main():
        layer = open_layer(settings)
        try:
            return await coro_fn(layer)
        finally:
            await layer.close()
    return asyncio.run(main())


def emit(args: argparse.Namespace, title: str, result: dict) -> None:
    if getattr(args, "json", False):
        print(json.dumps(result, default=str))
        return
    print(title)
    for key, value in result.items():
        print(f"  {key}: {value}")
