"""Tensor shapes as shape inference sees them: per-sample shape (batch left out) and dtype."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DType = Literal["float", "long"]


@dataclass(frozen=True)
class TensorInfo:
    """The shape of one sample (the batch dimension N is implied) and its dtype."""

    shape: tuple[int, ...]
    dtype: DType = "float"

    @property
    def rank(self) -> int:
        """Rank including the batch dimension, as PyTorch counts it."""
        return len(self.shape) + 1

    def __str__(self) -> str:
        dims = ", ".join(["N", *map(str, self.shape)])
        suffix = "" if self.dtype == "float" else f" {self.dtype}"
        return f"[{dims}]{suffix}"


class ShapeError(ValueError):
    """A block cannot accept the shape it receives. The message is a sentence for a person,
    written as the rest of "<Block> '<name>' ...", e.g. "expects a flat vector but receives
    [N, 64, 7, 7]; add a Flatten before it"."""
