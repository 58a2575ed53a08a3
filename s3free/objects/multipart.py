"""Multipart uploads on the object layer. Parts are written once, as shard files, and
CompleteMultipartUpload is metadata-only: the parts become the object's parts."""
from __future__ import annotations

import hashlib
import struct
import time
import uuid
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass, field

from s3free import clock
from s3free.objects import errors as E
from s3free.objects.layer import etag_hashers
from s3free.objects.types import ObjectInfo, PartEntry, PutMeta, UploadInfo
from s3free.storage import records
from s3free.storage.shards import PartInfo

MAX_PARTS = 10000


def _part_key(upload_id: str, number: int) -> bytes:
    return bytes.fromhex(upload_id) + struct.pack(">I", number)


def _upload(layer, txn, bucket: str, key: str, upload_id: str) -> dict:
    try:
        raw_id = bytes.fromhex(upload_id)
    except ValueError:
        raise E.NoSuchUpload(upload_id) from None
    info = layer.index.get(txn, "uploads", raw_id) if len(raw_id) == 16 else None
    if info is None or info["b"] != bucket or info["k"] != key:
        raise E.NoSuchUpload(upload_id)
    return info


async def create(layer, bucket: str, key: str, meta: PutMeta | None = None, owner: str = "") -> str:
    meta = meta or PutMeta()
    upload_id = uuid.uuid4().hex
    with layer.index.write() as txn:
        layer._require_bucket(txn, bucket)
        layer.index.put(txn, "uploads", bytes.fromhex(upload_id), {
            "b": bucket, "k": key, "t": time.time(), "o": owner, "v": str(clock.uuid7()),
            "ct": meta.content_type, "um": meta.user_meta, "h": meta.headers, "ck": meta.checksums})
    return upload_id


async def upload_part(layer, bucket: str, key: str, upload_id: str, number: int,
                      body: AsyncIterable[bytes], hashers: list | None = None,
                      verify: Callable[[], None] | None = None, size_hint: int | None = None) -> PartEntry:
    """Store one part; `hashers`, `verify` and `size_hint` as in ObjectLayer.put_object."""
    if not 1 <= number <= MAX_PARTS:
        raise E.InvalidPart(f"part number {number} outside 1..{MAX_PARTS}")
    with layer.index.read() as txn:
        up = _upload(layer, txn, bucket, key, upload_id)
    md5, hs = etag_hashers(hashers)
    stamp = clock.stamp()
    part = await layer._write_part(bucket, key, uuid.UUID(up["v"]), stamp, PutMeta(up["ct"], up["um"]), number,
                                   aiter(body), hs, upload_id=upload_id, verify=verify,
                                   size_hint=size_hint)
    entry = {"n": number, "etag": md5.hexdigest(), "md5": md5.digest(), "size": part.size, "t": time.time(),
             "p": part.to_manifest()}
    old = None
    try:
        with layer.index.write() as txn:
            _upload(layer, txn, bucket, key, upload_id)
            old = layer.index.get(txn, "parts", _part_key(upload_id, number))
            layer.index.put(txn, "parts", _part_key(upload_id, number), entry)
            layer.index.put(txn, "data", part.data_id.encode(), {"u": upload_id})
            if old is not None:
                layer.index.delete(txn, "data", old["p"][1].encode())
    except BaseException:
        await layer._remove_parts({"parts": [entry["p"]]})
        raise
    if old is not None:
        await layer._remove_parts({"parts": [old["p"]]})
    return PartEntry(number, entry["etag"], part.size, entry["t"])


def part_info(layer, bucket: str, key: str, upload_id: str, number: int) -> dict:
    with layer.index.read() as txn:
        _upload(layer, txn, bucket, key, upload_id)
        entry = layer.index.get(txn, "parts", _part_key(upload_id, number))
    if entry is None:
        raise E.InvalidPart(f"part {number}")
    return entry


@dataclass
class PartsPage:
    parts: list[PartEntry] = field(default_factory=list)
    truncated: bool = False
    next_marker: int = 0
    upload: UploadInfo | None = None


def list_parts(layer, bucket: str, key: str, upload_id: str, marker: int = 0, max_parts: int = 1000) -> PartsPage:
    page = PartsPage()
    with layer.index.read() as txn:
        up = _upload(layer, txn, bucket, key, upload_id)
        page.upload = UploadInfo(upload_id, bucket, key, up["t"], up.get("o", ""),
                                 PutMeta(up["ct"], up["um"], up["h"], up.get("ck", {})))
        for _, entry in layer.index.items(txn, "parts", bytes.fromhex(upload_id)):
            if entry["n"] <= marker:
                continue
            if len(page.parts) >= max_parts:
                page.truncated = True
                break
            page.parts.append(PartEntry(entry["n"], entry["etag"], entry["size"], entry["t"]))
            page.next_marker = entry["n"]
    return page


@dataclass
class UploadsPage:
    uploads: list[UploadInfo] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    next_key_marker: str = ""
    next_upload_id_marker: str = ""


