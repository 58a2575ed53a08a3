"""The heal worker: drains the heal queue by risk, refills replaced disks, watches disks.

Exactly one runs per node (whoever holds `<meta>/healer.lock`); every worker process still
watches its own view of the disks. Repairs are rate-limited (bytes written per second)
so client traffic keeps its latency.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, dataclass, field

from s3free.heal.repair import rebuild_segment, repair_record
from s3free.heal.spans import rebuild_part_shards, release_buffers
from s3free.meta.index import unpack
from s3free.storage.segments import Location, parse_heal_key, segment_path
from s3free.storage.shards import PartInfo, Unrecoverable, fsync_dirs

log = logging.getLogger("s3free.heal")

STATS_KEY = b"heal-stats"
REFILL_PARALLEL = 6        # parts rebuilt at once during a refill (keeps the disks busy)
REFILL_OBJECTS = 256       # objects per refill step (the cursor is saved after each step)
REFILL_STEP_BYTES = 1 << 30   # ... or fewer, once their parts hold this many bytes
REFILL_PREFIX = b"refill:"


@dataclass
class HealStats:
    shards_repaired: int = 0
    records_repaired: int = 0
    bytes_written: int = 0
    unrecoverable: int = 0
    recent: list = field(default_factory=list)      # [(time, what, detail)], newest last

    def note(self, what: str, detail: str) -> None:
        self.recent.append((time.time(), what, detail))
        del self.recent[:-20]


class RateLimiter:
    """Sleeps so that work averages at most `rate` bytes per second (0: unlimited)."""

    def __init__(self, rate: float):
        self.rate = rate
        self.start = time.monotonic()
        self.done = 0

    async def spend(self, nbytes: int) -> None:
        if self.rate <= 0:
            return
        self.done += nbytes
        ahead = self.done / self.rate - (time.monotonic() - self.start)
        if ahead > 0:
            await asyncio.sleep(ahead)
        if time.monotonic() - self.start > 10:      # forget old history: a rolling window
            self.start, self.done = time.monotonic(), 0


def start_refill(index, slot: int) -> None:
    """Queue a refill job for a disk slot (a replaced, empty disk)."""
    with index.write() as txn:
        index.put(txn, "state", REFILL_PREFIX + str(slot).encode(),
                  {"phase": "objects", "cursor": b"", "parts_done": 0, "segments_done": 0, "bytes": 0,
                   "started": time.time()})


def refill_jobs(index) -> dict[int, dict]:
    with index.read() as txn:
        return {int(k[len(REFILL_PREFIX):]): v for k, v in index.items(txn, "state", REFILL_PREFIX)}


def queue_entries(index) -> list[tuple[bytes, dict]]:
    """The heal queue, most at-risk first (most damaged shards), then oldest first."""
    with index.read() as txn:
        items = list(index.items(txn, "heal"))
    return sorted(items, key=lambda kv: (-len(kv[1].get("shards", {})), kv[1].get("since", 0)))


class Healer:
    def __init__(self, layer, rate: float = 256 << 20, auto_replace: bool = True, settings=None):
        self.layer = layer
        self.index = layer.index
        self.limiter = RateLimiter(rate)
        self.auto_replace = auto_replace
        self.settings = settings       # given (by a server worker): refills run in a child process
        self.stats = HealStats()
        self.refill_child: asyncio.Task | None = None   # the running refill process (child.py)
        self.child_ended = -1e9                          # when the last one ended (monotonic)
        self._load_stats()

    def _load_stats(self) -> None:
        with self.index.read() as txn:
            saved = self.index.get(txn, "state", STATS_KEY)
        if saved:
            self.stats = HealStats(**saved)

    def _save_stats(self) -> None:
        with self.index.write() as txn:
            self.index.put(txn, "state", STATS_KEY, asdict(self.stats))

    # -- disks ------------------------------------------------------------------------
    def check_disks(self) -> None:
        """Probe disks; format an empty replacement into its slot and start its refill."""
        disks = self.layer.disks
        disks.check(set(refill_jobs(self.index)))
        for disk in disks.disks:
            if disk.state == "unformatted" and self.auto_replace:
                self.replace_disk(disk.index)

    def replace_disk(self, slot: int) -> None:
        disks = self.layer.disks
        disks.format_replacement(slot)
        start_refill(self.index, slot)
        self.stats.note("replace", f"slot {slot + 1} ({disks.disks[slot].path}) formatted; refilling")
        self._save_stats()

    # -- queue ------------------------------------------------------------------------
    def _find_part(self, data_id: str, number: int) -> tuple[PartInfo | None, dict | None]:
        with self.index.read() as txn:
            ref = self.index.get(txn, "data", data_id.encode())
            if ref is None:
                return None, None
            if "u" in ref:
                for _, e in self.index.items(txn, "parts", bytes.fromhex(ref["u"])):
                    if e["p"][1] == data_id:
                        return PartInfo.from_manifest(e["p"]), None
                return None, None
            m = self.index.get_object(txn, ref["b"], ref["k"])
        if m is None:
            return None, None
        for item in m.get("parts", []):
            if item[1] == data_id and item[0] == number:
                return PartInfo.from_manifest(item), m
        return None, None

    async def heal_part(self, data_id: str, number: int, shards: list[int], dirs: set | None = None) -> list[int]:
        """Rebuild the given shards of a part; returns those rebuilt. With `dirs`, the
        caller syncs the changed directories (see `rebuild_part_shards`)."""
        part, manifest = self._find_part(data_id, number)
        if part is None:
            return shards            # deleted meanwhile: nothing left to heal
        online = [s for s in shards if self.layer.disks.disks[part.placement[s]].online]
        if not online:
            return []
        written = await rebuild_part_shards(self.layer, part, online, dirs=dirs, spend=self.limiter.spend)
        self.stats.shards_repaired += len(online)
        self.stats.bytes_written += written
        self.stats.note("part", f"{data_id}.{number} shards {online}")
        if manifest is not None and part.missing:
            if dirs:       # the manifest must not count a shard whose name is not durable yet
                await fsync_dirs(self.layer.engine, dirs)
            self._clear_missing(manifest, data_id, number, online)
        return online

    def _clear_missing(self, manifest: dict, data_id: str, number: int, healed: list[int]) -> None:
        with self.index.write() as txn:
            m = self.index.get_object(txn, manifest["b"], manifest["k"])
            if m is None:
                return
            for item in m.get("parts", []):
                if item[1] == data_id and item[0] == number:
                    item[7] = [s for s in item[7] if s not in healed]
            self.index.put_object(txn, manifest["b"], manifest["k"], m)

    async def heal_record(self, loc: Location) -> tuple[list[int], list[int]]:
        """Repair a journal record's copies: (disks repaired, disks still offline). The
        location comes from the index or the queue, never from a (maybe damaged) head."""
        if not any(segment_path(self.layer.disks, d, loc.segment).exists() for d in self.layer.disks.online()):
            return [], []            # the segment is gone (compacted): nothing to heal
        repaired, offline = await repair_record(self.layer, loc)
        segment, offset, length = loc.segment, loc.offset, loc.length
        self.stats.records_repaired += len(repaired)
        self.stats.bytes_written += length * len(repaired)
        await self.limiter.spend(length * len(repaired))
        if repaired:
            self.stats.note("record", f"{segment}@{offset} disks {repaired}")
        return repaired, offline

    async def drain(self, limit: int | None = None) -> int:
        """Heal queued entries, most at risk first; returns how many were settled."""
        settled = 0
        for key, entry in queue_entries(self.index):
            if limit is not None and settled >= limit:
                break
            if entry.get("unrecoverable"):
                continue
            name = key.decode()
            shards = sorted(int(s) for s in entry.get("shards", {}))
            try:
                if name.startswith("seg:"):
                    _, offline = await self.heal_record(parse_heal_key(name))
                    done = not offline
                else:
                    data_id, number = name.rsplit(".", 1)
                    healed = await self.heal_part(data_id, int(number), shards)
                    done = set(healed) >= set(shards)
            except Unrecoverable as exc:
                log.error("unrecoverable: %s: %s", name, exc)
                self.stats.unrecoverable += 1
                self.stats.note("unrecoverable", f"{name}: {exc}")
                with self.index.write() as txn:
                    self.index.put(txn, "heal", key, dict(entry, unrecoverable=True, reason=str(exc)))
                continue
            except OSError as exc:
                log.warning("heal of %s failed, will retry: %s", name, exc)
                continue
            if done:
                with self.index.write() as txn:
                    cur = self.index.get(txn, "heal", key)
                    if cur is not None and cur.get("since") == entry.get("since") and cur.get("shards") == entry.get("shards"):
                        self.index.delete(txn, "heal", key)
                settled += 1
        if settled:
            self._save_stats()
        return settled

    # -- refill -----------------------------------------------------------------------
    async def refill_step(self, slot: int, budget: int = REFILL_OBJECTS) -> bool:
        """Advance the refill of `slot` by up to `budget` objects (or REFILL_STEP_BYTES of
        parts) or segments; True when done. The directories it changed are synced before
        the cursor is saved: a crash repeats a step's work, it never skips any."""
        key = REFILL_PREFIX + str(slot).encode()
        with self.index.read() as txn:
            job = self.index.get(txn, "state", key)
        if job is None:
            return True
        dirs: set = set()
        if job["phase"] == "objects":
            batch, todo, more = self._refill_batch(slot, job["cursor"], budget)
            await self._refill_parts(slot, todo, dirs)
            job["parts_done"] += len(todo)
            if batch:
                job["cursor"] = batch[-1]
            if not more:
                await self._refill_uploads(slot, dirs)
                job["phase"] = "segments"
                job["cursor"] = b""
        elif job["phase"] == "segments":
            with self.index.read() as txn:
                segs = [(k.decode(), v) for k, v in self.index.items(txn, "segments")]
            todo = [s for s, info in segs if s > job["cursor"].decode()]
            for seg in todo[:budget]:
                written = await rebuild_segment(self.layer, seg, slot, dirs)
                await self.limiter.spend(written)
                self.stats.bytes_written += written
                job["segments_done"] += 1
                job["bytes"] += written
                job["cursor"] = seg.encode()
            if len(todo) <= budget:
                job["phase"] = "done"
        await fsync_dirs(self.layer.engine, dirs)
        with self.index.write() as txn:
            if job["phase"] == "done":
                self.index.delete(txn, "state", key)
            else:
                self.index.put(txn, "state", key, job)
        if job["phase"] == "done":
            release_buffers()
            self.layer.disks.disks[slot].state = "online"
            self.stats.note("refilled", f"slot {slot + 1}: {job['parts_done']} parts, {job['segments_done']} segments")
            self._save_stats()
            log.warning("disk slot %d refilled: %d parts, %d segments", slot + 1, job["parts_done"],
                        job["segments_done"])
            return True
        return False

    def _refill_batch(self, slot: int, cursor: bytes, budget: int) -> tuple[list[bytes], list[PartInfo], bool]:
        """The next objects after `cursor` (keys), their parts with a shard on `slot`, and
        whether objects remain after them."""
        keys: list[bytes] = []
        todo: list[PartInfo] = []
        size = 0
        with self.index.read() as txn:
            cur = txn.cursor(db=self.index.db["objects"])
            if not cur.set_range(cursor):
                return keys, todo, False
            for k, v in cur:
                if k == cursor:
                    continue
                if len(keys) >= budget or size >= REFILL_STEP_BYTES:
                    return keys, todo, True
                keys.append(k)
                for item in unpack(v).get("parts", []):
                    part = PartInfo.from_manifest(item)
                    if slot in part.placement:
                        todo.append(part)
                        size += part.size
        return keys, todo, False

    async def _refill_parts(self, slot: int, parts: list[PartInfo], dirs: set) -> None:
        """Rebuild `slot`'s shard of each part, REFILL_PARALLEL at a time, largest first
        (so the step does not end waiting on one big part alone). A part that cannot be
        rebuilt is marked unrecoverable in the heal queue; the refill goes on."""
        pending = iter(sorted(parts, key=lambda p: -p.size))

        async def worker() -> None:
            for part in pending:
                shard = part.placement.index(slot)
                try:
                    await self.heal_part(part.data_id, part.number, [shard], dirs)
                except Unrecoverable as exc:
                    log.error("refill: unrecoverable: %s.%d: %s", part.data_id, part.number, exc)
                    self.stats.unrecoverable += 1
                    self.stats.note("unrecoverable", f"{part.data_id}.{part.number}: {exc}")
                    with self.index.write() as txn:
                        self.index.put(txn, "heal", f"{part.data_id}.{part.number}".encode(),
                                       {"shards": {str(shard): "refill"}, "since": time.time(),
                                        "unrecoverable": True, "reason": str(exc)})
        await asyncio.gather(*(worker() for _ in range(REFILL_PARALLEL)))

    async def _refill_uploads(self, slot: int, dirs: set) -> None:
        with self.index.read() as txn:
            parts = [PartInfo.from_manifest(e["p"]) for _, e in self.index.items(txn, "parts")]
        await self._refill_parts(slot, [p for p in parts if slot in p.placement], dirs)

    async def refill_all(self) -> None:
        for slot in list(refill_jobs(self.index)):
            while not await self.refill_step(slot):
                pass

    # -- the background loop --------------------------------------------------------------
    async def run(self, interval: float = 5.0) -> None:
        wake = asyncio.Event()
        self.layer.on_damage = wake.set         # heal-on-read: start at once, not next tick
        try:
            await self._loop(wake, interval)
        finally:
            if self.refill_child is not None:
                self.refill_child.cancel()
                await asyncio.wait([self.refill_child])

    def _refill(self, wake: asyncio.Event) -> bool:
        """Run the refills: in a child process when this is a server worker (its client
        requests keep this process's GIL and cores), else here, step by step. True when
        they are a child's business (this loop then only waits); a child is not restarted
        within RETRY_AFTER of the last one's end."""
        from s3free.heal import child
        if self.refill_child is not None and self.refill_child.done():
            self.refill_child = None
            self.child_ended = time.monotonic()
            self._load_stats()              # the child saved its repairs
            self.check_disks()              # a finished refill's slot is online now
        if self.settings is None:
            return False
        if (self.refill_child is None and time.monotonic() - self.child_ended >= child.RETRY_AFTER
                and any(self.layer.disks.disks[s].online for s in refill_jobs(self.index))):
            self.refill_child = asyncio.get_running_loop().create_task(child.refill(self.settings))
            self.refill_child.add_done_callback(lambda _: wake.set())
        return True

    async def _loop(self, wake: asyncio.Event, interval: float) -> None:
        checked = drained = 0.0
        while True:
            in_child = False
            try:
                now = time.monotonic()
                if now - checked >= interval:        # probes: not between every refill step
                    self.check_disks()
                    checked = now
                jobs = refill_jobs(self.index)
                in_child = self._refill(wake)
                for slot in jobs if not in_child else ():
                    if self.layer.disks.disks[slot].online:
                        await self.refill_step(slot)
                # the queue is read and sorted whole: drain when woken or once per interval,
                # not after every refill step
                if wake.is_set() or not jobs or now - drained >= interval:
                    wake.clear()
                    await self.drain(limit=256)
                    drained = now
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("heal loop error")
            if refill_jobs(self.index) and not in_child:
                await asyncio.sleep(0)
                continue
            try:
                await asyncio.wait_for(wake.wait(), interval)
            except asyncio.TimeoutError:
                pass


