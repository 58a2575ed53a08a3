"""`s3free admin ...`: inspect and maintain a node."""
from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import asdict

from s3free.commands.common import add_layout_args, emit, layout_settings, run_on_layer
from s3free.commands.progress import Progress


def register(sub) -> None:
    admin = sub.add_parser("admin", help="inspect and maintain a node", description=(
        "Inspect and maintain a node. `info` asks a running server over HTTP; the others open the "
        "node's disks and index directly (same DISK/--ec/--meta-dir/--config as `s3free server`): "
        "rebuild-index needs the server stopped, scrub --now asks a running server to do the pass."))
    admin_sub = admin.add_subparsers(dest="admin_command", metavar="ADMIN_COMMAND")
    from s3free.commands import info
    info.register(admin_sub)

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
    status.add_argument("--watch", action="store_true",
                        help="refresh until interrupted: a screen with rate and ETA on a terminal, "
                             "one line per refresh otherwise (one JSON object per refresh with --json)")
    status.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes (default 2)")
    status.add_argument("--count", type=int, default=0, help="stop after this many refreshes (default: never)")
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
    bar = Progress("scanning segments", "segments")

    def progress(done, total, seg):
        bar.update(done, total, final=done == total)

    try:
        stats = rebuild_index(settings.disk_paths(), settings.meta_path(), settings.k, settings.m,
                              force=args.force, progress=progress)
    except (IndexExists, DiskSetupError) as exc:
        print(f"s3free: {exc}", file=sys.stderr)
        return 1
    if bar.tty and bar.drawn:
        print(file=sys.stderr)
    emit(args, f"rebuilt the index in {settings.meta_path()}", asdict(stats))
    return 0


def _gc(args: argparse.Namespace) -> int:
    from s3free.objects.maintenance import gc
    stats = run_on_layer(layout_settings(args), lambda layer: gc(layer, args.grace, args.upload_max_age))
    emit(args, "garbage collection", asdict(stats))
    return 0


def _compact(args: argparse.Namespace) -> int:
    from s3free.objects.maintenance import CompactStats, candidates, compact

    async def one_by_one(layer):      # one segment at a time, to show progress
        todo, total = candidates(layer, args.max_live_ratio), CompactStats()
        bar = Progress("compacting segments", "segments")
        for i, seg in enumerate(todo):
            bar.update(i, len(todo))
            got = await compact(layer, args.max_live_ratio, segments=[seg])
            for name in ("records_moved", "bytes_moved", "bytes_before"):
                setattr(total, name, getattr(total, name) + getattr(got, name))
            total.segments += got.segments
        bar.finish(len(todo), len(todo))
        return total

    result = asdict(run_on_layer(layout_settings(args), one_by_one))
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
                task = asyncio.ensure_future(Scrubber(layer, healer, rate=0).run_pass(bucket=args.bucket,
                                                                                       resume=False))
                bar = Progress("scrubbing objects", "objects")
                while not task.done():
                    bar.update(*scrub_progress(layer.index, args.bucket))
                    await asyncio.wait([task], timeout=0.5)
                stats = task.result()
                bar.finish(stats.objects_checked, None if args.bucket else stats.objects_checked)
                return stats
            stats = asdict(run_on_layer(settings, scrub))
        finally:
            lock.release()
    else:                           # a running server's healer does it; wait for its answer
        from s3free.meta.index import Index
        index = Index(settings.meta_path())
        rid = service.request_scrub(index, args.bucket)
        deadline = time.time() + args.timeout
        stats = None
        bar = Progress("scrubbing objects (by the server)", "objects")
        while time.time() < deadline:
            last = service.last_scrub(index) or {}
            if last.get("request") == rid:
                stats = last
                bar.finish(stats.get("objects_checked", 0), None if args.bucket else stats.get("objects_checked", 0))
                break
            bar.update(*scrub_progress(index, args.bucket))
            time.sleep(0.5)
        index.close()
        if stats is None:
            print("s3free: the server did not finish the scrub in time", file=sys.stderr)
            return 1
    emit(args, "scrub pass", stats)
    return 1 if stats.get("unrecoverable") else 0


def scrub_progress(index, bucket: str | None) -> tuple[int, int | None]:
    """(objects before the scrub cursor, objects in the index); a one-bucket pass keeps no
    cursor, so only the count it knows (0 of unknown)."""
    from s3free.heal.scrubber import CURSOR_KEY
    with index.read() as txn:
        cursor = index.get(txn, "state", CURSOR_KEY) or b""
        total = index.count_objects(txn)
        done = 0
        if cursor and not bucket:
            cur = txn.cursor(db=index.db["objects"])
            for key in cur.iternext(keys=True, values=False):
                if key > cursor:
                    break
                done += 1
    return done, (None if bucket else total)


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
        "eta_seconds": _eta(len(pending), stats.get("recent", [])),
        "shards_repaired": stats.get("shards_repaired", 0),
        "records_repaired": stats.get("records_repaired", 0),
        "bytes_written": stats.get("bytes_written", 0),
        "recent_repairs": [{"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)), "what": w, "detail": d}
                           for t, w, d in stats.get("recent", [])][-10:],
        "refills": refills,
        "unrecoverable": [{"what": k.decode(), "object": v.get("object", ""), "reason": v.get("reason", "")}
                          for k, v in entries if v.get("unrecoverable")],
    }


def _eta(depth: int, recent: list) -> float | None:
    """Seconds to drain `depth` entries at the rate of the recent repairs (None: unknown)."""
    if depth == 0:
        return 0.0
    times = [t for t, _, _ in recent]
    if len(times) < 2 or times[-1] <= times[0]:
        return None
    return round(depth * (times[-1] - times[0]) / (len(times) - 1), 1)


def _heal_status(args: argparse.Namespace) -> int:
    settings = layout_settings(args)
    if not args.watch:
        result = heal_status(settings)
        emit(args, "heal status", result)
        return 1 if result["unrecoverable"] else 0
    first = heal_status(settings)
    start_depth, start_repaired = first["queue_depth"], first["shards_repaired"]
    bar = Progress("healing", "shards", stream=sys.stdout)
    count = 0
    try:
        while args.count == 0 or count < args.count:
            result = first if count == 0 else heal_status(settings)
            count += 1
            repaired = result["shards_repaired"] - start_repaired
            if args.json:                 # one JSON object per refresh
                emit(args, "", result)
            elif bar.tty:
                print("\033[2J\033[H", end="")
                emit(args, "heal status", result)
                print(bar.line(repaired, repaired + result["queue_depth"]), flush=True)
            else:                         # one plain line per refresh
                print(f"heal: queue {result['queue_depth']} (was {start_depth}), "
                      f"{bar.line(repaired, repaired + result['queue_depth'])}, "
                      f"refills {len(result['refills'])}, unrecoverable {len(result['unrecoverable'])}",
                      flush=True)
            if args.count and count >= args.count:
                break
            time.sleep(args.interval)
    except KeyboardInterrupt:
        pass
    return 0


