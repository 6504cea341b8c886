"""The ``statistics`` message: per-module histograms, dead units and update sizes (torch-free, Qt-free).

The worker sends one every ``training.statistics_every`` steps (:mod:`modstudio.engine.statistics`
measures them) and appends the same dict to the run folder's ``statistics.jsonl``;
:mod:`modstudio.engine.protocol` lists it among the messages, so ``message_from_dict`` checks it as
it checks the others. A histogram spans its own tensor's finite values, ``low`` to ``high`` in
``len(counts)`` equal bins (of an evenly strided sample of a few thousand values, for a larger tensor);
non-finite values (NaN, ±inf) are counted apart.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from modstudio.engine.message_base import MessageBase

QUANTITIES = ("weights", "activations", "gradients")  # what a module's histograms are of


@dataclass(frozen=True)
class Histogram:
    """Counts of a tensor's finite values in equal bins from ``low`` to ``high`` (both 0 for an empty tensor)."""

    low: float
    high: float
    counts: tuple[float, ...]
    nonfinite: int = 0  # NaN and ±inf values, not in the counts

    @property
    def scale(self) -> float:
        """The largest magnitude among the finite values."""
        return max(abs(self.low), abs(self.high))

    def to_dict(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "counts": list(self.counts), "nonfinite": self.nonfinite}


@dataclass(frozen=True)
class ModuleStatistics:
    """One module (a node, by its dotted path) at one recording step; what it does not have is None."""

    weights: Histogram | None = None  # all its parameters, after the step
    activations: Histogram | None = None  # its output on the step's batch
    gradients: Histogram | None = None  # its parameters' gradients (before clipping)
    dead_share: float | None = None  # ReLU layers: share of units that are zero for every sample of the batch
    update_ratio: float | None = None  # ‖weights after − weights before‖ / ‖weights before‖ for the step

    def histogram(self, quantity: str) -> Histogram | None:
        if quantity not in QUANTITIES:
            raise KeyError(f"no histograms of {quantity!r} (there are: {', '.join(QUANTITIES)})")
        return getattr(self, quantity)  # type: ignore[no-any-return]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = value.to_dict() if isinstance(value, Histogram) else value
        return out


@dataclass(frozen=True)
class Statistics(MessageBase):
    """Every recorded module at one step (the global step count after the step)."""

    type: ClassVar[str] = "statistics"
    step: int
    modules: dict[str, ModuleStatistics] = field(default_factory=dict)
    epoch: int = 0
    bins: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "step": self.step,
            "modules": {path: stats.to_dict() for path, stats in self.modules.items()},
            "epoch": self.epoch,
            "bins": self.bins,
        }

    def describe(self) -> str:
        ratios = [m.update_ratio for m in self.modules.values() if m.update_ratio is not None]
        ratios = [r for r in ratios if math.isfinite(r)]
        largest = f", largest update/weight ratio {max(ratios):.2g}" if ratios else ""
        return f"statistics at step {self.step}: {len(self.modules)} modules{largest}"
