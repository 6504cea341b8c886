"""What the dashboard has received so far, kept as plain numbers and numpy arrays (no plotting here).

Worker messages go in through :meth:`RunData.handle`, which only stores; views read from it.
Routing layers are one per probe, and two for a hierarchical MoE (its groups and its experts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modstudio.engine.protocol import Epoch, Message, Progress

HISTORY = 240  # routing reports kept for the load-over-time heatmap
DECAY = 0.8  # weight of the older counts in the class x expert matrix (it follows recent routing)


@dataclass
class Series:
    """One curve: x (steps) and y."""

    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)

    def add(self, x: float, y: float | None) -> None:
        if y is not None and math.isfinite(y):
            self.xs.append(float(x))
            self.ys.append(float(y))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.xs, dtype=np.float64), np.asarray(self.ys, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.xs)


@dataclass
class Curves:
    """Loss and accuracy of one run, per step (progress) and per epoch."""

    loss: Series = field(default_factory=Series)
    accuracy: Series = field(default_factory=Series)
    epoch_loss: Series = field(default_factory=Series)
    epoch_accuracy: Series = field(default_factory=Series)
    val_loss: Series = field(default_factory=Series)
    val_accuracy: Series = field(default_factory=Series)

    def handle(self, message: Message) -> bool:
        """True when the message added points (progress and epoch messages)."""
        match message:
            case Progress():
                step = message.step if message.global_step is None else message.global_step
                self.loss.add(step, message.loss)
                self.accuracy.add(step, message.accuracy)
                return True
            case Epoch(step=step):
                step = step or 0
                self.epoch_loss.add(step, message.train_loss)
                self.epoch_accuracy.add(step, message.train_accuracy)
                self.val_loss.add(step, message.val_loss)
                self.val_accuracy.add(step, message.val_score)
                return True
        return False


def load_stats(load: np.ndarray, facts: dict[str, Any]) -> dict[str, float]:
    """Coefficient of variation of the load and the dropped-token share (as MoE libraries report them)."""
    total = float(load.sum())
    cv = float(load.std() / load.mean()) if total > 0 else float("nan")
    routed = float(facts.get("routed_tokens", 0.0) or 0.0)
    dropped = float(facts.get("dropped_tokens", 0.0) or 0.0) / routed if routed else 0.0
    return {"cv": cv, "dropped_share": dropped}


@dataclass
class Layer:
    """One routing level: a MoE, a gate, or one level of a hierarchical MoE."""

    name: str  # what the combo box shows
    path: str  # the probe path (the node to select)
    level: str  # "experts", "groups" or "branches"
    count: int  # bars: experts, groups or branches
    kind: str = "moe"
    capacity_factor: float | None = None  # capped gates (switch, expert choice): the capacity line
    per_group: int = 1  # hierarchical experts level: experts per group (for the group of an expert id)
    load: np.ndarray = field(default_factory=lambda: np.zeros(0))  # tokens per member per step, latest report
    capacity: float | None = None  # tokens per member per step the cap allows
    fair: float = 0.0  # tokens per member per step at an even split
    history: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # [HISTORY, count] utilisation
    history_steps: list[int] = field(default_factory=list)
    reports: int = 0
    labels_by_member: np.ndarray | None = None  # class x member counts, decayed
    series: dict[str, Series] = field(default_factory=dict)  # entropy, cv, dropped share, aux_* over steps
    dead: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.history = np.full((HISTORY, self.count), np.nan, dtype=np.float32)

    def add_report(self, step: int, facts: dict[str, Any]) -> None:
        steps = max(int(facts.get("steps", 1) or 1), 1)
        key = "tokens_per_group" if self.level == "groups" else "tokens_per_expert"
        raw = facts.get(key, facts.get("usage"))
        if raw is None:
            return
        load = np.asarray(raw, dtype=np.float64).reshape(-1)
        if load.size != self.count:
            return
        self.load = load / steps
        slots = float(facts.get("slots", load.sum()) or load.sum()) / steps
        if self.level == "groups":
            slots = float(facts.get("routed_tokens", load.sum()) or load.sum()) / steps
        self.fair = slots / self.count
        self.capacity = None if self.capacity_factor is None else self.fair * self.capacity_factor
        total = load.sum()
        self.history[self.reports % HISTORY] = load / total * self.count if total > 0 else 0.0
        self.history_steps.append(step)
        del self.history_steps[:-HISTORY]
        self.reports += 1
        self.dead = [int(i) for i in np.flatnonzero(load == 0)] if total > 0 else []
        self._add_labels(facts.get("class_expert"))
        stats = load_stats(load, facts)
        # the groups level shows the primary gate's entropy, the experts level that of the joint routing
        entropy = facts.get("group_entropy" if self.level == "groups" else "entropy")
        if entropy is not None:
            self._series("router entropy / ln E").add(step, float(entropy) / max(math.log(max(self.count, 2)), 1e-9))
        self._series("CV of load").add(step, stats["cv"])
        if self.level != "groups":
            self._series("dropped share").add(step, stats["dropped_share"])
        for name, value in facts.items():  # the layer's losses cover both levels of a hierarchical MoE
            if name.startswith("aux_") and isinstance(value, (int, float)):
                self._series(name[4:], aux=True).add(step, float(value))

    def _series(self, name: str, aux: bool = False) -> Series:
        key = f"aux:{name}" if aux else name
        return self.series.setdefault(key, Series())

    def _add_labels(self, raw: Any) -> None:
        if raw is None:
            return
        counts = np.asarray(raw, dtype=np.float64)
        if counts.ndim != 2:
            return
        if self.level == "groups" and counts.shape[1] == self.count * self.per_group:
            counts = counts.reshape(counts.shape[0], self.count, self.per_group).sum(axis=2)
        if counts.shape[1] != self.count:
            return
        old = self.labels_by_member
        self.labels_by_member = counts if old is None or old.shape != counts.shape else old * DECAY + counts

    def timeline(self) -> tuple[np.ndarray, int, int]:
        """[count, reports] utilisation in time order, and the first and last step it spans."""
        n = min(self.reports, HISTORY)
        start = self.reports % HISTORY if self.reports > HISTORY else 0
        rows = np.roll(self.history, -start, axis=0)[:n]
        first = self.history_steps[0] if self.history_steps else 0
        last = self.history_steps[-1] if self.history_steps else 0
        return np.nan_to_num(rows.T, nan=0.0), first, last


def layers_for(path: str, info: dict[str, Any]) -> list[Layer]:
    """The routing levels of one probe from its layout (the ``started`` message) or its first facts."""
    kind = str(info.get("kind", "moe"))
    experts = int(info.get("num_experts", 0) or 0)
    groups = int(info.get("groups", 0) or 0)
    if not groups and info.get("tokens_per_group") is not None:
        groups = len(np.asarray(info["tokens_per_group"]).reshape(-1))
    if kind == "hierarchical_moe" and groups > 0:
        per_group = max(experts // groups, 1)
        return [
            Layer(f"{path} · groups", path, "groups", groups, kind, per_group=per_group),
            Layer(f"{path} · experts", path, "experts", experts, kind, per_group=per_group),
        ]
    level = "branches" if kind == "gate" else "experts"
    capped = info.get("gate") in ("switch", "expert_choice")
    factor = float(info.get("capacity_factor", 1.0)) if info.get("gate") == "switch" else 1.0
    return [Layer(path or "network", path, level, experts, kind, capacity_factor=factor if capped else None)]
