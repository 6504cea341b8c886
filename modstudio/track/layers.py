"""The conditional layers a :class:`~modstudio.track.Tracker` follows, each with a routing probe.

- Built by ModStudio (``GraphNet``, also over a project ``modstudio import`` made): the training forms
  of the routing layers own a :class:`RoutingProbe` already; the tracker switches them on for
  training forwards (a validation pass in eval mode is not counted, as for the other layers).
- Exported by ModStudio (the Python export's static classes ``MixtureOfExperts``, ``HierarchicalMoE``,
  ``HardGate``): recognised by the methods they route with, given a probe, and followed by wrapping
  that one method of the instance; what is recorded is computed by the training forms' own code
  (``moe.MixtureOfExperts._record``, ``hierarchy.HierarchicalMoE._record``, the top-k facts), so the
  counts equal the engine's for the same weights and batches.
- Anything else through an adapter (:class:`RouterOutputs`, :func:`hugging_face`): a function that
  gives a layer's router logits (and, if it knows them, the chosen experts) from its forward, or the
  loop calls :meth:`Tracker.record_routing` with them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from modstudio.blocks.layers.hierarchy import HierarchicalMoE
from modstudio.blocks.layers.moe import MixtureOfExperts, _facts_of_choices
from modstudio.blocks.layers.routing import RoutingProbe

# what a router function gives: the logits [..., experts], or (logits, chosen experts [..., k])
Routed = torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]
RouterFunction = Callable[[nn.Module, tuple[Any, ...], Any], Any]


class TrackError(ValueError):
    """A tracker that cannot do what it was asked, in one sentence."""


def record_choices(probe: RoutingProbe, logits: torch.Tensor, chosen: torch.Tensor | None, k: int = 1) -> None:
    """One step of a layer given its router logits [..., E] and the experts each token went to
    ([..., k] ids, or None: the top ``k`` logits), counted as ModStudio's top-k gates count them."""
    flat = logits.detach().reshape(-1, logits.shape[-1]).float()
    probs = flat.softmax(dim=-1)
    if chosen is None:
        chosen = probs.topk(min(k, probs.shape[-1]), dim=-1).indices
    picked = chosen.detach().reshape(probs.shape[0], -1).long()
    probe.defer(_facts_of_choices, -1, probs=probs, picked=picked, logits=flat)  # no labels: -1 never matches a batch
    probe.add("dropped_tokens", 0.0)
    probe.add("slots", float(picked.numel()))
    probe.add("routed_tokens", float(probs.shape[0]))
    probe.step_done()


@dataclass
class RouterOutputs:
    """An adapter for a user layer: ``router(module, inputs, output)`` returns the router logits
    [..., experts], or (logits, chosen experts [..., k]); a tuple or list of those is one layer each
    (``<path>.0``, ``<path>.1``, ...). ``k``: how many experts a token goes to when only logits are given."""

    router: RouterFunction
    k: int = 1


def hugging_face(k: int = 2) -> RouterOutputs:
    """An adapter for modules that return router logits as Hugging Face's MoE models do: a forward
    output with ``router_logits`` (``output_router_logits=True``: one tensor per MoE layer) or a
    sparse MoE block's ``(hidden_states, router_logits)``. ``k``: the model's ``num_experts_per_tok``."""
    return RouterOutputs(_router_logits_of, k)


