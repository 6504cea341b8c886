"""The statistics over time the dashboard has received, and histograms laid side by side on one scale.

Each record's histogram spans its own tensor's range; :meth:`StatisticsHistory.image` spreads every
record's counts over one common range (the union of the records' ranges) in ``rows`` equal bins,
assuming values spread evenly within a bin, so a column is one step and a row one value band.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from modstudio.engine.statistics_message import QUANTITIES, Histogram, ModuleStatistics, Statistics

from .data import Series

ROWS = 64  # value bands of the image


@dataclass
class HistogramImage:
    """[steps, rows] share of each step's values per value band, with the steps and the value range."""

    shares: np.ndarray
    steps: np.ndarray
    low: float
    high: float


@dataclass
class StatisticsHistory:
    records: dict[str, list[tuple[int, ModuleStatistics]]] = field(default_factory=dict)  # module -> (step, stats)

    def add(self, message: Statistics) -> None:
        for path, stats in message.modules.items():
            self.records.setdefault(path, []).append((message.step, stats))

    def __bool__(self) -> bool:
        return bool(self.records)

    def modules(self) -> list[str]:
        return list(self.records)

    def quantities(self, module: str) -> list[str]:
        """The histograms ``module`` has (a layer without weights has only its activations)."""
        found = self.records.get(module, [])
        return [q for q in QUANTITIES if any(stats.histogram(q) is not None for _, stats in found)]

    def series(self, module: str, name: str) -> Series:
        """``dead_share`` or ``update_ratio`` of ``module`` over steps."""
        out = Series()
        for step, stats in self.records.get(module, []):
            out.add(step, getattr(stats, name))
        return out

    def image(self, module: str, quantity: str, rows: int = ROWS) -> HistogramImage | None:
        found = [(step, h) for step, stats in self.records.get(module, []) if (h := stats.histogram(quantity))]
        if not found:
            return None
        low = min(h.low for _, h in found)
        high = max(h.high for _, h in found)
        if high <= low:
            low, high = low - 0.5, high + 0.5
        edges = np.linspace(low, high, rows + 1)
        shares = np.stack([rebin(h, edges) for _, h in found])
        return HistogramImage(shares, np.asarray([s for s, _ in found], dtype=np.float64), low, high)


def rebin(histogram: Histogram, edges: np.ndarray) -> np.ndarray:
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
