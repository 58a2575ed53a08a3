"""The `s3free` command. Subcommands arrive with the parts they drive (server, disk,
admin, bench); each one is registered here only once it does real work."""
from __future__ import annotations

import argparse
import json
import sys

from s3free import __version__


def _cmd_native_info(args: argparse.Namespace) -> int:
    """What the native core found: library paths and the io engine that would be used."""
    from s3free import native
    from s3free.ioengine import open_engine, uring_unavailable_reason
    engine = open_engine(args.engine)
    info = {"version": __version__, "io_engine": engine.name,
            "io_uring_unavailable_reason": uring_unavailable_reason(),
            "libraries": native.LIBRARY_PATHS}
    engine.close()
    if args.json:
        print(json.dumps(info))
    else:
        for key, value in info.items():
            print(f"{key}: {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s3free", description="s3free: an S3-compatible object store that heals itself.")
    parser.add_argument("--version", action="version", version=f"s3free {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    admin = sub.add_parser("admin", help="inspect and maintain a node")
    admin_sub = admin.add_subparsers(dest="admin_command", metavar="ADMIN_COMMAND")
    native_info = admin_sub.add_parser("native", help="show the native core's libraries and io engine")
    native_info.add_argument("--json", action="store_true", help="print one JSON object")
    native_info.add_argument("--engine", default=None, help="auto, io_uring or threadpool")
    native_info.set_defaults(func=_cmd_native_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
