"""Parsing of the size and duration strings that scenario files use."""

from __future__ import annotations

import re

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?)?B?\s*$", re.IGNORECASE)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_SIZE_FACTORS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_DURATION_FACTORS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_size(value: int | str) -> int:
    """Return a byte count; K, M, G and T are binary (1K = 1024), with or without the i."""
    if isinstance(value, int):
        return value
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError(f"invalid size {value!r}: use a byte count such as 8, 64K or 64Mi")
    number, suffix = match.groups()
    return int(float(number) * _SIZE_FACTORS[(suffix or "")[:1].upper()])


def parse_duration(value: int | float | str) -> float:
    """Return seconds; a bare number is seconds, suffixes ms, s, m and h are accepted."""
    if isinstance(value, (int, float)):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(
            f"invalid duration {value!r}: use seconds or a suffix, such as 90, 500ms, 2m"
        )
    number, suffix = match.groups()
    return float(number) * _DURATION_FACTORS[suffix or "s"]


def format_size(size_bytes: int) -> str:
    for suffix, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size_bytes >= factor and size_bytes % factor == 0:
            return f"{size_bytes // factor} {suffix}"
    return f"{size_bytes} B"
