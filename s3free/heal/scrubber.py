"""The scrubber: reads every object version and segment record on a schedule, verifies
every chunk CRC, shard footer and Merkle root, and repairs what it finds.

It keeps its position in the index, so a restarted node resumes where it stopped, and it
is rate-limited (bytes read per second). It also restores manifests the index lost (an
object whose journal record is newer than anything the index knows of its key).
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, dataclass

from s3free.heal.healer import Healer, RateLimiter
from s3free.meta.index import unpack
from s3free.storage import beexl, records
from s3free.storage.geometry import Geometry
from s3free.storage.segments import Location, heal_key, refused_key, scan_any
from s3free.storage.shards import PartInfo, PartReader, Unrecoverable

log = logging.getLogger("s3free.scrub")

CURSOR_KEY = b"scrub-cursor"
RESULT_KEY = b"scrub-last"


@dataclass
class ScrubStats:
    objects_checked: int = 0
    bytes_read: int = 0
    shards_damaged: int = 0
    shards_repaired: int = 0
    records_repaired: int = 0
    unrecoverable: int = 0
    manifests_restored: int = 0
    segments_checked: int = 0
    started: float = 0.0
    finished: float = 0.0


class Scrubber:
    def __init__(self, layer, healer: Healer, rate: float = 64 << 20):
        self.layer = layer
        self.index = layer.index
        self.healer = healer
        self.limiter = RateLimiter(rate)

    async def check_part(self, part: PartInfo, root: bytes | None, stats: ScrubStats) -> list[int]:
        """Verify every chunk, the footers and the Merkle root; returns bad shards."""
        reader = PartReader(self.layer.disks, self.layer.engine, self.layer.codec, part)
        try:
            bad = dict(await reader.verify_all())
            g = Geometry(self.layer.k, part.chunk, part.size)
            stats.bytes_read += g.payload_len * (self.layer.k + self.layer.m)
            await self.limiter.spend(g.payload_len * (self.layer.k + self.layer.m))
            _, footer_off, _ = beexl.layout(part.header_len, g.payload_len, g.blocks)
            leaves = []
            for s in range(self.layer.k + self.layer.m):
                table = reader.tables.get(s, (0, b""))[1] if s not in bad else None
                if s in bad or reader.fds[s] is None:
                    leaves.append(None)
                    continue
                loop = asyncio.get_running_loop()
                buf = await loop.run_in_executor(None, _pread, reader.fds[s], beexl.FOOTER_LEN, footer_off)
                head = await loop.run_in_executor(None, _pread, reader.fds[s], part.header_len, 0)
                try:
                    header = beexl.parse_header(head)
                    if header.shard != s or header.data_id.hex != part.data_id or header.part_number != part.number:
                        raise beexl.FormatError("header names another shard")
                    footer = beexl.parse_footer(buf)
                    if footer.leaf != beexl.merkle_leaf(table) or footer.chunks != g.blocks:
                        raise beexl.FormatError("footer disagrees with the CRC table")
                    leaves.append(footer.leaf)
                except beexl.FormatError as exc:
                    bad[s] = str(exc)
                    leaves.append(None)
            if root is not None and None not in leaves and beexl.merkle_root(leaves) != root:
                log.error("Merkle root mismatch for %s part %d", part.data_id, part.number)
                bad.update({s: "Merkle root mismatch" for s in range(len(leaves))})
            return sorted(s for s in bad if self.layer.disks.disks[part.placement[s]].online)
        finally:
            reader.close()

    async def scrub_object(self, m: dict, stats: ScrubStats) -> None:
        stats.objects_checked += 1
        if "parts" not in m:
            loc = Location.from_list(m["loc"])
            got = await self.layer.log.read(loc, self.layer.disks.online())
            stats.bytes_read += loc.length * len(got)
            await self.limiter.spend(loc.length * len(got))
            bad = [d for d, r in got.items() if not isinstance(r, records.Record)]
            if bad:
                stats.shards_damaged += len(bad)
                try:
                    fixed, _ = await self.healer.heal_record(loc)
                    stats.records_repaired += len(fixed)
                except Unrecoverable:
                    stats.unrecoverable += 1
                    self._unrecoverable(m, heal_key(loc))
            return
        for item in m["parts"]:
            part = PartInfo.from_manifest(item)
            bad = await self.check_part(part, part.root, stats)
            if bad:
                stats.shards_damaged += len(bad)
                try:
                    fixed = await self.healer.heal_part(part.data_id, part.number, bad)
                    stats.shards_repaired += len(fixed)
                except Unrecoverable:
                    stats.unrecoverable += 1
                    self._unrecoverable(m, f"{part.data_id}.{part.number}")

    def _unrecoverable(self, m: dict, key: str) -> None:
        with self.index.write() as txn:
            self.index.put(txn, "heal", key.encode(), {"shards": {}, "since": time.time(), "unrecoverable": True,
                                                       "reason": "more damaged shards than parity",
                                                       "object": f"{m['b']}/{m['k']}"})

    async def scrub_segments(self, stats: ScrubStats) -> None:
        """Check every copy of the journal's metadata records, and restore lost manifests."""
        with self.index.read() as txn:
            segs = [k.decode() for k, _ in self.index.items(txn, "segments")]
        for seg in segs:
            found = await asyncio.get_running_loop().run_in_executor(None, lambda: list(scan_any(self.layer.disks, seg)))
            stats.segments_checked += 1
            for offset, rec, length in found:
                loc = Location(seg, offset, length)
                if rec.type != records.DATA:
                    got = await self.layer.log.read(loc, self.layer.disks.online())
                    stats.bytes_read += length * len(got)
                    if any(not isinstance(r, records.Record) for r in got.values()):
                        stats.records_repaired += len((await self.healer.heal_record(loc))[0])
                if rec.type in (records.DATA, records.OBJECT) and self._restore_if_lost(rec, loc):
                    stats.manifests_restored += 1

    def _restore_if_lost(self, rec: records.Record, loc: Location) -> bool:
        meta = rec.meta
        with self.index.write() as txn:
            if self.index.get_raw(txn, "state", refused_key(loc)) is not None:
                return False        # the client was told this write failed
            bucket = self.index.get_bucket(txn, meta["b"])
            if bucket is None or tuple(bucket.get("st", (0, 0))) > rec.stamp:
                return False
            cur = self.index.get_object(txn, meta["b"], meta["k"])
            tomb = self.index.get_tomb(txn, meta["b"], meta["k"])
            if cur is not None or (tomb is not None and tuple(tomb) > rec.stamp):
                return False
            if rec.type == records.OBJECT and not all(self._part_present(p) for p in meta.get("parts", [])):
                return False
            self.index.put_object(txn, meta["b"], meta["k"], dict(meta, loc=loc.to_list()))
            for p in meta.get("parts", []):
                self.index.put(txn, "data", p[1].encode(), {"b": meta["b"], "k": meta["k"], "v": meta["v"]})
        log.warning("restored the lost manifest of %s/%s from the journal", meta["b"], meta["k"])
        return True

    def _part_present(self, item) -> bool:
        part = PartInfo.from_manifest(item)
        from s3free.storage.shards import shard_path
        have = sum(shard_path(self.layer.disks, d, part.data_id, part.number).exists() for d in part.placement)
        return have >= self.layer.k

    async def run_pass(self, bucket: str | None = None, resume: bool = True) -> ScrubStats:
        """One pass over every object (or one bucket's) and, for full passes, every segment."""
        stats = ScrubStats(started=time.time())
        prefix = f"{bucket}\0".encode() if bucket else b""
        cursor = b""
        if resume and not bucket:
            with self.index.read() as txn:
                cursor = self.index.get(txn, "state", CURSOR_KEY) or b""
        while True:
            with self.index.read() as txn:
                cur = txn.cursor(db=self.index.db["objects"])
                batch = []
                if cur.set_range(max(cursor, prefix)):
                    for k, v in cur:
                        if k == cursor or not k.startswith(prefix):
                            if not k.startswith(prefix):
                                break
                            continue
                        batch.append((k, unpack(v)))
                        if len(batch) >= 64:
                            break
            for k, m in batch:
                await self.scrub_object(m, stats)
                cursor = k
            if not bucket:
                with self.index.write() as txn:
                    self.index.put(txn, "state", CURSOR_KEY, cursor)
            if len(batch) < 64:
                break
        if not bucket:
            await self.scrub_segments(stats)
            with self.index.write() as txn:
                self.index.put(txn, "state", CURSOR_KEY, b"")
        stats.finished = time.time()
        with self.index.write() as txn:
            self.index.put(txn, "state", RESULT_KEY, asdict(stats))
        return stats


def _pread(fd: int, n: int, off: int) -> bytes:
    import os
    return os.pread(fd, n, off)
