"""The object layer's error vocabulary; the S3 layer maps each class to an S3 code."""


class ObjectError(Exception):
    """Base of every error the object layer raises on purpose."""


class NoSuchBucket(ObjectError):
    pass


class BucketExists(ObjectError):
    """The bucket exists; `owned` says whether the caller owns it."""

    def __init__(self, bucket: str, owned: bool):
        super().__init__(bucket)
        self.owned = owned


class BucketNotEmpty(ObjectError):
    pass


class NoSuchKey(ObjectError):
    pass


class NoSuchUpload(ObjectError):
    pass


class PreconditionFailed(ObjectError):
    pass


class InvalidPart(ObjectError):
    pass


class InvalidPartOrder(ObjectError):
    pass


class EntityTooSmall(ObjectError):
    pass


class EntityTooLarge(ObjectError):
    pass


class InvalidRange(ObjectError):
    pass


class BadDigest(ObjectError):
    """The body does not match a digest the client sent."""


class IncompleteBody(ObjectError):
    """The body ended before the length the client declared."""


class DataUnavailable(ObjectError):
    """The object exists but too many shards are damaged or offline to serve it."""


class WriteQuorum(ObjectError):
    """Too few disks are writable to store the object safely."""
