"""s3free: an open, S3-compatible object store that heals itself."""

__version__ = "0.1.0"
