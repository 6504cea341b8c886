"""Where each sample went inside the network, and the network with one expert or member removed.

A *routed layer* is a conditional or composite layer whose parts each handle some samples:

- ``moe`` / ``hierarchical_moe``: the router's first choice per token (the probe's capture);
  a sample of several tokens counts for the expert most of its tokens chose;
- ``gate`` (hard gate): the branch each sample took (the last one is the skip, when allowed);
- ``tree`` (class tree) and ``one_vs_rest``: the branch or member that scores the class the
  layer puts first;
- ``ensemble``: every member sees every sample; each member's own prediction is kept.

``removed(layer, unit)`` takes one part out while the network runs: a router's logit of that
expert (or branch) becomes −inf, so the softmax and top-k renormalise over the rest; an
ensemble averages (or weighs) the other members; a tree or one-vs-rest layer can no longer
put that part's classes first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from modstudio.blocks.layers.compositions import ClassTree, Ensemble, OneVsRest
from modstudio.blocks.layers.routing import RoutingProbe
from modstudio.graph.model import Project

FAR_BELOW = -1e9  # a class score no other score is below (finite: later layers may still add to it)
NAME_PARAMS = ("branches", "members", "experts")


@dataclass
class RoutedLayer:
    path: str
    kind: str  # moe, hierarchical_moe, gate, tree, one_vs_rest, ensemble
    names: list[str]  # one per unit (expert, branch, member)
    module: nn.Module
    choices: list[np.ndarray] = field(default_factory=list)  # per batch: the unit of each sample
    member_outputs: list[list[np.ndarray]] = field(default_factory=list)  # ensembles: per batch, per member
    owners: np.ndarray | None = None  # tree: the branch that scores each class (known after a recorded forward)

    def choice(self) -> np.ndarray:
        return np.concatenate(self.choices) if self.choices else np.zeros(0, dtype=np.int64)

    def member_predictions(self) -> list[np.ndarray]:
        """Ensembles: each member's argmax over its own output, over all batches."""
        if not self.member_outputs:
            return []
        return [np.concatenate([batch[m] for batch in self.member_outputs]) for m in range(len(self.names))]


def _node_names(project: Project, path: str) -> list[str] | None:
    """The module names a node's parameters give to its parts (branches, members, experts), by the node's name."""
    name = path.rsplit(".", 1)[-1]
    for module in project.modules.values():
        for node in module.nodes:
            if node.name != name:
                continue
            for key in NAME_PARAMS:
                value = node.params.get(key)
                if isinstance(value, list) and all(isinstance(v, str) for v in value):
                    return list(value)
    return None


def _names(project: Project, path: str, count: int, word: str) -> list[str]:
    given = _node_names(project, path)
    if given is not None and len(given) == count:
        return [f"{word} {i} ({n})" for i, n in enumerate(given)]
    return [f"{word} {i}" for i in range(count)]


def routed_layers(net: nn.Module, project: Project) -> list[RoutedLayer]:
    """Every routed layer of ``net`` in module order, with names for its parts."""
    out: list[RoutedLayer] = []
    for path, module in net.named_modules():
        probe = getattr(module, "probe", None)
        if isinstance(probe, RoutingProbe):
            kind = probe.kind if probe.kind in ("moe", "hierarchical_moe", "gate") else "moe"
            if kind == "gate":
                names = _names(project, path, len(module.branches), "branch")
                out.append(RoutedLayer(path, kind, names + (["skip"] if module.allow_skip else []), module))
            elif kind == "hierarchical_moe":
                per = module.per_group
                names = [f"group {e // per} expert {e % per}" for e in range(probe.num_experts)]
                out.append(RoutedLayer(path, kind, names, module))
            else:
                out.append(RoutedLayer(path, kind, [f"expert {e}" for e in range(probe.num_experts)], module))
        elif isinstance(module, ClassTree):
            out.append(RoutedLayer(path, "tree", _names(project, path, len(module.branches), "branch"), module))
        elif isinstance(module, OneVsRest):
            out.append(RoutedLayer(path, "one_vs_rest", [f"member {i}" for i in range(len(module.members))], module))
        elif isinstance(module, Ensemble) and module.combine != "concat":
            out.append(RoutedLayer(path, "ensemble", _names(project, path, len(module.members), "member"), module))
    return out


def branch_of_class(tree: ClassTree, widths: list[int]) -> np.ndarray:
    """Which branch scores each class: class c sits at ``class_position[c]`` of the branches' outputs side by side."""
    bounds = np.cumsum(widths)
    position = tree.class_position.detach().cpu().numpy()
    return np.searchsorted(bounds, position, side="right")


