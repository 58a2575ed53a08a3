"""The object layer: what the S3 API calls. Buckets, put/get/head/delete/copy/list.

A write becomes visible only at its index commit, which happens after its data (shard
files or a segment record) and its journal record are durable; a crash at any point
leaves the previous version intact. Reads verify every byte they return.
"""
from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import os
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass

from s3free import clock
from s3free.ioengine import IOEngine, open_engine
from s3free.meta import keys as K
from s3free.meta.index import Index, Listing, unpack
from s3free.native import MD5, BufferPool, RSCodec
from s3free.objects import errors as E
from s3free.objects.cache import DecodedRecords, SmallCache
from s3free.objects.types import BucketInfo, ObjectInfo, PutMeta
from s3free.storage import records
from s3free.storage.disks import DiskSet
from s3free.storage.geometry import chunk_size_for
from s3free.storage.segments import Commit, Location, SegmentLog, heal_key
from s3free.storage.shards import PartInfo, PartReader, PartWriter, Unrecoverable, WriteQuorumError, shard_path

log = logging.getLogger("s3free.objects")


@dataclass
class EngineConfig:
    k: int = 6
    m: int = 3
    small_threshold: int = 128 * 1024
    write_quorum: int | None = None          # shards per block; default k + 1 (k when m == 0)
    max_segment: int = 64 << 20
    min_part_size: int = 5 << 20
    max_object_size: int = 5 << 40
    io_engine: str | None = None
    small_cache: int = 32 << 20              # bytes of verified small objects kept per worker

    @classmethod
    def from_settings(cls, settings) -> "EngineConfig":
        """The engine part of the node's settings (s3free.config.Settings)."""
        return cls(k=settings.k, m=settings.m, small_threshold=settings.small_threshold,
                   io_engine=settings.io_engine or None)


def etag_hashers(hashers: list | None) -> tuple[MD5, list]:
    """The ETag's MD5 and every hasher the body must be fed. A caller that checks
    Content-MD5 passes its own MD5 among `hashers`: that one is the ETag's too, so the
    body is hashed once."""
    hs = list(hashers or [])
    md5 = next((h for h in hs if isinstance(h, MD5)), None)
    if md5 is None:
        md5 = MD5()       # concurrent uploads share its SIMD lanes (ext/md5lanes.h)
        hs.insert(0, md5)
    return md5, hs


def _etag_of(md5s: list[bytes]) -> str:
    return hashlib.md5(b"".join(md5s)).hexdigest() + f"-{len(md5s)}"


