"""Whole numbers from request text (query parameters, headers, XML).

`str.isdigit()` is not enough before `int()`: it accepts digits `int()` refuses ("²"), and
`int()` refuses more than 4,300 digits. Either turned bad input into a 500. Every S3 number
fits in far fewer digits, so anything longer is simply not a number we take.
"""
from __future__ import annotations

MAX_DIGITS = 30


def decimal(text: str) -> int | None:
    """`text` as a non-negative integer if it is 1 to 30 ASCII digits, else None.

    >>> decimal("0042"), decimal(""), decimal("²"), decimal("-1"), decimal(" 7"), decimal("9" * 31)
    (42, None, None, None, None, None)
    """
    if not (0 < len(text) <= MAX_DIGITS and text.isascii() and text.isdigit()):
        return None
    return int(text)
