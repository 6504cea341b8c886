"""Routing probes: what each conditional node (MoE, gate, router) did in the last step.

Every conditional layer owns a :class:`RoutingProbe`. Probes are off by default; the
engine switches them on, hands them the batch labels, and reads them between steps:

    enable_probes(net, True)
    set_probe_labels(net, y)           # optional: enables the class x expert matrix
    loss = task_loss + aux_loss(net)   # weighted auxiliary losses of every MoE layer
    ...
    facts = {path: probe.take() for path, probe in probes_of(net).items()}

Recording is cheap: a probed MoE step only keeps references to its router probabilities and
choices (``RoutingProbe.defer``); the facts are computed at ``take()``, each op once over all
the steps kept since (at most 16 are kept before they are folded), with no host sync before
then. Facts are plain floats and numpy arrays, ready for the worker's pipe.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from modstudio.blocks.layers.routing import RoutingProbe

__all__ = [
    "RoutingProbe",
    "aux_loss",
    "aux_loss_values",
    "enable_probes",
    "probe_layout",
    "probes_of",
    "set_probe_labels",
]


def probes_of(net: nn.Module) -> dict[str, RoutingProbe]:
    """Every probe in the network, keyed by the owning submodule's path (``moe1``, ``block.gate``)."""
    return {name: module.probe for name, module in _probed(net)}


def probe_layout(net: nn.Module) -> dict[str, dict[str, Any]]:
    """What a dashboard needs to lay out each probed layer before its first facts arrive:
    ``kind``, ``num_experts``, and where they apply ``groups`` (hierarchical MoE), ``gate`` and
    ``capacity_factor`` (MoE gates that cap the tokens per expert)."""
    out: dict[str, dict[str, Any]] = {}
    for name, module in _probed(net):
        info: dict[str, Any] = {"kind": module.probe.kind, "num_experts": module.probe.num_experts}
        for key in ("groups", "gate", "capacity_factor"):
            value = getattr(module, key, None)
            if isinstance(value, (int, float, str)) and not isinstance(value, bool):
                info[key] = value
        out[name] = info
    return out


def _probed(net: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """The conditional layers of ``net``; found once per network and remembered (the engine asks every step)."""
    found = net.__dict__.get("_routing_layers")
    if found is None:
        found = [(name, m) for name, m in net.named_modules() if isinstance(getattr(m, "probe", None), RoutingProbe)]
        net.__dict__["_routing_layers"] = found
    return iter(found)


def enable_probes(net: nn.Module, enabled: bool = True) -> None:
    for _, module in _probed(net):
        module.probe.enabled = enabled


def set_probe_labels(
    net: nn.Module,
    labels: torch.Tensor | None,
    num_classes: int = 0,
    regions: torch.Tensor | None = None,
    num_regions: int = 0,
) -> None:
    """Labels of the current batch (one per sample), for class x expert counts; optionally the
    data region of each sample (the regimes data keeps it) for region x expert counts."""
    for _, module in _probed(net):
        probe = module.probe
        probe.labels, probe.num_classes = labels, num_classes
        probe.regions, probe.num_regions = regions, num_regions


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