def _mode_per_sample(choice: torch.Tensor, samples: int) -> np.ndarray:
    """The unit most of a sample's tokens chose (one token per sample: that token's unit)."""
    per = choice.reshape(samples, -1).cpu()
    if per.shape[1] == 1:
        return per[:, 0].numpy().astype(np.int64)
    return torch.mode(per, dim=1).values.numpy().astype(np.int64)


@contextlib.contextmanager
def recording(layers: list[RoutedLayer]) -> Iterator[None]:
    """While inside, each forward of the network appends to every layer's ``choices`` (and member outputs)."""
    handles: list[Any] = []
    saved: list[tuple[RoutingProbe, bool, bool]] = []

    def probed(layer: RoutedLayer) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            captured = module.probe.captured
            if captured is not None:
                layer.choices.append(_mode_per_sample(captured, args[0].shape[0]))
                module.probe.captured = None

        return hook

    def scored(layer: RoutedLayer, widths: list[int]) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> None:
            first = output.detach().reshape(output.shape[0], -1).argmax(-1).cpu().numpy()
            if layer.kind == "tree":
                layer.owners = branch_of_class(module, widths[: len(module.branches)])
                first = layer.owners[first]
            layer.choices.append(first)

        return hook

    def members(layer: RoutedLayer, outputs: list[np.ndarray]) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> None:
            outputs.append(output.detach().reshape(output.shape[0], -1).argmax(-1).cpu().numpy())
            if len(outputs) == len(layer.names):
                layer.member_outputs.append(list(outputs))
                outputs.clear()

        return hook

    for layer in layers:
        module = layer.module
        if layer.kind in ("moe", "hierarchical_moe", "gate"):
            saved.append((module.probe, module.probe.enabled, module.probe.capture))
            module.probe.enabled, module.probe.capture = False, True
            handles.append(module.register_forward_hook(probed(layer)))
        elif layer.kind == "tree":
            widths: list[int] = []  # each branch's output width, from the first forward
            for i, branch in enumerate(module.branches):
                handles.append(branch.register_forward_hook(lambda m, a, o, w=widths, i=i: _width(w, i, o)))
            handles.append(module.register_forward_hook(scored(layer, widths)))
        elif layer.kind == "one_vs_rest":
            handles.append(module.register_forward_hook(scored(layer, [])))
        else:
            pending: list[np.ndarray] = []
            for member in module.members:
                handles.append(member.register_forward_hook(members(layer, pending)))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        for probe, enabled, capture in saved:
            probe.enabled, probe.capture, probe.captured = enabled, capture, None


def _width(widths: list[int], index: int, output: torch.Tensor) -> None:
    if len(widths) == index:
        widths.append(int(output.shape[-1]))


@contextlib.contextmanager
def removed(layer: RoutedLayer, unit: int) -> Iterator[None]:
    """The network with one part of ``layer`` taken out (see the module's docstring)."""
    module = layer.module
    handles: list[Any] = []

    def mask_columns(columns: torch.Tensor, value: float) -> Any:
        def hook(m: nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor:
            output = output.clone()
            output[..., columns.to(output.device)] = value
            return output

        return hook

    one = torch.tensor([unit])
    if layer.kind in ("moe", "gate"):
        handles.append(module.router.register_forward_hook(mask_columns(one, float("-inf"))))
    elif layer.kind == "hierarchical_moe":
        handles.append(module.secondary.register_forward_hook(mask_columns(one, float("-inf"))))
        if module.per_group == 1:  # the group is that expert alone: the primary gate may not pick it either
            handles.append(module.primary.register_forward_hook(mask_columns(one, float("-inf"))))
    elif layer.kind == "tree":
        if layer.owners is None:
            raise ValueError(f"'{layer.path}': record a forward before removing a branch")
        columns = torch.from_numpy(np.flatnonzero(layer.owners == unit))
        handles.append(module.register_forward_hook(mask_columns(columns, FAR_BELOW)))
    elif layer.kind == "one_vs_rest":
        handles.append(module.register_forward_hook(mask_columns(one, FAR_BELOW)))
    if layer.kind != "ensemble":
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()
        return
    members, logits = module.members, module.member_logits
    keep = [i for i in range(len(members)) if i != unit]
    module.members = nn.ModuleList([members[i] for i in keep])
    if logits is not None:
        module.member_logits = nn.Parameter(logits.detach()[keep].clone(), requires_grad=False)
    try:
        yield
    finally:
        module.members = members
        if logits is not None:
            module.member_logits = logits
