"""`s3free disk list|status|replace`: the node's disks, their health and usage, and
putting a new (empty) disk into a lost disk's slot."""
from __future__ import annotations

import argparse
import os
import shutil
import sys

from s3free.commands.common import add_layout_args, emit, layout_settings


def register(sub) -> None:
    disk = sub.add_parser("disk", help="list disks, show their state, replace a lost one")
    disk_sub = disk.add_subparsers(dest="disk_command", metavar="DISK_COMMAND")
    for name, helptext in (("list", "one line per disk: slot, state, path"),
                           ("status", "per-disk state, usage, shard files and segments")):
        p = disk_sub.add_parser(name, help=helptext)
        add_layout_args(p)
        p.set_defaults(func=_status, detailed=name == "status")
    rep = disk_sub.add_parser("replace", help="format an empty folder into a lost disk's slot and refill it")
    add_layout_args(rep)
    rep.add_argument("--slot", type=int, required=True, help="the slot (1-based) whose disk was lost")
    rep.set_defaults(func=_replace)
    disk.set_defaults(func=lambda args: disk.print_help() or 2)


def _open_set(settings):
    from s3free.storage.disks import DiskSet
    return DiskSet(settings.disk_paths(), settings.k, settings.m, create=False)


def _usage(path) -> dict:
    try:
        du = shutil.disk_usage(path)
    except OSError:
        return {}
    files = segs = 0
    for root, _dirs, names in os.walk(os.path.join(path, "objects")):
        files += len(names)
    try:
        segs = len(os.listdir(os.path.join(path, "segments")))
    except OSError:
        pass
    return {"total_bytes": du.total, "used_bytes": du.used, "free_bytes": du.free, "shard_files": files,
            "segments": segs}


def disk_report(settings, detailed: bool = True) -> list[dict]:
    from s3free.heal.healer import refill_jobs
    from s3free.meta.index import Index
    disks = _open_set(settings)
    index = Index(settings.meta_path())
    try:
        disks.check(set(refill_jobs(index)))
    finally:
        index.close()
    out = []
    for d in disks.disks:
        row = {"slot": d.index + 1, "path": str(d.path), "state": d.state, "reason": d.reason, "disk_id": d.disk_id}
        if detailed and d.path.is_dir():
            row.update(_usage(d.path))
        out.append(row)
    return out


def _status(args: argparse.Namespace) -> int:
    from s3free.storage.disks import DiskSetupError
    try:
        rows = disk_report(layout_settings(args), args.detailed)
    except DiskSetupError as exc:
        print(f"s3free: {exc}", file=sys.stderr)
        return 1
    if args.json:
        emit(args, "", {"disks": rows})
        return 0
    for r in rows:
        line = f"{r['slot']:>3}  {r['state']:<11} {r['path']}"
        if args.detailed and "used_bytes" in r:
            line += (f"  used {r['used_bytes'] / 2**30:.1f}/{r['total_bytes'] / 2**30:.1f} GiB"
                     f"  {r['shard_files']} shard files  {r['segments']} segments")
        if r["reason"]:
            line += f"  ({r['reason']})"
        print(line)
    return 0


def _replace(args: argparse.Namespace) -> int:
    from s3free.heal.healer import start_refill
    from s3free.meta.index import Index
    from s3free.storage.disks import DiskSetupError
    settings = layout_settings(args)
    slot = args.slot - 1
    try:
        disks = _open_set(settings)
        if not 0 <= slot < disks.n:
            raise DiskSetupError(f"slot {args.slot} does not exist (1..{disks.n})")
        path = disks.disks[slot].path
        path.mkdir(parents=True, exist_ok=True)
        disks.format_replacement(slot)
    except DiskSetupError as exc:
        print(f"s3free: {exc}", file=sys.stderr)
        return 1
    index = Index(settings.meta_path())
    try:
        start_refill(index, slot)
    finally:
        index.close()
    emit(args, f"disk {path} is now slot {args.slot}; the healer refills it "
               "(watch with `s3free admin heal status --watch`)", {"slot": args.slot, "path": str(path)})
    return 0
