"""Routing probes: what each conditional node (MoE, gate, router) did in the last step.

Every conditional layer owns a :class:`RoutingProbe`. Probes are off by default; the
engine switches them on, hands them the batch labels, and reads them between steps:

    enable_probes(net, True)
    set_probe_labels(net, y)           # optional: enables the class x expert matrix
    loss = task_loss + aux_loss(net)   # weighted auxiliary losses of every MoE layer
    ...
    facts = {path: probe.take() for path, probe in probes_of(net).items()}

Recording is cheap: a few tensor reductions kept on the device, no host sync until
``take()``. Facts are plain floats and numpy arrays, ready for the worker's pipe.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn


class RoutingProbe:
    """Accumulates routing facts between two ``take()`` calls (one or more steps)."""

    def __init__(self, num_experts: int, kind: str = "moe") -> None:
        self.num_experts = num_experts
        self.kind = kind  # "moe", "gate", "router", ... (what the dashboard draws)
        self.enabled = False
        self.labels: torch.Tensor | None = None
        self.num_classes = 0
        self._sums: dict[str, torch.Tensor] = {}
        self._steps = 0

    def add(self, name: str, value: torch.Tensor) -> None:
        """Add a (detached) tensor to the running sum of ``name``."""
        value = value.detach().float()
        previous = self._sums.get(name)
        self._sums[name] = value if previous is None else previous + value

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
        self._sums.clear()
        self._steps = 0
        return out


# Facts that are counts over the whole period (not averaged per step).
_SUMMED = frozenset({"tokens_per_expert", "dropped_tokens", "routed_tokens", "class_expert", "usage"})


def probes_of(net: nn.Module) -> dict[str, RoutingProbe]:
    """Every probe in the network, keyed by the owning submodule's path (``moe1``, ``block.gate``)."""
    return {name: module.probe for name, module in _probed(net)}


def _probed(net: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    for name, module in net.named_modules():
        probe = getattr(module, "probe", None)
        if isinstance(probe, RoutingProbe):
            yield name, module


def enable_probes(net: nn.Module, enabled: bool = True) -> None:
    for _, module in _probed(net):
        module.probe.enabled = enabled


def set_probe_labels(net: nn.Module, labels: torch.Tensor | None, num_classes: int = 0) -> None:
    """Labels of the current batch (one per sample), for class x expert counts."""
    for _, module in _probed(net):
        module.probe.labels = labels
        module.probe.num_classes = num_classes


def aux_loss(net: nn.Module) -> torch.Tensor | float:
    """Sum of the weighted auxiliary losses every conditional layer computed in its last forward."""
    total: torch.Tensor | float = 0.0
    for module in net.modules():
        losses = getattr(module, "aux_losses", None)
        if losses:
            for value in losses.values():
                total = total + value
    return total


def aux_loss_values(net: nn.Module) -> dict[str, float]:
    """The last auxiliary losses by ``<module path>.<loss name>``, as floats (for logging)."""
    out: dict[str, float] = {}
    for name, module in net.named_modules():
        for key, value in (getattr(module, "aux_losses", None) or {}).items():
            out[f"{name}.{key}" if name else key] = float(value.detach())
    return out