def list_uploads(layer, bucket: str, prefix: str = "", delimiter: str = "", key_marker: str = "",
                 upload_id_marker: str = "", max_uploads: int = 1000) -> UploadsPage:
    """In-progress uploads of a bucket, sorted by key then initiation time."""
    with layer.index.read() as txn:
        layer._require_bucket(txn, bucket)
        found = [(v["k"], v["t"], k.hex(), v) for k, v in layer.index.items(txn, "uploads") if v["b"] == bucket
                 and v["k"].startswith(prefix)]
    found.sort()
    page = UploadsPage()
    seen_prefixes: set[str] = set()
    for key, t, uid, v in found:
        if key_marker and (key < key_marker or (key == key_marker and (not upload_id_marker or uid <= upload_id_marker))):
            continue
        if delimiter:
            i = key.find(delimiter, len(prefix))
            if i >= 0:
                cp = key[:i + len(delimiter)]
                if cp not in seen_prefixes:
                    if len(page.uploads) + len(page.prefixes) >= max_uploads:
                        page.truncated = True
                        break
                    seen_prefixes.add(cp)
                    page.prefixes.append(cp)
                continue
        if len(page.uploads) + len(page.prefixes) >= max_uploads:
            page.truncated = True
            break
        page.uploads.append(UploadInfo(uid, bucket, key, t, v.get("o", ""), PutMeta(v["ct"], v["um"], v["h"])))
        page.next_key_marker, page.next_upload_id_marker = key, uid
    return page


async def complete(layer, bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]],
                   *, if_match: str | None = None, if_none_match: str | None = None) -> ObjectInfo:
    """Make the listed parts the object (validating order, ETags and sizes)."""
    if not parts:
        raise E.InvalidPart("no parts given")
    numbers = [n for n, _ in parts]
    if numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
        raise E.InvalidPartOrder("parts must be listed in ascending order, once each")
    with layer.index.read() as txn:
        up = _upload(layer, txn, bucket, key, upload_id)
        stored = {e["n"]: e for _, e in layer.index.items(txn, "parts", bytes.fromhex(upload_id))}
    chosen = []
    for i, (n, etag) in enumerate(parts):
        entry = stored.get(n)
        if entry is None or etag.strip().strip('"') != entry["etag"]:
            raise E.InvalidPart(f"part {n} was not uploaded or its ETag does not match")
        if i < len(parts) - 1 and entry["size"] < layer.config.min_part_size:
            raise E.EntityTooSmall(f"part {n} is {entry['size']} bytes; all but the last part need "
                                   f"{layer.config.min_part_size}")
        chosen.append(entry)
    infos = [PartInfo.from_manifest(e["p"]) for e in chosen]
    etag = hashlib.md5(b"".join(e["md5"] for e in chosen)).hexdigest() + f"-{len(chosen)}"
    meta = PutMeta(up["ct"], up["um"], up["h"], up.get("ck", {}))
    stamp = clock.stamp()
    manifest = layer._manifest(bucket, key, uuid.UUID(up["v"]), stamp, meta, sum(e["size"] for e in chosen), etag,
                               infos, multipart=True)
    return await _commit_completion(layer, manifest, upload_id, {e["n"]: e["p"][1] for e in chosen},
                                    if_match, if_none_match)


async def _commit_completion(layer, manifest, upload_id, chosen: dict[int, str], if_match, if_none_match):
    """Commit the object and retire the upload in the same index transaction. `chosen` maps
    each listed part number to the data id the manifest points at; the upload's parts are
    read again inside the transaction, because an UploadPart that re-sends a number may
    have replaced one (and removed its files) since they were first read."""
    from s3free.storage.segments import Commit, Location

    bucket, key = manifest["b"], manifest["k"]
    stamp = tuple(manifest["st"])
    garbage: list[dict] = []       # an overwritten object, and the upload's parts not used

    def commit(txn, loc: Location, missing):
        # every check before the first change: a refusal must leave the transaction untouched
        layer._require_bucket(txn, bucket)
        if layer.index.get(txn, "uploads", bytes.fromhex(upload_id)) is None:
            raise E.NoSuchUpload(upload_id)
        current = {e["n"]: e for _, e in layer.index.items(txn, "parts", bytes.fromhex(upload_id))}
        for n, data_id in chosen.items():
            if n not in current or current[n]["p"][1] != data_id:
                raise E.InvalidPart(f"part {n} was uploaded again while the upload was being completed")
        old = layer.index.get_object(txn, bucket, key)
        layer._check_preconditions(old, if_match, if_none_match)
        layer.index.put_object(txn, bucket, key, dict(manifest, loc=loc.to_list()))
        for p in manifest["parts"]:
            layer.index.put(txn, "data", p[1].encode(), {"b": bucket, "k": key, "v": manifest["v"]})
        layer.index.delete(txn, "uploads", bytes.fromhex(upload_id))
        used = set(chosen.values())
        for n, e in current.items():
            layer.index.delete(txn, "parts", _part_key(upload_id, n))
            if e["p"][1] not in used:
                layer.index.delete(txn, "data", e["p"][1].encode())
                garbage.append({"parts": [e["p"]]})
        dead = []
        if old is not None:
            dead.append(Location.from_list(old["loc"]))
            layer._drop_data_refs(txn, old)
            garbage.append(old)
        return Commit(ObjectInfo.from_manifest(bucket, manifest), live=True, dead=dead)

    info = await layer.log.append(records.OBJECT, manifest, None, stamp, commit)
    for dropped in garbage:
        await layer._remove_parts(dropped)
    return info


async def abort(layer, bucket: str, key: str, upload_id: str) -> None:
    with layer.index.write() as txn:
        _upload(layer, txn, bucket, key, upload_id)
        entries = [e for _, e in layer.index.items(txn, "parts", bytes.fromhex(upload_id))]
        for e in entries:
            layer.index.delete(txn, "parts", _part_key(upload_id, e["n"]))
            layer.index.delete(txn, "data", e["p"][1].encode())
        layer.index.delete(txn, "uploads", bytes.fromhex(upload_id))
    for e in entries:
        await layer._remove_parts({"parts": [e["p"]]})
