"""Sizes in the user's words: one way to say how many bytes, and how long, for every message and table that
names one."""

from __future__ import annotations


def human_size(count: float) -> str:
    """Bytes in decimal units, as disks and the user count them: 512 B, 54.8 KB, 4.0 TB."""
    if count < 1000:
        return f"{int(count)} B"
    for unit in ("KB", "MB", "GB", "TB", "PB"):
        count /= 1000
        if count < 1000 or unit == "PB":
            return f"{count:.1f} {unit}"
    raise AssertionError("unreachable")


def human_duration(seconds: float) -> str:
    """A duration as a table shows it: 4.2 s, 3 min 07 s, 2 h 05 min."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
