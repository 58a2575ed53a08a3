"""`s3free admin ...`: inspect and maintain a node."""
from __future__ import annotations

import argparse
import json


def register(sub) -> None:
    admin = sub.add_parser("admin", help="inspect and maintain a node")
    admin_sub = admin.add_subparsers(dest="admin_command", metavar="ADMIN_COMMAND")
    native = admin_sub.add_parser("native", help="show the native core's libraries and io engine")
    native.add_argument("--json", action="store_true", help="print one JSON object")
    native.add_argument("--engine", default=None, help="auto, io_uring or threadpool")
    native.set_defaults(func=_native)
    admin.set_defaults(func=lambda args: admin.print_help() or 2)


def _native(args: argparse.Namespace) -> int:
    """What the native core found: library paths and the io engine that would be used."""
    from s3free import __version__, native
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
