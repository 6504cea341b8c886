"""The routing probe a conditional layer owns (read by the engine through compile.probes)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


class RoutingProbe:
    """Accumulates routing facts between two ``take()`` calls (one or more steps)."""

    def __init__(self, num_experts: int, kind: str = "moe") -> None:
        self.num_experts = num_experts
        self.kind = kind  # "moe", "gate", "router", ... (what the dashboard draws)
        self.enabled = False
        # capture: when True, the layer keeps in ``captured`` the top-1 choice per token of its
        # last forward (an int64 tensor [tokens]); off by default and free when off. The engine
        # uses it to colour the input plane by expert; it never counts into the sums.
        self.capture = False
        self.captured: torch.Tensor | None = None
        self.labels: torch.Tensor | None = None  # class per sample of the current batch
        self.num_classes = 0
        self.regions: torch.Tensor | None = None  # data region per sample (e.g. the regimes data)
        self.num_regions = 0
        self._sums: dict[str, torch.Tensor] = {}  # stay on the device: no sync until take()
        self._counts: dict[str, float] = {}  # plain numbers known on the host
        self._steps = 0

    def add(self, name: str, value: torch.Tensor | float) -> None:
        """Add a (detached) tensor or a number to the running sum of ``name``."""
        if isinstance(value, torch.Tensor):
            value = value.detach().float()
            previous = self._sums.get(name)
            # the first value is copied: the running sum is updated in place and must not
            # share storage with a tensor the layer still holds (its aux losses, say)
            self._sums[name] = value.clone() if previous is None else previous.add_(value)
        else:
            self._counts[name] = self._counts.get(name, 0.0) + value

    def count_by_label(self, batch: int, routed: torch.Tensor) -> None:
        """Class x expert (and region x expert) counts of routed tokens, when the engine gave
        the batch's labels. ``routed`` is [tokens, experts] (bool); tokens = batch x positions."""
        for name, labels, count in (
            ("class_expert", self.labels, self.num_classes),
            ("region_expert", self.regions, self.num_regions),
        ):
            if labels is None or count <= 0 or labels.shape[0] != batch:
                continue
            per_sample = routed.view(batch, -1, routed.shape[1]).sum(dim=1, dtype=torch.float32)
            counts = torch.zeros(count, routed.shape[1], device=routed.device)
            self.add(name, counts.index_add_(0, labels.to(routed.device).long(), per_sample))

    def keep_choice(self, choice: torch.Tensor) -> None:
        """Keep the top-1 choice per token of this forward (only called while ``capture`` is on)."""
        self.captured = choice.detach().reshape(-1)

    def step_done(self) -> None:
        self._steps += 1

    def take(self) -> dict[str, Any]:
        """The facts since the last take, averaged per step where they are rates; then reset."""
        steps = max(self._steps, 1)
        out: dict[str, Any] = {"kind": self.kind, "num_experts": self.num_experts, "steps": self._steps}
        for name, total in self._sums.items():
            array = total.cpu().numpy()
            out[name] = array if name in _SUMMED else array / steps
            if out[name].ndim == 0:
                out[name] = float(out[name])
        for name, number in self._counts.items():
            out[name] = number if name in _SUMMED else number / steps
        self._sums.clear()
        self._counts.clear()
        self._steps = 0
        return out


# Facts that are counts over the whole period (not averaged per step).
_SUMMED = frozenset(
    {
        "tokens_per_expert",
        "tokens_per_group",
        "slots",
        "dropped_tokens",
        "routed_tokens",
        "class_expert",
        "region_expert",
        "usage",
    }
)


def routing_summary(facts: dict[str, Any]) -> dict[str, Any]:
    """The statistics MoE libraries report, from one ``take()``: utilization per expert
    (load over its fair share T·k/E; 0 = dead), dead experts, coefficient of variation,
    max/mean and max/min of load, the share of the busiest and idlest 20% of experts,
    dropped-token share, and router entropy."""
    load = np.asarray(facts.get("tokens_per_expert", []), dtype=np.float64)
    if load.size == 0 or load.sum() == 0:
        return {}
    experts = load.size
    slots = float(facts.get("slots", load.sum())) or float(load.sum())
    utilization = load / (slots / experts)
    ranked = np.sort(load)[::-1]
    fifth = max(1, round(experts * 0.2))
    routed = float(facts.get("routed_tokens", 0.0))
    return {
        "utilization": utilization,
        "dead_experts": [int(i) for i in np.flatnonzero(load == 0)],
        "cv": float(load.std() / load.mean()),
        "max_over_mean": float(load.max() / load.mean()),
        "max_over_min": float(load.max() / load.min()) if load.min() > 0 else float("inf"),
        "busiest_20_share": float(ranked[:fifth].sum() / load.sum()),
        "idlest_20_share": float(ranked[-fifth:].sum() / load.sum()),
        "dropped_share": float(facts.get("dropped_tokens", 0.0)) / routed if routed else 0.0,
        "entropy": float(facts.get("entropy", 0.0)),
    }
