"""Weights a project attaches to its network: a run's starting weights and grafted nodes.

``training.init_weights`` names a whole-network ``.safetensors`` file; a node's ``weights``
names a file and the key prefix of its module's tensors in it (``"best.safetensors#block1."``,
see graph/graft.py). Relative paths start at the project file's folder. ``apply_project_weights``
loads the starting weights, then every grafted node's (which win); ``freeze_nodes`` stops
training of frozen nodes: their parameters get ``requires_grad = False`` and the node always
runs in eval mode (batch-norm statistics and dropout stay as trained), so a training step
leaves every tensor of it unchanged. A node's ``frozen_parts`` freeze parts of its layer the same
way (expert surgery: all experts of a mixture but one).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import torch
from torch import nn

from modstudio.graph.graft import split_weights
from modstudio.graph.model import Node, Project

from .graphnet import GraphNet


class WeightsError(ValueError):
    """Weights that cannot be found, read or fitted; the message names the file and the keys."""


def resolve_path(reference: str, base_dir: Path | None) -> Path:
    path = Path(reference).expanduser()
    if path.is_absolute():
        return path
    if base_dir is None:
        raise WeightsError(f"weights file '{reference}' is relative, but the project has not been saved: save it first")
    return base_dir / path


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path} is not a readable .safetensors file: {exc}") from None


def fit_problems(
    state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], owner: str = "network"
) -> list[str]:
    """What keeps ``state`` from loading into a module whose state dict is ``expected`` (``owner``: who has it)."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{k} {tuple(state[k].shape)} (the {owner} has {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    for label, items in (("missing", missing), ("unknown", unexpected), ("wrong shapes:", wrong)):
        if items:
            problems.append(f"{label} {', '.join(items[:5])}{' ...' if len(items) > 5 else ''}")
    return problems


def node_paths(net: nn.Module, node_id: str) -> list[str]:
    """Paths (in ``net.state_dict()`` terms) of every submodule built for a node, at any depth."""
    out = []
    for path, module in net.named_modules():
        if isinstance(module, GraphNet) and node_id in module.node_names:
            name = module.node_names[node_id]
            out.append(f"{path}.{name}" if path else name)
    return out


def module_paths(net: nn.Module, module_name: str) -> list[str]:
    """Paths of every GraphNet that runs the ModuleDef ``module_name`` (where its weights live)."""
    return [path for path, m in net.named_modules() if isinstance(m, GraphNet) and m.module_name == module_name]


def _nodes(project: Project) -> Iterator[Node]:
    for module in project.modules.values():
        yield from module.nodes


def load_init_weights(net: nn.Module, project: Project, base_dir: Path | None) -> None:
    reference = project.training.init_weights
    if reference is None:
        return
    path = resolve_path(reference, base_dir)
    state = read_tensors(path)
    problems = fit_problems(state, net.state_dict())
    if problems:
        raise WeightsError(f"the initial weights in {path} do not fit this network: {'; '.join(problems)}")
    net.load_state_dict(state, strict=True)


def load_grafted_weights(net: nn.Module, project: Project, base_dir: Path | None) -> list[str]:
    """Load every node's attached weights; returns the paths that received them."""
    loaded: list[str] = []
    files: dict[Path, dict[str, torch.Tensor]] = {}
    for node in _nodes(project):
        if node.weights is None:
            continue
        file, prefix = split_weights(node.weights)
        path = resolve_path(file, base_dir)
        if path not in files:
            files[path] = read_tensors(path)
        selected = {k[len(prefix) :]: v for k, v in files[path].items() if k.startswith(prefix)}
        if not selected:
            raise WeightsError(f"'{node.name}': {path} has no tensors under the prefix '{prefix}'")
        for where in node_paths(net, node.id):
            target = net.get_submodule(where)
            problems = fit_problems(selected, target.state_dict())
            if problems:
                raise WeightsError(
                    f"'{node.name}': the weights under '{prefix}' in {path} do not fit it: {'; '.join(problems)}"
                )
            target.load_state_dict(selected, strict=True)
            loaded.append(where)
    return loaded


def _stay_in_eval(module: nn.Module, args: object) -> None:
    module.train(False)


def freeze_paths(net: nn.Module, paths: list[str]) -> None:
    for path in paths:
        target = net.get_submodule(path)
        target.requires_grad_(False)
        target.register_forward_pre_hook(_stay_in_eval)


def frozen_paths(net: nn.Module, project: Project, strict: bool = True) -> list[str]:
    """Every frozen node's submodules, and the frozen parts (``Node.frozen_parts``) inside the others';
    a part the layer does not have is a WeightsError (``strict``) or left out (counting parameters)."""
    paths = []
    for node in _nodes(project):
        for where in node_paths(net, node.id):
            if node.frozen:
                paths.append(where)
                continue
            for part in node.frozen_parts or ():
                try:
                    net.get_submodule(f"{where}.{part}")
                except AttributeError:
                    if not strict:
                        continue
                    raise WeightsError(f"'{node.name}' has no part '{part}' to keep frozen") from None
                paths.append(f"{where}.{part}")
    return paths


def freeze_nodes(net: nn.Module, project: Project, strict: bool = True) -> list[str]:
    """Freeze every frozen node's submodules (and frozen parts); returns their paths."""
    paths = frozen_paths(net, project, strict)
    freeze_paths(net, paths)
    return paths


def apply_project_weights(net: nn.Module, project: Project, base_dir: Path | None) -> list[str]:
    """Starting weights, then grafted nodes' weights; returns the paths that got grafted weights."""
    load_init_weights(net, project, base_dir)
    return load_grafted_weights(net, project, base_dir)
