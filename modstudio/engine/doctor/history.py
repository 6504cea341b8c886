"""What the doctor reads: the routing reports of each conditional layer and the loss, torch-free.

Fed from a finished run's files (``routing.jsonl``, ``metrics.jsonl``) or live, one worker message
at a time (``Routing``, ``Progress``): the same numbers either way. A report's token counts are
sums over its period; its rates (entropy, confidence, z, auxiliary losses) are means per step,
so a window of reports is summed or averaged over steps accordingly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

COUNTS = ("tokens_per_expert", "demand_per_expert", "tokens_per_group", "dropped_tokens", "routed_tokens", "slots")
RATES = ("entropy", "group_entropy", "confidence", "saturated", "router_z")


@dataclass
class Report:
    step: int
    steps: int  # training steps the report covers
    facts: Mapping[str, Any]


@dataclass
class Window:
    """Reports of one layer summed (counts) and step-averaged (rates), with the steps they cover."""

    first_step: int
    last_step: int
    steps: int
    counts: dict[str, np.ndarray] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)  # also aux_<name>: weighted auxiliary losses

    def array(self, name: str) -> np.ndarray | None:
        value = self.counts.get(name)
        return value if value is not None and value.size > 0 else None

    @property
    def span(self) -> str:
        return (
            f"steps {self.first_step}–{self.last_step}"
            if self.first_step != self.last_step
            else f"step {self.last_step}"
        )


@dataclass
class RoutingHistory:
    """Training-time routing reports per layer path, and the loss per step."""

    reports: dict[str, list[Report]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)  # path -> probe kind (moe, hierarchical_moe, gate)
    experts: dict[str, int] = field(default_factory=dict)
    losses: list[tuple[int, float]] = field(default_factory=list)  # (global step, total loss of that step)

    def add_routing(self, probes: Mapping[str, Mapping[str, Any]], step: int, kind: str = "train") -> None:
        if kind != "train":
            return  # the final test pass is not training
        for path, facts in probes.items():
            steps = int(facts.get("steps", 1) or 0)
            if steps <= 0:
                continue
            self.kinds[path] = str(facts.get("kind", "moe"))
            self.experts[path] = int(facts.get("num_experts", 0) or 0)
            self.reports.setdefault(path, []).append(Report(int(step), steps, facts))

    def add_loss(self, step: int, loss: float) -> None:
        if np.isfinite(loss):
            self.losses.append((int(step), float(loss)))

    def add_records(self, routing: Iterable[Mapping[str, Any]], metrics: Iterable[Mapping[str, Any]] = ()) -> None:
        """Records as run folders hold them (``routing.jsonl``, ``metrics.jsonl`` lines)."""
        for record in routing:
            probes = record.get("probes")
            if isinstance(probes, Mapping):
                self.add_routing(probes, _int(record.get("step")), str(record.get("kind", "train")))
        for record in metrics:
            if record.get("type") == "progress" and isinstance(record.get("loss"), (int, float)):
                self.add_loss(_int(record.get("global_step", record.get("step"))), float(record["loss"]))

    @property
    def last_step(self) -> int:
        steps = [r.step for reports in self.reports.values() for r in reports] + [s for s, _ in self.losses]
        return max(steps, default=0)

    def window(self, path: str, share: float, first: bool = False) -> Window | None:
        """The reports of ``path`` in the last ``share`` of the steps (the first ``share`` when
        ``first``); at least one report."""
        reports = self.reports.get(path) or []
        if not reports:
            return None
        end = reports[-1].step
        if first:
            chosen = [r for r in reports if r.step <= max(end * share + 1e-6, reports[0].step)]
        else:
            chosen = [r for r in reports if r.step >= end * (1 - share) - 1e-6] or reports[-1:]
        start = chosen[0].step - chosen[0].steps + 1
        out = Window(max(start, 1), chosen[-1].step, sum(r.steps for r in chosen))
        for report in chosen:
            for name, value in report.facts.items():
                if name in COUNTS:
                    array = np.asarray(value, dtype=np.float64)
                    prior = out.counts.get(name)
                    out.counts[name] = array if prior is None or prior.shape != array.shape else prior + array
                elif (name in RATES or name.startswith("aux_")) and isinstance(value, (int, float)):
                    out.rates[name] = out.rates.get(name, 0.0) + float(value) * report.steps
        for name in out.rates:
            out.rates[name] /= max(out.steps, 1)
        return out

    def mean_loss(self, first_step: int, last_step: int) -> float | None:
        values = [loss for step, loss in self.losses if first_step <= step <= last_step]
        if not values and self.losses:  # no progress line inside: the nearest one before the end
            before = [loss for step, loss in self.losses if step <= last_step]
            values = before[-1:] or [self.losses[0][1]]
        return float(np.mean(values)) if values else None


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0
