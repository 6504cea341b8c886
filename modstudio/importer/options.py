"""The import's options as text, checked the same way for `modstudio import` and the editor's dialog.

Torch-free: the dialog checks its fields with these before it starts the import's process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import ImportProblem

WEIGHTS_SUFFIX = ".init.safetensors"  # the starting weights, beside FILE.msproj
SHAPE_EXAMPLE = "1,3,32,32"


def parse_arguments(text: str | None, what: str = "--args") -> dict[str, Any]:
    """The model's keyword arguments: a JSON object (``what`` names the option in the sentence)."""
    if text is None or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportProblem(f"{what} is not valid JSON: {exc.msg} at character {exc.pos}") from None
    if not isinstance(value, dict):
        raise ImportProblem(f'{what} must be a JSON object of keyword arguments, like {{"num_classes": 10}}')
    return value


def parse_shape(text: str, what: str = "--input-shape") -> tuple[int, ...]:
    """The input shape, the batch first: ``1,3,32,32`` (or ``1x3x32x32``)."""
    parts = [part.strip() for part in text.replace("x", ",").split(",")]
    if not all(part.isdigit() for part in parts):
        raise ImportProblem(
            f"{what} must be whole numbers separated by commas, the batch first, like {SHAPE_EXAMPLE}, "
            f"not {text.strip()!r}"
        )
    shape = tuple(int(part) for part in parts)
    if len(shape) < 2 or min(shape) < 1:
        raise ImportProblem(
            f"{what} needs a batch size and at least one positive size per sample, like {SHAPE_EXAMPLE}"
        )
    return shape


def weights_path(out: Path) -> Path:
    """``FILE.init.safetensors`` beside ``FILE.msproj``."""
    return out.with_name((out.stem if out.suffix else out.name) + WEIGHTS_SUFFIX)
