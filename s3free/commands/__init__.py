"""Subcommands of the `s3free` command, one module each (see s3free/cli.py)."""
