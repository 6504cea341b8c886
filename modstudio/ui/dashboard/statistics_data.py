"""The statistics over time the dashboard has received, and histograms laid side by side on one scale.

Each record's histogram spans its own tensor's range; :meth:`StatisticsHistory.image` spreads every
record's counts over one common range (the union of the records' ranges) in ``rows`` equal bins,
assuming values spread evenly within a bin, so a column is one step and a row one value band.

A long run does not grow the history without end: once it holds ``2 * KEEP`` records, every second one
goes and from then on only every second record that arrives is kept (then every fourth, ...), so the
columns stay evenly spaced in steps and a record's numbers are kept as small numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modstudio.engine.statistics_message import QUANTITIES, Statistics

from .data import Series

ROWS = 64  # value bands of the image
KEEP = 256  # records kept: between KEEP and 2 * KEEP


@dataclass
class HistogramImage:
    """[steps, rows] share of each step's values per value band, with the steps and the value range."""

    shares: np.ndarray
    steps: np.ndarray
    low: float
    high: float


@dataclass(frozen=True)
class Counts:
    """One histogram as the history keeps it."""

    low: float
    high: float
    counts: np.ndarray  # float32


@dataclass
class StatisticsHistory:
    # module -> (step, {quantity: Counts, "dead_share": float | None, "update_ratio": float | None})
    records: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    seen: int = 0  # records received
    stride: int = 1  # one record in this many is kept

    def add(self, message: Statistics) -> None:
        self.seen += 1
        if (self.seen - 1) % self.stride:
            return
        for path, stats in message.modules.items():
            entry: dict[str, Any] = {"dead_share": stats.dead_share, "update_ratio": stats.update_ratio}
            for quantity in QUANTITIES:
                h = stats.histogram(quantity)
                if h is not None:
                    entry[quantity] = Counts(h.low, h.high, np.asarray(h.counts, dtype=np.float32))
            self.records.setdefault(path, []).append((message.step, entry))
        if max(len(r) for r in self.records.values()) >= 2 * KEEP:
            self.records = {path: found[::2] for path, found in self.records.items()}
            self.stride *= 2

    def __bool__(self) -> bool:
        return bool(self.records)

    def modules(self) -> list[str]:
        return list(self.records)

    def quantities(self, module: str) -> list[str]:
        """The histograms ``module`` has (a layer without weights has only its activations)."""
        found = self.records.get(module, [])
        return [q for q in QUANTITIES if any(q in entry for _, entry in found)]

    def series(self, module: str, name: str) -> Series:
        """``dead_share`` or ``update_ratio`` of ``module`` over steps."""
        out = Series()
        for step, entry in self.records.get(module, []):
            out.add(step, entry[name])
        return out

    def image(self, module: str, quantity: str, rows: int = ROWS) -> HistogramImage | None:
        found = [(step, entry[quantity]) for step, entry in self.records.get(module, []) if quantity in entry]
        if not found:
            return None
        low = min(h.low for _, h in found)
        high = max(h.high for _, h in found)
        if high <= low:
            low, high = low - 0.5, high + 0.5
        edges = np.linspace(low, high, rows + 1)
        shares = np.stack([rebin(h, edges) for _, h in found])
        return HistogramImage(shares, np.asarray([s for s, _ in found], dtype=np.float64), low, high)


def rebin(histogram: Counts, edges: np.ndarray) -> np.ndarray:
    """The histogram's counts over the bins between ``edges`` as shares of its finite values."""
    counts = np.asarray(histogram.counts, dtype=np.float64)
    total = counts.sum()
    out = np.zeros(len(edges) - 1)
    if total <= 0:
        return out
    if histogram.high <= histogram.low:  # one value: all of it in the band that holds it
        band = int(np.clip(np.searchsorted(edges, histogram.low, side="right") - 1, 0, len(out) - 1))
        out[band] = 1.0
        return out
    source = np.linspace(histogram.low, histogram.high, len(counts) + 1)
    cumulative = np.concatenate([[0.0], np.cumsum(counts)])
    return np.diff(np.interp(edges, source, cumulative)) / total
