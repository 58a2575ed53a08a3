"""`s3free admin ...`: inspect and maintain a node."""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict

from s3free.commands.common import add_layout_args, emit, layout_settings, run_on_layer


def register(sub) -> None:
    admin = sub.add_parser("admin", help="inspect and maintain a node")
    admin_sub = admin.add_subparsers(dest="admin_command", metavar="ADMIN_COMMAND")

    native = admin_sub.add_parser("native", help="show the native core's libraries and io engine")
    native.add_argument("--json", action="store_true", help="print one JSON object")
    native.add_argument("--engine", default=None, help="auto, io_uring or threadpool")
    native.set_defaults(func=_native)

    rebuild = admin_sub.add_parser("rebuild-index", help="recreate the index from the disks (server stopped)")
    add_layout_args(rebuild)
    rebuild.add_argument("--force", action="store_true", help="replace an existing index")
    rebuild.set_defaults(func=_rebuild)

    gc = admin_sub.add_parser("gc", help="remove unreferenced shard files, segments and stale uploads")
    add_layout_args(gc)
    gc.add_argument("--grace", type=float, default=3600.0, help="only touch files older than this (s)")
    gc.add_argument("--upload-max-age", type=float, default=7 * 86400.0,
                    help="abort multipart uploads older than this (s)")
    gc.set_defaults(func=_gc)

    compact = admin_sub.add_parser("compact", help="rewrite segments whose live ratio is low")
    add_layout_args(compact)
    compact.add_argument("--max-live-ratio", type=float, default=0.5,
                         help="compact segments with less live data than this ratio")
    compact.set_defaults(func=_compact)

    scrub = admin_sub.add_parser("scrub", help="verify every object and repair; show the last pass")
    add_layout_args(scrub)
    scrub.add_argument("--now", action="store_true", help="run a pass now and report what it found")
    scrub.add_argument("--bucket", help="only this bucket")
    scrub.add_argument("--timeout", type=float, default=3600.0, help="how long to wait for the pass (s)")
    scrub.set_defaults(func=_scrub)

    heal = admin_sub.add_parser("heal", help="the heal queue, repairs and disk refills")
    heal_sub = heal.add_subparsers(dest="heal_command", metavar="HEAL_COMMAND")
    status = heal_sub.add_parser("status", help="queue depth, rate, ETA, recent repairs, unrecoverable objects")
    add_layout_args(status)
    status.add_argument("--watch", action="store_true", help="refresh every 2 s until interrupted")
    status.set_defaults(func=_heal_status)
    heal.set_defaults(func=lambda args: heal.print_help() or 2)

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
    emit(args, "native core", info)
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    from s3free.objects.rebuild import IndexExists, rebuild_index
    from s3free.storage.disks import DiskSetupError
    settings = layout_settings(args)
    tty = sys.stderr.isatty() and not args.json

    def progress(done, total, seg):
        if tty:
            print(f"\r  scanning segments {done}/{total}", end="", file=sys.stderr, flush=True)
    try:
        stats = rebuild_index(settings.disk_paths(), settings.meta_path(), settings.k, settings.m,
                              force=args.force, progress=progress)
    except (IndexExists, DiskSetupError) as exc:
        print(f"s3free: {exc}", file=sys.stderr)
        return 1
    if tty:
        print(file=sys.stderr)
    emit(args, f"rebuilt the index in {settings.meta_path()}", asdict(stats))
    return 0


def _gc(args: argparse.Namespace) -> int:
    from s3free.objects.maintenance import gc
    stats = run_on_layer(layout_settings(args), lambda layer: gc(layer, args.grace, args.upload_max_age))
    emit(args, "garbage collection", asdict(stats))
    return 0


def _compact(args: argparse.Namespace) -> int:
    from s3free.objects.maintenance import compact
    stats = run_on_layer(layout_settings(args), lambda layer: compact(layer, args.max_live_ratio))
    result = asdict(stats)
    result["segments_compacted"] = len(result.pop("segments"))
    emit(args, "compaction", result)
    return 0


def _scrub(args: argparse.Namespace) -> int:
    from s3free.heal import service
    settings = layout_settings(args)
    if not args.now:
        from s3free.meta.index import Index
        index = Index(settings.meta_path())
        last = service.last_scrub(index) or {}
        index.close()
        emit(args, "last scrub pass", last or {"status": "no pass has finished yet"})
        return 0
    lock = service.NodeLock(settings.meta_path())
    if lock.try_acquire():          # no server is healing this node: do it here
        try:
            from s3free.heal.healer import Healer
            from s3free.heal.scrubber import Scrubber

            async def scrub(layer):
                healer = Healer(layer, rate=0, auto_replace=False)
                return await Scrubber(layer, healer, rate=0).run_pass(bucket=args.bucket, resume=False)
            stats = asdict(run_on_layer(settings, scrub))
        finally:
            lock.release()
    else:                           # a running server's healer does it; wait for its answer
        from s3free.meta.index import Index
        index = Index(settings.meta_path())
        rid = service.request_scrub(index, args.bucket)
        deadline = time.time() + args.timeout
        stats = None
        while time.time() < deadline:
            last = service.last_scrub(index) or {}
            if last.get("request") == rid:
                stats = last
                break
            time.sleep(0.5)
        index.close()
        if stats is None:
            print("s3free: the server did not finish the scrub in time", file=sys.stderr)
            return 1
    emit(args, "scrub pass", stats)
    return 1 if stats.get("unrecoverable") else 0


def heal_status(settings) -> dict:
    from s3free.heal.healer import STATS_KEY, queue_entries, refill_jobs
    from s3free.meta.index import Index
    index = Index(settings.meta_path())
    try:
        entries = queue_entries(index)
        jobs = refill_jobs(index)
        with index.read() as txn:
            stats = index.get(txn, "state", STATS_KEY) or {}
            objects = index.count_objects(txn)
    finally:
        index.close()
    pending = [(k.decode(), v) for k, v in entries if not v.get("unrecoverable")]
    rate = settings.heal_rate_mb
    refills = {}
    for slot, job in jobs.items():
        refills[f"slot {slot + 1}"] = {"phase": job["phase"], "parts_done": job["parts_done"],
                                       "segments_done": job["segments_done"], "objects_in_index": objects}
    return {
        "queue_depth": len(pending),
        "most_at_risk": [{"what": k, "damaged_shards": len(v.get("shards", {}))} for k, v in pending[:5]],
        "heal_rate_limit_mb_s": rate,
        "eta_seconds": round(len(pending) * 1.0 / max(rate, 1e-9), 1) if rate else 0.0,
        "shards_repaired": stats.get("shards_repaired", 0),
        "records_repaired": stats.get("records_repaired", 0),
        "bytes_written": stats.get("bytes_written", 0),
        "recent_repairs": [{"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)), "what": w, "detail": d}
                           for t, w, d in stats.get("recent", [])][-10:],
        "refills": refills,
        "unrecoverable": [{"what": k.decode(), "object": v.get("object", ""), "reason": v.get("reason", "")}
                          for k, v in entries if v.get("unrecoverable")],
    }


def _heal_status(args: argparse.Namespace) -> int:
    settings = layout_settings(args)
    while True:
        result = heal_status(settings)
        if args.watch and sys.stdout.isatty() and not args.json:
            print("\033[2J\033[H", end="")
        emit(args, "heal status", result)
        if not args.watch:
            return 1 if result["unrecoverable"] else 0
        try:
            time.sleep(2.0)
        except KeyboardInterrupt:
            return 0


