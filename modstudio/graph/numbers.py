"""The one bound on numbers: what a project file and an expression may hold, and how to show any value.

Every number in a project file and every expression result lies within ±``MAX_MAGNITUDE`` and is
finite; anything else is a named problem before any code formats it or allocates from it. Messages
show values through :func:`shown`, which never fails (a 4301-digit integer cannot even be turned
into a string by Python, an infinite float cannot become an int).
"""

from __future__ import annotations

import math
from typing import Any

MAX_MAGNITUDE = 10**15  # the largest magnitude of any number in a file or an expression result
MAX_SHOWN = 60  # characters of a value quoted in a message


def number_problem(value: Any) -> str | None:
    """Why a number read from a file or computed by an expression cannot be used, or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{shown(value)} is not a finite number"
    if abs(value) > MAX_MAGNITUDE:
        return f"{shown(value)} is too large: numbers in a project lie within ±10^15"
    return None


def shown(value: Any) -> str:
    """A short, always-printable form of a value for a message."""
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        if abs(value) < 10**16:
            return str(value)
        return f"{'-' if value < 0 else ''}a number of about 10^{math.floor(math.log10(abs(value)))}"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "infinity" if value > 0 else "-infinity"
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if isinstance(value, (list, tuple)):
        text = ", ".join(shown(v) for v in value[:8]) + (", ..." if len(value) > 8 else "")
        return _cut(f"[{text}]")
    try:
        text = repr(value)
    except ValueError:  # a container holding an integer too long to print
        text = f"a {type(value).__name__}"
    return _cut(text)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."
