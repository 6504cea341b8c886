"""The mixture node a surgery works on, and the edits of its tensors (state-dict keys in, keys out).

A mixture-of-experts node ``moe`` holds, under each path where its module runs (``node_paths``),
``router.weight`` [E, D], ``noise.weight`` [E, D] for the noisy gate and ``experts.<i>.*`` per
expert. Each edit maps the run's whole state dict to the edited network's; what it does not touch
is copied as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from modstudio.graph.model import Node, Project

from .errors import SurgeryError

ROUTER_ROWS = ("router.weight", "noise.weight")  # [experts, dim]: one row per expert


@dataclass(frozen=True)
class Target:
    """A node of the project, found by name (and module)."""

    module: str
    node: Node


def find_node(project: Project, name: str, module: str | None = None) -> Target:
    """The node named ``name`` (in ``module``, or the only module that has one); SurgeryError otherwise."""
    modules = [module] if module is not None else list(project.modules)
    if module is not None and module not in project.modules:
        raise SurgeryError(f"there is no module '{module}' (modules: {', '.join(project.modules)})")
    found = [Target(m, n) for m in modules for n in project.modules[m].nodes if n.name == name]
    if not found:
        where = f"module '{module}'" if module is not None else "the project"
        raise SurgeryError(f"{where} has no node named '{name}'")
    if len(found) > 1:
        raise SurgeryError(
            f"several modules have a node named '{name}' ({', '.join(t.module for t in found)}); name one with --module"
        )
    return found[0]


def find_mixture(project: Project, name: str, module: str | None = None) -> Target:
    target = find_node(project, name, module)
    if target.node.block != "moe":
        kind = target.node.block or f"a use of module {target.node.module}"
        raise SurgeryError(f"'{name}' is {kind}, not a Mixture of Experts node")
    return target


def expert_names(node: Node) -> list[str]:
    """The experts' modules, one per expert (a single listed module repeated ``num_experts`` times)."""
    names = list(node.params.get("experts") or ["Expert"])
    count = node.params.get("num_experts")
    if isinstance(count, int) and len(names) == 1:
        return names * count
    return names


def experts_params(node: Node, names: list[str]) -> dict[str, object]:
    """The ``experts``/``num_experts`` params that list ``names`` (one module repeated, or the list)."""
    if len(set(names)) == 1 and (node.params.get("num_experts") is not None or len(names) == 1):
        return {"experts": [names[0]], "num_experts": len(names)}
    return {"experts": list(names), "num_experts": None}


def _split(key: str, paths: list[str]) -> tuple[str, str] | None:
    for path in paths:
        if key.startswith(path + "."):
            return path, key[len(path) + 1 :]
    return None


def select_experts(state: Mapping[str, torch.Tensor], paths: list[str], order: list[int]) -> dict[str, torch.Tensor]:
    """The state with each mixture at ``paths`` holding the experts ``order`` (old indices; one may
    repeat) in that order: their ``experts.<i>`` tensors renumbered and the router rows picked."""
    out: dict[str, torch.Tensor] = {}
    rows = torch.tensor(order, dtype=torch.long)
    for key, value in state.items():
        split = _split(key, paths)
        if split is None:
            out[key] = value
            continue
        path, rest = split
        if rest in ROUTER_ROWS:
            out[key] = value.index_select(0, rows).clone()
        elif rest.startswith("experts."):
            index, _, inner = rest[len("experts.") :].partition(".")
            for new, old in enumerate(order):
                if str(old) == index:
                    out[f"{path}.experts.{new}.{inner}"] = value.clone()
        else:
            out[key] = value
    return out


def noisy_copy(tensor: torch.Tensor, noise: float, generator: torch.Generator) -> torch.Tensor:
    """A copy of ``tensor`` plus normal noise of ``noise`` times its spread (the std of its values; of a
    single value, its magnitude), drawn on the CPU from ``generator``. A tensor that is not floating
    point (a count, a mask, indices) is copied exactly and draws nothing. The copy keeps the dtype:
    float64 is computed in float64, float16 and bfloat16 in float32."""
    value = tensor.detach().clone()
    if not value.is_floating_point():
        return value.contiguous()
    work = value.to(torch.promote_types(value.dtype, torch.float32))
    count = work.numel()
    spread = float(work.std()) if count > 1 else abs(float(work.reshape(-1)[0])) if count else 0.0
    draw = torch.randn(work.shape, generator=generator).to(device=work.device, dtype=work.dtype)
    return (work + draw * noise * spread).to(value.dtype).contiguous()


def perturb_expert(
    state: dict[str, torch.Tensor], paths: list[str], original: int, clone: int, noise: float, seed: int
) -> None:
    """Split ``original`` and ``clone`` (equal copies) apart: the clone's tensors get N(0, noise·std)
    added (:func:`noisy_copy`; a single value stays as it is); the two router rows move by ±δ,
    δ ~ N(0, noise·std(row)), so ties between them break both ways (in place)."""
    generator = torch.Generator().manual_seed(seed)
    for path in paths:
        prefix = f"{path}.experts.{clone}."
        for key in sorted(k for k in state if k.startswith(prefix)):
            if state[key].numel() > 1:
                state[key] = noisy_copy(state[key], noise, generator)
        for rest in ROUTER_ROWS:
            key = f"{path}.{rest}"
            if key in state:
                router = state[key].clone()
                row = router[original]
                delta = torch.randn(row.shape, generator=generator).to(row.dtype) * float(row.float().std()) * noise
                router[original], router[clone] = row + delta, row - delta
                state[key] = router


def upcycled(
    state: Mapping[str, torch.Tensor],
    paths: list[str],
    experts: int,
    fresh: Mapping[str, torch.Tensor],
    inner: str = "",
) -> dict[str, torch.Tensor]:
    """The state with the dense node at ``paths`` turned into ``experts`` copies of it under
    ``<path>.experts.<i>.<inner>`` (``inner``: the block's name inside the module made for it);
    the router (and noise) rows come from ``fresh`` (a newly built network)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        split = _split(key, paths)
        if split is None:
            out[key] = value
            continue
        path, rest = split
        for i in range(experts):
            out[f"{path}.experts.{i}.{inner}{rest}"] = value.clone()
    for path in paths:
        for rest in ROUTER_ROWS:
            key = f"{path}.{rest}"
            if key in fresh:
                out[key] = fresh[key].detach().clone()
    return out
