"""The routing probe a conditional layer owns (read by the engine through compile.probes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

FOLD_AFTER = 16  # steps kept before they are summed (bounds memory when nobody takes)

# facts(stacked raw tensors [steps, ...], labels [steps, batch] or None, regions likewise)
# -> summed facts over those steps (names as for ``add``)
Facts = Callable[..., dict[str, torch.Tensor]]


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
        self._pending: dict[str, list[torch.Tensor]] = {}  # this period's values, summed when folded
        self._counts: dict[str, float] = {}  # plain numbers known on the host
        self._deferred: list[tuple[Any, dict[str, torch.Tensor], torch.Tensor | None, torch.Tensor | None]] = []
        self._steps = 0

    def add(self, name: str, value: torch.Tensor | float) -> None:
        """Add a tensor or a number to the running sum of ``name``.

        A tensor is only kept (detached, a reference, no copy): the per-step values are summed
        in one stacked operation when ``take()`` asks, or every ``FOLD_AFTER`` steps, so a
        probed step costs a handful of small ops, not three per fact (issue 3: probes on may
        cost at most 3% of a train step). Values are never changed in place.
        """
        if isinstance(value, torch.Tensor):
            pending = self._pending.setdefault(name, [])
            pending.append(value.detach())
            if len(pending) >= FOLD_AFTER:
                self._fold(name)
        else:
            self._counts[name] = self._counts.get(name, 0.0) + value

    def defer(self, facts: Facts, batch: int, **raw: torch.Tensor) -> None:
        """Keep this step's raw routing tensors (references, no copies) and compute its facts
        later, together with the other steps kept meanwhile: ``facts`` gets every raw tensor
        stacked over the steps ([steps, ...]) with the labels and regions of those steps, and
        returns the facts summed over them. Per step this costs a few Python appends instead of
        a dozen small tensor ops; at ``take()`` each op runs once over all the kept steps.
        ``batch``: samples in this step (labels that do not match it are not used)."""
        labels = self.labels if self.labels is not None and self.labels.shape[0] == batch else None
        regions = self.regions if self.regions is not None and self.regions.shape[0] == batch else None
        key = (
            facts,
            tuple((name, tuple(t.shape), t.dtype) for name, t in raw.items()),
            None if labels is None else (tuple(labels.shape), self.num_classes),
            None if regions is None else (tuple(regions.shape), self.num_regions),
        )
        self._deferred.append((key, {k: v.detach() for k, v in raw.items()}, labels, regions))
        if len(self._deferred) >= FOLD_AFTER:
            self._fold_deferred()

    def _fold_deferred(self) -> None:
        groups: dict[Any, list[tuple[dict[str, torch.Tensor], torch.Tensor | None, torch.Tensor | None]]] = {}
        for key, raw, labels, regions in self._deferred:
            groups.setdefault(key, []).append((raw, labels, regions))
        self._deferred.clear()
        for key, steps in groups.items():
            facts = key[0]
            stacked = {name: torch.stack([raw[name] for raw, _, _ in steps]) for name in steps[0][0]}
            labels = torch.stack([s[1] for s in steps]) if key[2] is not None else None  # type: ignore[misc]
            regions = torch.stack([s[2] for s in steps]) if key[3] is not None else None  # type: ignore[misc]
            for name, value in facts(self, labels=labels, regions=regions, **stacked).items():
                self.add(name, value)

    def label_counts(
        self, labels: torch.Tensor | None, regions: torch.Tensor | None, cells: Any
    ) -> dict[str, torch.Tensor]:
        """class_expert / region_expert from ``cells(labels, count)`` for what the engine gave."""
        out = {}
        if labels is not None and self.num_classes > 0:
            out["class_expert"] = cells(labels, self.num_classes)
        if regions is not None and self.num_regions > 0:
            out["region_expert"] = cells(regions, self.num_regions)
        return out

    def _fold(self, name: str) -> None:
        pending = self._pending.pop(name, None)
        if not pending:
            return
        total = torch.stack(pending).float().sum(dim=0)
        previous = self._sums.get(name)
        self._sums[name] = total if previous is None else previous + total

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
        self._fold_deferred()
        for name in list(self._pending):
            self._fold(name)
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
        "demand_per_expert",
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
    load = torch.as_tensor(facts.get("tokens_per_expert", []), dtype=torch.float64).reshape(-1)
    if load.numel() == 0 or float(load.sum()) == 0:
        return {}
    experts = load.numel()
    total, mean, low, high = float(load.sum()), float(load.mean()), float(load.min()), float(load.max())
    slots = float(facts.get("slots", total)) or total
    ranked = load.sort(descending=True).values
    fifth = max(1, round(experts * 0.2))
    routed = float(facts.get("routed_tokens", 0.0))
    return {
        "utilization": (load / (slots / experts)).numpy(),
        "dead_experts": [int(i) for i in torch.nonzero(load == 0).reshape(-1)],
        "cv": float(load.std(unbiased=False)) / mean,
        "max_over_mean": high / mean,
        "max_over_min": high / low if low > 0 else float("inf"),
        "busiest_20_share": float(ranked[:fifth].sum()) / total,
        "idlest_20_share": float(ranked[-fifth:].sum()) / total,
        "dropped_share": float(facts.get("dropped_tokens", 0.0)) / routed if routed else 0.0,
        "entropy": float(facts.get("entropy", 0.0)),
    }
