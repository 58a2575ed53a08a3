"""The `s3free` command. Each subcommand lives in s3free/commands/<name>.py and registers
itself here; a subcommand appears only once it does real work."""
from __future__ import annotations

import argparse
import importlib
import sys

from s3free import __version__

# modules under s3free.commands, each with register(subparsers)
COMMANDS = ("server", "admin", "disk", "bench")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s3free", description="s3free: an S3-compatible object store that heals itself.",
        epilog="Start with `s3free server` (it prints the endpoint and credentials); `s3free COMMAND --help` "
               "for each command. Settings: defaults < YAML file (--config, $S3FREE_CONFIG) < S3FREE_* "
               "environment < command-line flags (docs/configuration.md).")
    parser.add_argument("--version", action="version", version=f"s3free {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"s3free.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"s3free.commands.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    return func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
