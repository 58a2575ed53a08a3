"""Plain values passed between the object layer and the S3 layer."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PutMeta:
    """What a client says about an object when writing it."""
    content_type: str = "binary/octet-stream"
    user_meta: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)   # content-encoding, -disposition, ...
    checksums: dict[str, str] = field(default_factory=dict)  # algorithm -> base64 value


@dataclass
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str
    last_modified: float
    version_id: str
    content_type: str = "binary/octet-stream"
    user_meta: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)
    part_sizes: list[int] = field(default_factory=list)    # multipart objects only
    storage_class: str = "STANDARD"
    manifest: dict | None = field(default=None, repr=False, compare=False)   # the index entry read

    @property
    def parts_count(self) -> int:
        return len(self.part_sizes)

    @classmethod
    def from_manifest(cls, bucket: str, m: dict) -> "ObjectInfo":
        return cls(bucket=bucket, key=m["k"], size=m["size"], etag=m["etag"], last_modified=m["mt"],
                   version_id=m["v"], content_type=m.get("ct", "binary/octet-stream"),
                   user_meta=dict(m.get("um", {})), headers=dict(m.get("h", {})),
                   checksums=dict(m.get("ck", {})),
                   part_sizes=[p[2] for p in m["parts"]] if m.get("mp") else [], manifest=m)


@dataclass
class BucketInfo:
    name: str
    owner: str
    created: float
    location: str = ""


@dataclass
class UploadInfo:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    owner: str = ""
    meta: PutMeta = field(default_factory=PutMeta)


@dataclass
class PartEntry:
    number: int
    etag: str
    size: int
    last_modified: float