class ObjectLayer:
    """One node's objects on one disk set. Create with `open()` inside each worker."""

    def __init__(self, disks: DiskSet, index: Index, engine: IOEngine, config: EngineConfig):
        self.disks, self.index, self.engine, self.config = disks, index, engine, config
        self.k, self.m = config.k, config.m
        self.codec = RSCodec(self.k, self.m)
        self.small_codec = RSCodec(self.k, disks.n - self.k)
        self.chunk = chunk_size_for(self.k)
        self.pool = BufferPool(self.k * self.chunk, keep=8)
        self.parity_pool = BufferPool(self.m * self.chunk, keep=8) if self.m else None
        quorum = config.write_quorum or min(self.k + 1, self.k + self.m)
        self.quorum = quorum
        self.log = SegmentLog(disks, engine, index, self.k, max_segment=config.max_segment)
        self.small_cache = SmallCache(config.small_cache)
        self._decoded = DecodedRecords()
        self.damage_events = 0
        self.on_damage = None          # set by the healer: wake up, there is work

    @classmethod
    def open(cls, disk_paths: list[str], meta_dir: str, config: EngineConfig | None = None) -> "ObjectLayer":
        config = config or EngineConfig()
        os.makedirs(meta_dir, exist_ok=True)
        # Granian starts several workers at once: only one may format fresh disks.
        with open(os.path.join(meta_dir, "format.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            disks = DiskSet(disk_paths, config.k, config.m)
        index = Index(meta_dir)
        with index.write() as txn:
            layout = index.get(txn, "state", b"layout")
            want = {"deployment": disks.deployment_id, "k": config.k, "m": config.m, "disks": disks.n}
            if layout is None:
                index.put(txn, "state", b"layout", want)
            elif layout != want:
                raise E.ObjectError(f"the index at {meta_dir} belongs to another layout {layout}, not {want}; "
                                    "rebuild it with `s3free admin rebuild-index`")
        return cls(disks, index, open_engine(config.io_engine), config)

    async def close(self) -> None:
        await self.log.close()
        self.engine.close()
        self.index.close()

    # -- damage reporting (the healing issue drains this queue) --------------------------
    def report_damage(self, data_id: str, part: int, shard: int, reason: str) -> None:
        """Queue a damaged shard (of a part, or of a segment record: `data_id` from heal_key())
        for repair; the healer picks it up at once in this process, within seconds in others."""
        self.damage_events += 1
        log.warning("damaged shard %d of %s part %d: %s", shard, data_id, part, reason)
        try:
            with self.index.write() as txn:
                key = (data_id if data_id.startswith("seg:") else f"{data_id}.{part}").encode()
                entry = self.index.get(txn, "heal", key) or {"shards": {}, "since": time.time()}
                entry["shards"][str(shard)] = reason
                self.index.put(txn, "heal", key, entry)
        except Exception:  # reporting must never break a read
            log.exception("could not queue heal entry")
        if self.on_damage is not None:
            self.on_damage()

    # -- buckets ----------------------------------------------------------------------
    async def make_bucket(self, name: str, owner: str, location: str = "") -> BucketInfo:
        stamp = clock.stamp()
        info = {"owner": owner, "created": time.time(), "loc": location, "st": list(stamp)}

        def commit(txn, loc: Location, missing):
            old = self.index.get_bucket(txn, name)
            if old is not None:
                raise E.BucketExists(name, owned=old["owner"] == owner)
            self.index.put_bucket(txn, name, {**info, "rec": loc.to_list()})
            return Commit(BucketInfo(name, owner, info["created"], location))

        existing = self.bucket(name)
        if existing is not None:
            raise E.BucketExists(name, owned=existing.owner == owner)
        return await self.log.append(records.BUCKET, {"b": name, **info}, None, stamp, commit)

    def bucket(self, name: str) -> BucketInfo | None:
        with self.index.read() as txn:
            raw = self.index.get_raw(txn, "buckets", name.encode())
        return None if raw is None else self._decoded.get(name, raw, _bucket_info)

    def list_buckets(self, owner: str | None = None) -> list[BucketInfo]:
        with self.index.read() as txn:
            items = self.index.buckets(txn)
        infos = [_bucket_of(n, i) for n, i in items]
        return [b for b in infos if owner is None or b.owner == owner]

    async def delete_bucket(self, name: str) -> None:
        with self.index.read() as txn:
            if self.index.get_bucket(txn, name) is None:
                raise E.NoSuchBucket(name)
            if not self.index.bucket_is_empty(txn, name):
                raise E.BucketNotEmpty(name)
        from s3free.objects import multipart
        for upload in multipart.list_uploads(self, name).uploads:
            await multipart.abort(self, name, upload.key, upload.upload_id)
        stamp = clock.stamp()

        def commit(txn, loc, missing):
            old = self.index.get_bucket(txn, name)
            if old is None:
                raise E.NoSuchBucket(name)
            if not self.index.bucket_is_empty(txn, name):
                raise E.BucketNotEmpty(name)
            self.index.delete_bucket(txn, name)
            return Commit(None, live=True, dead=[Location.from_list(old["rec"])] if old.get("rec") else [])

        await self.log.append(records.BUCKET_DELETE, {"b": name, "st": list(stamp)}, None, stamp, commit)

    def _require_bucket(self, txn, bucket: str) -> dict:
        info = self.index.get_bucket(txn, bucket)
        if info is None:
            raise E.NoSuchBucket(bucket)
        return info

    # -- put --------------------------------------------------------------------------
    async def put_object(self, bucket: str, key: str, body: AsyncIterable[bytes], meta: PutMeta | None = None,
                         *, if_none_match: str | None = None, if_match: str | None = None,
                         hashers: list | None = None, verify: Callable[[], None] | None = None,
                         size_hint: int | None = None) -> ObjectInfo:
        """Store `body` (any size, unknown in advance) as bucket/key. `hashers` are extra
        hash objects (e.g. for x-amz-checksum-*) fed the same bytes, off the event loop (an
        MD5 among them is taken as the ETag's: see etag_hashers);
        `verify` is called once they have seen every byte, before the index commit (it may
        raise to refuse the body, and may still fill `meta`). `size_hint`, the size the
        client announced, lets the shard files be preallocated (a wrong one costs a
        truncate, nothing else)."""
        meta = meta or PutMeta()
        with self.index.read() as txn:
            self._require_bucket(txn, bucket)
            self._check_preconditions(self.index.get_object(txn, bucket, key), if_match, if_none_match)
        version = clock.uuid7()
        stamp = clock.stamp()
        md5, hs = etag_hashers(hashers)
        small = bytearray()
        it = aiter(body)
        async for piece in it:
            if len(small) + len(piece) < self.config.small_threshold:
                small += piece
                continue
            part = await self._write_part(bucket, key, version, stamp, meta, 1, _prepend(bytes(small) + piece, it), hs,
                                          verify=verify, size_hint=size_hint)
            manifest = self._manifest(bucket, key, version, stamp, meta, part.size, md5.hexdigest(), [part])
            return await self._commit_object(records.OBJECT, manifest, None, if_match, if_none_match)
        data = bytes(small)
        for h in hs:
            h.update(data)
        if verify is not None:
            verify()
        manifest = self._manifest(bucket, key, version, stamp, meta, len(data), md5.hexdigest(), [])
        return await self._commit_object(records.DATA, manifest, self._small_bodies(data), if_match, if_none_match)

    def _small_bodies(self, data: bytes) -> list[bytes]:
        """RS(k, n-k) shards of a small object: one body per disk."""
        k = self.k
        if not data:
            return [b""] * self.disks.n
        piece = -(-len(data) // k)
        shards = [data[i * piece:(i + 1) * piece].ljust(piece, b"\0") for i in range(k)]
        return shards + [bytes(p) for p in self.small_codec.encode_parity(shards)]

    @staticmethod
    def _check_preconditions(existing: dict | None, if_match: str | None, if_none_match: str | None) -> None:
        if if_none_match is not None and existing is not None and if_none_match.strip() == "*":
            raise E.PreconditionFailed("If-None-Match")
        if if_match is not None:
            if existing is None:
                raise E.NoSuchKey("If-Match on a missing key")
            if if_match.strip().strip('"') not in ("*", existing["etag"]):
                raise E.PreconditionFailed("If-Match")

    def _manifest(self, bucket, key, version, stamp, meta: PutMeta, size: int, etag: str,
                  parts: list[PartInfo], multipart: bool = False) -> dict:
        m = {"b": bucket, "k": key, "v": str(version), "st": list(stamp), "size": size, "etag": etag,
             "mt": time.time(), "ct": meta.content_type, "um": meta.user_meta, "h": meta.headers,
             "ck": meta.checksums}
        if parts:
            m["parts"] = [p.to_manifest() for p in parts]
        if multipart:
            m["mp"] = len(parts)
        return m

    async def _write_part(self, bucket, key, version, stamp, meta: PutMeta, number: int,
                          body: AsyncIterator[bytes], hashers: list, upload_id: str = "",
                          verify: Callable[[], None] | None = None, size_hint: int | None = None) -> PartInfo:
        """Stream one part into shard files; `verify` (if given) runs once the hashers saw
        every byte, and a refusal removes what was written."""
        part = await self._stream_part(bucket, key, version, stamp, meta, number, body, hashers, upload_id,
                                       size_hint)
        if verify is not None:
            try:
                verify()
            except BaseException:
                await self._remove_parts({"parts": [part.to_manifest()]})
                raise
        return part

    async def _stream_part(self, bucket, key, version, stamp, meta: PutMeta, number: int,
                           body: AsyncIterator[bytes], hashers: list, upload_id: str,
                           size_hint: int | None = None) -> PartInfo:
        header_meta = {"b": bucket, "k": key, "u": upload_id, "ct": meta.content_type, "um": meta.user_meta}
        writer = PartWriter(self.disks, self.engine, self.codec, self.chunk, self.pool, number, version,
                            stamp, header_meta, self.quorum, hashers=hashers,
                            size_hint=min(size_hint, self.config.max_object_size) if size_hint else None,
                            parity_pool=self.parity_pool)
        block_size = self.pool.size
        buf = self.pool.get()
        view = memoryview(buf)
        fill = 0
        total = 0
        try:
            async for piece in body:
                pv = memoryview(piece)
                total += len(pv)
                if total > self.config.max_object_size:
                    raise E.EntityTooLarge(f"{bucket}/{key}")
                while len(pv):
                    n = min(len(pv), block_size - fill)
                    view[fill:fill + n] = pv[:n]
                    fill += n
                    pv = pv[n:]
                    if fill == block_size:
                        full, buf = buf, None          # the writer owns it from here on
                        await writer.add_block(full, fill)
                        buf = self.pool.get()
                        view = memoryview(buf)
                        fill = 0
            last, buf = buf, None
            if fill:
                await writer.add_block(last, fill)
            else:
                self.pool.put(last)
            return await writer.finish({**header_meta, "size": total})
        except BaseException as exc:
            await writer.abort()
            if buf is not None:
                self.pool.put(buf)
            if isinstance(exc, WriteQuorumError):
                raise E.WriteQuorum(str(exc)) from None
            raise

    async def _commit_object(self, rtype: int, manifest: dict, bodies: list | None,
                             if_match: str | None, if_none_match: str | None) -> ObjectInfo:
        bucket, key = manifest["b"], manifest["k"]
        stamp = tuple(manifest["st"])
        garbage: list[dict] = []

        def commit(txn, loc: Location, missing: list[int]) -> Commit:
            self._require_bucket(txn, bucket)
            old = self.index.get_object(txn, bucket, key)
            self._check_preconditions(old, if_match, if_none_match)
            if old is not None and tuple(old["st"]) > stamp:   # a newer write already won
                garbage.append(manifest)
                return Commit(ObjectInfo.from_manifest(bucket, manifest), live=False, dead=[loc])
            entry = dict(manifest, loc=loc.to_list())
            if missing and rtype == records.DATA:
                entry["deg"] = missing
            self.index.put_object(txn, bucket, key, entry)
            self._queue_degraded(txn, manifest)
            for p in manifest.get("parts", []):
                self.index.put(txn, "data", p[1].encode(), {"b": bucket, "k": key, "v": manifest["v"]})
            dead = []
            if old is not None:
                dead.append(Location.from_list(old["loc"]))
                self._drop_data_refs(txn, old)
                garbage.append(old)
            return Commit(ObjectInfo.from_manifest(bucket, manifest), live=True, dead=dead)

        try:
            info = await self.log.append(rtype, manifest, bodies, stamp, commit)
        except WriteQuorumError as exc:
            await self._remove_parts(manifest)
            raise E.WriteQuorum(str(exc)) from None
        except BaseException:
            await self._remove_parts(manifest)
            raise
        for old in garbage:
            await self._remove_parts(old)
        return info

    def _queue_degraded(self, txn, manifest: dict) -> None:
        """Parts written on fewer than k+m shards are queued for healing at once (journal
        records that missed a disk are queued by the segment log itself)."""
        now = time.time()
        for item in manifest.get("parts", []):
            part = PartInfo.from_manifest(item)
            if part.missing:
                self.index.put(txn, "heal", f"{part.data_id}.{part.number}".encode(),
                               {"shards": {str(s): "not written" for s in part.missing}, "since": now})

    def _drop_data_refs(self, txn, manifest: dict) -> None:
        for p in manifest.get("parts", []):
            self.index.delete(txn, "data", p[1].encode())

    async def _remove_parts(self, manifest: dict) -> None:
        """Delete the shard files of a manifest no longer referenced (best effort; GC
        removes whatever this misses)."""
        parts = manifest.get("parts") or []
        if not parts:
            return

        def unlink_all():
            for item in parts:
                p = PartInfo.from_manifest(item)
                for disk in p.placement:
                    try:
                        os.unlink(shard_path(self.disks, disk, p.data_id, p.number))
                    except OSError:
                        pass

        await asyncio.get_running_loop().run_in_executor(None, unlink_all)

    # -- read -------------------------------------------------------------------------
    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        return ObjectInfo.from_manifest(bucket, self._manifest_of(bucket, key))

    def lookup(self, bucket: str, key: str) -> tuple[BucketInfo | None, ObjectInfo | None]:
        """The bucket and the key's current object, from one index snapshot (what a GET or
        HEAD needs before it answers: the owner check, then the object). Both are decoded
        once per record version and shared: read them, do not change them."""
        with self.index.read() as txn:
            b = self.index.get_raw(txn, "buckets", bucket.encode())
            m = self.index.get_raw(txn, "objects", K.object_key(bucket, key.encode())) if b is not None else None
        if b is None:
            return None, None
        return (self._decoded.get(bucket, b, _bucket_info),
                None if m is None else self._decoded.get(bucket, m, _object_info))

    def _manifest_of(self, bucket: str, key: str) -> dict:
        """The key's manifest. The bucket is looked up only when the key is absent (to
        tell NoSuchBucket from NoSuchKey): a bucket holding a key exists, since only an
        empty bucket can be deleted (checked in the same transaction as the delete)."""
        with self.index.read() as txn:
            m = self.index.get_object(txn, bucket, key)
            if m is None:
                self._require_bucket(txn, bucket)
        if m is None:
            raise E.NoSuchKey(f"{bucket}/{key}")
        return m

    async def get_object(self, bucket: str, key: str, first: int | None = None, last: int | None = None,
                         info: ObjectInfo | None = None) -> tuple[ObjectInfo, AsyncIterator[bytes]]:
        """The object's info and a stream of bytes [first, last] (inclusive; the whole
        object by default). The caller validates ranges against info.size first; `info`
        from head_object reads exactly that version (no second index lookup)."""
        if info is not None and info.manifest is not None:
            m = info.manifest
        else:
            m = self._manifest_of(bucket, key)
            info = ObjectInfo.from_manifest(bucket, m)
        first = 0 if first is None else first
        last = info.size - 1 if last is None else last
        if info.size == 0 or last < first:
            return info, _empty()
        if "parts" not in m:
            data = await self.read_small(m)
            return info, _prepend(data[first:last + 1], _empty())
        # read the first block before answering, so that an unreadable object is an error
        # response, not a response cut off after its headers
        stream = self._stream_parts(m, first, last)
        try:
            head = await anext(stream)
        except StopAsyncIteration:
            return info, _empty()
        return info, _prepend(head, stream)

    async def read_small(self, m: dict) -> bytes:
        cached = self.small_cache.get(tuple(m["loc"]))
        if cached is not None:
            return cached
        data = await self._read_small(m)
        self.small_cache.put(tuple(m["loc"]), data)
        return data

    async def _read_small(self, m: dict) -> bytes:
        loc = Location.from_list(m["loc"])
        k, n = self.k, self.disks.n
        good: dict[int, bytes] = {}
        for disks in (range(k), range(k, n)):        # the data shards; the parity ones if needed
            for d, got in (await self.log.read_bodies(loc, list(disks))).items():
                if not isinstance(got, Exception):
                    good[d] = got
                elif not self.disks.disks[d].refilling:      # a refill will bring the whole segment
                    self.report_damage(heal_key(loc), 0, d, str(got))
            if len(good) >= k:
                break
        if len(good) < k:
            raise E.DataUnavailable(f"{m['b']}/{m['k']}: only {len(good)} of {n} shards intact, {k} needed")
        missing = [i for i in range(k) if i not in good]
        if missing:
            rebuilt = self.small_codec.reconstruct([good.get(i) for i in range(n)], missing)
            good.update({i: bytes(b) for i, b in rebuilt.items()})
        return b"".join(good[i] for i in range(k))[:m["size"]]

    async def _stream_parts(self, m: dict, first: int, last: int) -> AsyncIterator[bytes]:
        base = 0
        for item in m["parts"]:
            part = PartInfo.from_manifest(item)
            lo, hi = base, base + part.size - 1
            base += part.size
            if hi < first or lo > last or part.size == 0:
                continue
            reader = PartReader(self.disks, self.engine, self.codec, part, self.report_damage)
            stream = reader.stream(max(first, lo) - lo, min(last, hi) - lo)
            try:
                async for data in stream:
                    yield data
            except Unrecoverable as exc:
                raise E.DataUnavailable(str(exc)) from None
            finally:
                await stream.aclose()      # its reads ahead end before the files close
                reader.close()

    # -- delete -----------------------------------------------------------------------
    async def delete_object(self, bucket: str, key: str) -> ObjectInfo | None:
        """Delete bucket/key; deleting a missing key succeeds (S3 semantics)."""
        with self.index.read() as txn:
            self._require_bucket(txn, bucket)
            if self.index.get_object(txn, bucket, key) is None:
                return None
        stamp = clock.stamp()
        removed: list[dict] = []

        def commit(txn, loc, missing):
            old = self.index.get_object(txn, bucket, key)
            if old is None or tuple(old["st"]) > stamp:
                return Commit(None, live=True)
            self.index.delete_object(txn, bucket, key)
            self.index.put_tomb(txn, bucket, key, stamp)
            self._drop_data_refs(txn, old)
            removed.append(old)
            return Commit(ObjectInfo.from_manifest(bucket, old), live=True,
                          dead=[Location.from_list(old["loc"])])

        info = await self.log.append(records.DELETE, {"b": bucket, "k": key, "st": list(stamp)}, None, stamp,
                                     commit)
        for old in removed:
            await self._remove_parts(old)
        return info

    # -- copy -------------------------------------------------------------------------
    async def copy_object(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str,
                          meta: PutMeta | None = None, *, first: int | None = None, last: int | None = None,
                          if_match: str | None = None, if_none_match: str | None = None) -> ObjectInfo:
        """Server-side copy, streamed (bounded memory). `meta` None keeps the source's
        metadata (COPY directive); a PutMeta replaces it (REPLACE). A large object copied
        onto itself (new metadata) is metadata-only: its parts stay where they are."""
        if (src_bucket, src_key) == (dst_bucket, dst_key) and first is None and last is None:
            current = self._manifest_of(src_bucket, src_key)
            if current.get("parts"):
                return await self._rewrite_metadata(current, meta, if_match, if_none_match)
        src, stream = await self.get_object(src_bucket, src_key, first, last)
        if meta is None:
            meta = PutMeta(src.content_type, dict(src.user_meta), dict(src.headers),
                           dict(src.checksums) if first is None else {})
        span = (src.size - 1 if last is None else last) - (first or 0) + 1
        return await self.put_object(dst_bucket, dst_key, stream, meta, if_match=if_match,
                                     if_none_match=if_none_match, size_hint=span)

    async def _rewrite_metadata(self, current: dict, meta: PutMeta | None, if_match, if_none_match) -> ObjectInfo:
        bucket, key = current["b"], current["k"]
        meta = meta or PutMeta(current.get("ct", ""), current.get("um", {}), current.get("h", {}), current.get("ck", {}))
        stamp = clock.stamp()
        manifest = {k: v for k, v in current.items() if k not in ("loc", "deg")}
        manifest.update(st=list(stamp), mt=time.time(), ct=meta.content_type, um=meta.user_meta, h=meta.headers,
                        ck=meta.checksums or current.get("ck", {}))

        def commit(txn, loc: Location, missing) -> Commit:
            old = self.index.get_object(txn, bucket, key)
            self._check_preconditions(old, if_match, if_none_match)
            if old is None or old.get("v") != current["v"] or tuple(old["st"]) > stamp:
                return Commit(None, live=False, dead=[loc])    # changed meanwhile: nothing to do
            self.index.put_object(txn, bucket, key, dict(manifest, loc=loc.to_list()))
            return Commit(ObjectInfo.from_manifest(bucket, manifest), live=True,
                          dead=[Location.from_list(old["loc"])])

        info = await self.log.append(records.OBJECT, manifest, None, stamp, commit)
        if info is None:
            raise E.PreconditionFailed(f"{bucket}/{key} changed during the copy")
        return info

    # -- list -------------------------------------------------------------------------
    def list_objects(self, bucket: str, prefix: str = "", delimiter: str = "", marker: str = "",
                     max_keys: int = 1000) -> tuple[list[ObjectInfo], list[str], bool, str]:
        """(objects, common prefixes, truncated, next marker) in S3 order."""
        with self.index.read() as txn:
            self._require_bucket(txn, bucket)
            page: Listing = self.index.list_objects(txn, bucket, prefix, delimiter, marker, max_keys)
        objs = [ObjectInfo.from_manifest(bucket, m) for _, m in page.objects]
        return objs, page.prefixes, page.truncated, page.next_marker


def _bucket_of(name: str, b: dict) -> BucketInfo:
    return BucketInfo(name, b["owner"], b["created"], b.get("loc", ""))


def _bucket_info(name: str, raw: bytes) -> BucketInfo:
    return _bucket_of(name, unpack(raw))


def _object_info(bucket: str, raw: bytes) -> ObjectInfo:
    return ObjectInfo.from_manifest(bucket, unpack(raw))


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        yield first
        async for piece in rest:
            yield piece
    finally:   # closing this closes `rest` now (reads ahead end, files close), not at GC
        closer = getattr(rest, "aclose", None)
        if closer is not None:
            await closer()