def _router_logits_of(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> Any:
    found = output.get("router_logits") if isinstance(output, dict) else getattr(output, "router_logits", None)
    if found is None and isinstance(output, tuple) and len(output) == 2 and isinstance(output[1], torch.Tensor):
        found = output[1]
    if found is None:
        raise TrackError(
            f"{type(module).__name__} returned no router logits (no 'router_logits' in its output, and not "
            "(hidden_states, router_logits)); Hugging Face models need output_router_logits=True"
        )
    return found


class Followed:
    """The probes the tracker reads, by layer path, and the hooks it added (removed by ``detach``)."""

    def __init__(self) -> None:
        self.probes: dict[str, RoutingProbe] = {}
        self.layout: dict[str, dict[str, Any]] = {}
        self._undo: list[Callable[[], None]] = []

    def detach(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()

    def add(self, path: str, probe: RoutingProbe, module: nn.Module | None = None) -> RoutingProbe:
        if path in self.probes:
            raise TrackError(f"the layer '{path}' is followed twice")
        probe.enabled = True
        self.probes[path] = probe
        info: dict[str, Any] = {"kind": probe.kind, "num_experts": probe.num_experts}
        for key in ("groups", "gate", "capacity_factor"):
            value = getattr(module, key, None)
            if isinstance(value, (int, float, str)) and not isinstance(value, bool):
                info[key] = value
        self.layout[path] = info
        return probe

    def follow_model(self, model: nn.Module) -> None:
        """The routing layers ModStudio built or exported, anywhere in ``model``."""
        for path, module in model.named_modules():
            if isinstance(getattr(module, "probe", None), RoutingProbe):
                probe = self.add(path, module.probe, module)
                handle = module.register_forward_pre_hook(_count_when_training)  # not validation passes
                self._undo.append(handle.remove)
                self._undo.append(lambda probe=probe: setattr(probe, "enabled", False))
            elif _has(module, "router_scores", "_combine") and hasattr(module, "num_experts"):
                self._wrap(path, module, "_combine", RoutingProbe(module.num_experts, "moe"), _after_moe)
            elif _has(module, "route", "joint_probs") and hasattr(module, "groups"):
                self._wrap(path, module, "route", RoutingProbe(len(module.experts), "hierarchical_moe"), _after_hmoe)
            elif _has(module, "choose") and hasattr(module, "choices") and hasattr(module, "branches"):
                self._wrap(path, module, "choose", RoutingProbe(module.choices, "gate"), _after_gate)

    def follow(self, path: str, module: nn.Module, adapter: RouterOutputs) -> None:
        """A user layer through an adapter; its probes appear at its first training forward."""

        def after(mod: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            if not mod.training:
                return
            routed = adapter.router(mod, inputs, output)
            many = isinstance(routed, (list, tuple)) and not _is_pair(routed)
            for name, item in _named(path, routed if many else [routed], many):
                logits, chosen = item if _is_pair(item) else (item, None)
                probe = self.probes.get(name)
                if probe is None:
                    probe = self.add(name, RoutingProbe(int(logits.shape[-1]), "moe"))
                record_choices(probe, logits, chosen, adapter.k)

        handle = module.register_forward_hook(after)
        self._undo.append(handle.remove)

    def _wrap(self, path: str, module: nn.Module, method: str, probe: RoutingProbe, after: Any) -> None:
        """Keep what ``method`` returns in a training forward; the forward hook records it."""
        original = getattr(module, method)

        def kept(*args: Any) -> Any:
            result = original(*args)
            if module.training and probe.enabled:
                module.__dict__["_tracked_routing"] = (args, result)
            return result

        module.__dict__[method] = kept
        module.__dict__["probe"] = self.add(path, probe, module)

        def hook(mod: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            kept = mod.__dict__.pop("_tracked_routing", None)
            if kept is not None:
                after(mod, inputs[0], *kept)

        handle = module.register_forward_hook(hook)

        def undo() -> None:
            handle.remove()
            for key in (method, "probe", "_tracked_routing"):
                module.__dict__.pop(key, None)

        self._undo.append(undo)


def _after_moe(module: nn.Module, x: torch.Tensor, args: tuple[Any, ...], result: Any) -> None:
    scores, probs = args
    combine, picked = result
    logits = scores  # the router's logits, but for a noisy gate while training: then computed again, clean
    if getattr(module, "noise", None) is not None:
        with torch.no_grad():
            logits = module.router(x.reshape(-1, x.shape[-1])).float()
    MixtureOfExperts._record(module, x, probs, combine, picked, logits)  # type: ignore[arg-type]


def _after_hmoe(module: nn.Module, x: torch.Tensor, args: tuple[Any, ...], result: Any) -> None:
    group_logits, inner_logits, group_idx, _expert_idx, combine = result
    with torch.no_grad():
        joint = module.joint_probs(group_logits, inner_logits)
    HierarchicalMoE._record(module, x, joint, combine, group_idx)  # type: ignore[arg-type]


def _after_gate(module: nn.Module, x: torch.Tensor, args: tuple[Any, ...], result: Any) -> None:
    logits, onehot = result
    record_choices(module.probe, logits, onehot.argmax(dim=-1, keepdim=True))


def _count_when_training(module: nn.Module, inputs: tuple[Any, ...]) -> None:
    module.probe.enabled = module.training


def _has(module: nn.Module, *methods: str) -> bool:
    return all(callable(getattr(module, name, None)) for name in methods)


def _is_pair(value: Any) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and isinstance(value[0], torch.Tensor)
        and (value[1] is None or isinstance(value[1], torch.Tensor))
        and (value[1] is None or value[1].dtype in (torch.int64, torch.int32))
    )


def _named(path: str, items: Any, many: bool) -> Iterator[tuple[str, Any]]:
    for index, item in enumerate(items):
        yield (f"{path}.{index}" if path else str(index)) if many else path, item
