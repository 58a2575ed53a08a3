"""Range headers with S3's semantics: pure arithmetic over an object size.

What S3 does (RFC 9110 allows a server to ignore Range, and S3 uses that):

* one range, ``bytes=a-b``, ``bytes=a-`` or ``bytes=-n``, is served as 206;
  an end past the object is clamped to its last byte, and a suffix longer than
  the object means the whole object;
* a header that does not parse (``bytes=x-y``, ``bytes=5-2``, another unit) is
  ignored and the whole object is served with 200;
* several ranges (``bytes=0-1,5-6``) are not supported by S3 and the header is
  ignored the same way: 200 with the whole object;
* a range that starts at or past the end, a zero-length suffix (``bytes=-0``),
  and any range on a 0-byte object are unsatisfiable: 416 InvalidRange, with
  ``Content-Range: bytes */<size>``.

x-amz-copy-source-range (UploadPartCopy) is stricter: only ``bytes=first-last``
is accepted and anything else, including a range outside the source, is an
InvalidArgument error rather than being ignored.
"""

from __future__ import annotations

import re

from .errors import S3Error

_SPEC = re.compile(r"([0-9]{0,30})-([0-9]{0,30})\Z")       # longer is not a number we take (numbers.py)
_COPY_SPEC = re.compile(r"bytes=([0-9]{1,30})-([0-9]{1,30})\Z")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Return the inclusive (first, last) byte to serve, or None to serve the whole object.

    Raises S3Error InvalidRange (416, with ActualObjectSize) when unsatisfiable.

    >>> parse_range("bytes=0-9", 100)
    (0, 9)
    >>> parse_range("bytes=90-200", 100)          # end clamped to the last byte
    (90, 99)
    >>> parse_range("bytes=95-", 100)
    (95, 99)
    >>> parse_range("bytes=-10", 100)             # the last ten bytes
    (90, 99)
    >>> parse_range("bytes=-500", 100)            # suffix longer than the object: all of it
    (0, 99)
    >>> parse_range("bytes=0-1,5-6", 100) is None  # several ranges: S3 ignores the header
    True
    >>> parse_range("bytes=9-3", 100) is None      # invalid: ignored
    True
    >>> parse_range("items=0-9", 100) is None
    True
    >>> parse_range("bytes=100-", 100)
    Traceback (most recent call last):
    ...
    s3free.api.errors.S3Error: InvalidRange: The requested range is not satisfiable
    >>> parse_range("bytes=0-0", 0)
    Traceback (most recent call last):
    ...
    s3free.api.errors.S3Error: InvalidRange: The requested range is not satisfiable
    """
    if not header:
        return None
    unit, eq, spec = header.strip().partition("=")
    if not eq or unit.strip().lower() != "bytes":
        return None
    match = _SPEC.match(spec.strip())
    if match is None:
        return None  # malformed, or a list of ranges
    first_s, last_s = match.groups()
    if first_s:
        first = int(first_s)
        last = int(last_s) if last_s else None
        if last is not None and last < first:
            return None
        if first >= size:
            raise _unsatisfiable(header, size)
        return first, size - 1 if last is None else min(last, size - 1)
    if not last_s:
        return None  # "bytes=-"
    suffix = int(last_s)
    if suffix == 0 or size == 0:
        raise _unsatisfiable(header, size)
    return max(size - suffix, 0), size - 1


def parse_copy_source_range(header: str, size: int) -> tuple[int, int]:
    """Parse x-amz-copy-source-range for a source of `size` bytes: inclusive (first, last).

    >>> parse_copy_source_range("bytes=0-4", 10)
    (0, 4)
    >>> parse_copy_source_range("bytes=5-", 10)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    s3free.api.errors.S3Error: InvalidArgument: The x-amz-copy-source-range value must be of the form ...
    >>> parse_copy_source_range("bytes=5-10", 10)
    Traceback (most recent call last):
    ...
    s3free.api.errors.S3Error: InvalidArgument: Range specified is not valid for source object of size: 10
    """
    match = _COPY_SPEC.match(header.strip())
    if match is None or int(match.group(2)) < int(match.group(1)):
        raise S3Error("InvalidArgument", "The x-amz-copy-source-range value must be of the form bytes=first-last "
                      "where first and last are the zero-based offsets of the first and last bytes to copy",
                      ArgumentName="x-amz-copy-source-range", ArgumentValue=header)
    first, last = int(match.group(1)), int(match.group(2))
    if last >= size:
        raise S3Error("InvalidArgument", f"Range specified is not valid for source object of size: {size}",
                      ArgumentName="x-amz-copy-source-range", ArgumentValue=header)
    return first, last


def content_range(first: int, last: int, size: int) -> str:
    """The Content-Range of a 206 answer.

    >>> content_range(0, 9, 100)
    'bytes 0-9/100'
    """
    return f"bytes {first}-{last}/{size}"


def unsatisfied_content_range(size: int) -> str:
    """The Content-Range of a 416 answer.

    >>> unsatisfied_content_range(100)
    'bytes */100'
    """
    return f"bytes */{size}"


def _unsatisfiable(header: str, size: int) -> S3Error:
    return S3Error("InvalidRange", RangeRequested=header, ActualObjectSize=size)
