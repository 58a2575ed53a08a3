"""The object layer's errors in S3's vocabulary (translated at the API border, as in MinIO)."""
from __future__ import annotations

from s3free.objects import errors as E

from .errors import S3Error

_CODES = {
    E.NoSuchBucket: "NoSuchBucket",
    E.BucketNotEmpty: "BucketNotEmpty",
    E.NoSuchKey: "NoSuchKey",
    E.NoSuchUpload: "NoSuchUpload",
    E.PreconditionFailed: "PreconditionFailed",
    E.InvalidPart: "InvalidPart",
    E.InvalidPartOrder: "InvalidPartOrder",
    E.EntityTooSmall: "EntityTooSmall",
    E.EntityTooLarge: "EntityTooLarge",
    E.InvalidRange: "InvalidRange",
    E.BadDigest: "BadDigest",
    E.IncompleteBody: "IncompleteBody",
}


def to_s3(exc: E.ObjectError) -> S3Error:
    """An S3Error for an object-layer error; unknown kinds become InternalError (500)."""
    if isinstance(exc, E.BucketExists):
        return S3Error("BucketAlreadyOwnedByYou" if exc.owned else "BucketAlreadyExists")
    if isinstance(exc, (E.DataUnavailable, E.WriteQuorum)):
        return S3Error("ServiceUnavailable", f"Not enough disks are available to serve this request: {exc}")
    for cls, code in _CODES.items():
        if isinstance(exc, cls):
            if cls is E.EntityTooSmall:
                return S3Error(code, str(exc) or None)
            return S3Error(code)
    return S3Error("InternalError")
