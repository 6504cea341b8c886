"""Sizes in the user's words: one way to say how many bytes, for every message that names a size."""

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
