"""`s3free admin ...`: inspect and maintain a node."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict


def _add_layout_args(p: argparse.ArgumentParser) -> None:
    """The same disk/layout/metadata arguments as `s3free server`."""
    p.add_argument("disks", nargs="*", metavar="DISK",
                   help="disk paths (MinIO-style ranges like /mnt/d{1...9}); default: ./s3free-data/disk1..9")
    p.add_argument("--ec", default="6+3", metavar="K+M", help="erasure layout (default 6+3)")
    p.add_argument("--meta-dir", default=None, help="index directory (default ./s3free-data/meta)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def register(sub) -> None:
    admin = sub.add_parser("admin", help="inspect and maintain a node")
    admin_sub = admin.add_subparsers(dest="admin_command", metavar="ADMIN_COMMAND")

    native = admin_sub.add_parser("native", help="show the native core's libraries and io engine")
    native.add_argument("--json", action="store_true", help="print one JSON object")
    native.add_argument("--engine", default=None, help="auto, io_uring or threadpool")
    native.set_defaults(func=_native)

    rebuild = admin_sub.add_parser("rebuild-index", help="recreate the index from the disks (server stopped)")
    _add_layout_args(rebuild)
    rebuild.add_argument("--force", action="store_true", help="replace an existing index")
    rebuild.set_defaults(func=_rebuild)

    gc = admin_sub.add_parser("gc", help="remove unreferenced shard files, segments and stale uploads")
    _add_layout_args(gc)
    gc.add_argument("--grace", type=float, default=3600.0, help="only touch files older than this (s)")
    gc.add_argument("--upload-max-age", type=float, default=7 * 86400.0,
                    help="abort multipart uploads older than this (s)")
    gc.set_defaults(func=_gc)

    compact = admin_sub.add_parser("compact", help="rewrite segments whose live ratio is low")
    _add_layout_args(compact)
    compact.add_argument("--max-live-ratio", type=float, default=0.5,
                         help="compact segments with less live data than this ratio")
    compact.set_defaults(func=_compact)

    admin.set_defaults(func=lambda args: admin.print_help() or 2)


def _layout(args) -> tuple[list[str], str, int, int]:
    from s3free import diskargs
    disks = diskargs.expand_all(args.disks) if args.disks else diskargs.default_disks()
    k, m = diskargs.parse_ec(args.ec)
    return disks, args.meta_dir or diskargs.default_meta_dir(), k, m


def _print(args, title: str, result: dict) -> None:
    if args.json:
        print(json.dumps(result))
        return
    print(title)
    for key, value in result.items():
        print(f"  {key}: {value}")


def _native(args: argparse.Namespace) -> int:
    """What the native core found: library paths and the io engine that would be used."""
    from s3free import __version__, native
    from s3free.ioengine import open_engine, uring_unavailable_reason
    engine = open_engine(args.engine)
    info = {"version": __version__, "io_engine": engine.name,
            "io_uring_unavailable_reason": uring_unavailable_reason(),
            "libraries": native.LIBRARY_PATHS}
    engine.close()
    _print(args, "native core", info)
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    from s3free.objects.rebuild import IndexExists, rebuild_index
    from s3free.storage.disks import DiskSetupError
    disks, meta, k, m = _layout(args)
    tty = sys.stderr.isatty() and not args.json

    def progress(done, total, seg):
        if tty:
            print(f"\r  scanning segments {done}/{total}", end="", file=sys.stderr, flush=True)
    try:
        stats = rebuild_index(disks, meta, k, m, force=args.force, progress=progress)
    except (IndexExists, DiskSetupError) as exc:
        print(f"s3free: {exc}", file=sys.stderr)
        return 1
    if tty:
        print(file=sys.stderr)
    _print(args, f"rebuilt the index in {meta}", asdict(stats))
    return 0


def _run_on_layer(args, coro_fn) -> dict:
    from s3free.objects.layer import EngineConfig, ObjectLayer
    disks, meta, k, m = _layout(args)

    async def main():
        layer = ObjectLayer.open(disks, meta, EngineConfig(k=k, m=m))
        try:
            return await coro_fn(layer)
        finally:
            await layer.close()
    return asyncio.run(main())


def _gc(args: argparse.Namespace) -> int:
    from s3free.objects.maintenance import gc
    stats = _run_on_layer(args, lambda layer: gc(layer, args.grace, args.upload_max_age))
    _print(args, "garbage collection", asdict(stats))
    return 0


def _compact(args: argparse.Namespace) -> int:
    from s3free.objects.maintenance import compact
    stats = _run_on_layer(args, lambda layer: compact(layer, args.max_live_ratio))
    result = asdict(stats)
    result["segments_compacted"] = len(result.pop("segments"))
    _print(args, "compaction", result)
    return 0
