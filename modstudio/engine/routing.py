"""Reading the routing probes: collapse alarms and how well experts specialise (normalised mutual information)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def expert_load(facts: Mapping[str, Any]) -> np.ndarray | None:
    """Tokens per expert over the period (``tokens_per_expert``, else ``usage``), if the probe recorded it."""
    for key in ("tokens_per_expert", "usage"):
        value = facts.get(key)
        if isinstance(value, np.ndarray) and value.ndim == 1 and value.size > 0:
            return value.astype(np.float64)
    return None


@dataclass
class CollapseDetector:
    """Raises an alarm when an expert gets no tokens for ``reports`` reports in a row, or one takes over.

    Utilization of expert i = load_i / mean load (1 = fair share, 0 = dead). "Takes over":
    its share of all routed tokens is at least ``max_share`` (with two or more experts) for
    ``reports`` reports in a row. Each alarm is raised once per layer and expert.
    """

    reports: int = 5
    max_share: float = 0.9
    _dead: dict[str, np.ndarray] = field(default_factory=dict)
    _warned: set[str] = field(default_factory=set)
    _top: dict[str, tuple[int, int]] = field(default_factory=dict)  # busiest expert and for how many reports

    def check(self, facts: Mapping[str, Mapping[str, Any]]) -> list[str]:
        warnings: list[str] = []
        for path, probe in facts.items():
            load = expert_load(probe)
            if load is None or load.size < 2 or load.sum() <= 0:
                continue
            dead = self._dead.get(path, np.zeros(load.size, dtype=np.int64))
            dead = np.where(load == 0, dead + 1, 0) if dead.size == load.size else (load == 0).astype(np.int64)
            self._dead[path] = dead
            share = load / load.sum()
            name = path or "network"
            for expert in np.flatnonzero(dead == self.reports):
                key = f"{path}:dead:{expert}"
                if key not in self._warned:
                    self._warned.add(key)
                    warnings.append(
                        f"routing collapse in '{name}': expert {expert} received no tokens for {self.reports} reports in a row"
                    )
            top = int(share.argmax())
            streak = self._top.get(path, (top, 0))
            streak = (top, streak[1] + 1 if streak[0] == top else 1) if share[top] >= self.max_share else (top, 0)
            self._top[path] = streak
            key = f"{path}:top:{top}"
            if streak[1] >= self.reports and key not in self._warned:
                self._warned.add(key)
                utilization = share[top] * load.size
                warnings.append(
                    f"routing collapse in '{name}': expert {top} took {share[top]:.0%} of the tokens for "
                    f"{self.reports} reports in a row (utilization {utilization:.1f}x its fair share)"
                )
        return warnings


def normalized_mutual_information(counts: np.ndarray) -> float:
    """NMI between rows (classes or regions) and columns (experts) of a count matrix, in [0, 1].

    I(C; E) / sqrt(H(C) H(E)); 1 when each class goes to its own expert, 0 when routing
    ignores the class. 0 when either side has a single value. This is the standard NMI with the
    geometric-mean normalisation: scikit-learn's ``normalized_mutual_info_score(...,
    average_method="geometric")`` on the labels the table counts (tests/engine/test_nmi.py).
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return 0.0
    joint = counts / total
    rows, cols = joint.sum(axis=1), joint.sum(axis=0)
    nz = joint > 0
    mutual = float((joint[nz] * np.log(joint[nz] / np.outer(rows, cols)[nz])).sum())
    h_rows = float(-(rows[rows > 0] * np.log(rows[rows > 0])).sum())
    h_cols = float(-(cols[cols > 0] * np.log(cols[cols > 0])).sum())
    if h_rows <= 0 or h_cols <= 0:
        return 0.0
    return max(0.0, min(1.0, mutual / np.sqrt(h_rows * h_cols)))
