"""FLOPs per sample, per node and per module, from the inferred shapes.

Each block's FLOP rule is part of its spec (``BlockSpec.flops``; the conventions are in
``blocks/costs.py``). This module walks a project: nested modules add up, composition blocks
reach their members' costs through ``MemberCosts``, and a block without a rule (a plugin) is
measured once on its built layer with torch's ``FlopCounterMode`` (one sample, on the meta
device where it builds there) and marked not exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modstudio.blocks.catalog import Catalog, default_catalog
from modstudio.blocks.spec import BlockSpec
from modstudio.blocks.tensors import TensorInfo
from modstudio.graph.model import Project
from modstudio.graph.schema import INPUT_BLOCK, OUTPUT_BLOCK

from .shapes import ModuleShapes, ShapeInference


@dataclass(frozen=True)
class NodeCost:
    """One node's FLOPs per sample; ``path`` is its submodule path in GraphNet (``block.fc1``)."""

    path: str
    name: str
    kind: str
    module: str  # the ModuleDef that holds the node
    depth: int
    flops: int
    exact: bool  # False where element-wise work is approximated, or the count was measured


@dataclass
class FlopCount:
    nodes: list[NodeCost] = field(default_factory=list)
    total: int = 0
    by_module: dict[str, float] = field(default_factory=dict)  # per sample, all uses, nested included

    def share(self, flops: float) -> float:
        return flops / self.total if self.total else 0.0


class FlopCounter:
    """Walks the inferred shapes of a project, accumulating per-node rows and per-module totals."""

    def __init__(self, project: Project, catalog: Catalog) -> None:
        self.project, self.catalog = project, catalog
        self.result = FlopCount()

    def module(self, shapes: ModuleShapes, weight: float, prefix: str = "", depth: int = 0, rows: bool = True) -> int:
        """FLOPs of one run of the module; ``weight``: runs per sample (for the per-module totals)."""
        module = self.project.modules[shapes.module]
        by_id = {node.id: node for node in module.nodes}
        total = 0
        for node_id in shapes.order:
            node = by_id[node_id]
            if node.block in (INPUT_BLOCK, OUTPUT_BLOCK) or node_id not in shapes.nodes:
                continue
            path = f"{prefix}{node.name}"
            row_at = len(self.result.nodes)
            if node.module is not None:
                flops = self.module(shapes.children[node_id], weight, f"{path}.", depth + 1, rows)
                kind, exact = node.module, True
            else:
                spec = self.catalog[node.block or ""]
                flops, exact = self._block(spec, shapes, node_id, weight)
                kind = spec.title
            if rows:
                cost = NodeCost(path, node.name, kind, shapes.module, depth, flops, exact)
                self.result.nodes.insert(row_at, cost)
            total += flops
        self.result.by_module[shapes.module] = self.result.by_module.get(shapes.module, 0.0) + weight * total
        return total

    def _block(self, spec: BlockSpec, shapes: ModuleShapes, node_id: str, weight: float) -> tuple[int, bool]:
        params, info = shapes.params[node_id], shapes.nodes[node_id]
        if spec.flops is None:
            return measured_flops(self.project, self.catalog, spec, shapes, node_id), False
        if spec.uses_members:
            members = _MemberCosts(self, shapes, node_id, weight)
            return int(spec.flops(params, info.inputs, info.outputs, members)), spec.flops_exact
        return int(spec.flops(params, info.inputs, info.outputs)), spec.flops_exact


class _MemberCosts:
    """``MemberCosts`` for one composition node: a member's FLOPs from its first inferred use here."""

    def __init__(self, counter: FlopCounter, shapes: ModuleShapes, node_id: str, weight: float) -> None:
        self.counter, self.shapes, self.node_id, self.weight = counter, shapes, node_id, weight

    def _shapes(self, module: str) -> ModuleShapes | None:
        for (owner, member, _), child in self.shapes.members.items():
            if owner == self.node_id and member == module:
                return child
        return None

    def flops(self, module: str, runs: float = 1.0) -> int:
        child = self._shapes(module)
        return 0 if child is None else self.counter.module(child, self.weight * runs, rows=False)

    def outputs(self, module: str) -> list[TensorInfo]:
        child = self._shapes(module)
        return [] if child is None else [o for o in child.outputs if o is not None]


def measured_flops(project: Project, catalog: Catalog, spec: BlockSpec, shapes: ModuleShapes, node_id: str) -> int:
    """FLOPs of one sample through the block's built layer, counted by torch's FlopCounterMode
    (matrix products and convolutions; element-wise work counts 0). Built on the meta device
    where the layer allows it (no memory, no compute), else on the CPU."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from .graphnet import _MemberNets

    params, info = shapes.params[node_id], shapes.nodes[node_id]

    def count(device: str) -> int:
        with torch.device(device):
            members = _MemberNets(project, catalog, shapes, node_id) if spec.uses_members else None
            layer = spec.make(params, info.inputs, members)
            args = [_sample(x, device) for x in _received(spec, info.inputs)]
            counter = FlopCounterMode(display=False)
            with torch.no_grad(), counter:
                layer.eval()(*args)
        return int(counter.get_total_flops())

    try:
        return count("meta")
    except Exception:  # a layer that reads values (.item(), data-dependent shapes) runs for real
        return count("cpu")


def _received(spec: BlockSpec, inputs) -> list[TensorInfo]:
    """The tensors a layer's forward takes, in port order (a multi port's in connection order)."""
    args: list[TensorInfo] = []
    for port in spec.inputs:
        value = inputs.get(port.name)
        if value is not None:
            args += value if isinstance(value, list) else [value]
    return args


def _sample(info: TensorInfo, device: str):
    import torch

    if info.dtype == "long":
        return torch.zeros((1, *info.shape), dtype=torch.long, device=device)
    return torch.randn((1, *info.shape), device=device)


def count_flops(project: Project, catalog: Catalog | None = None, shapes: ModuleShapes | None = None) -> FlopCount:
    """FLOPs per sample of the main module: a row per node (nested modules included) and per ModuleDef."""
    catalog = catalog or default_catalog()
    shapes = shapes or ShapeInference(project, catalog).run()
    if shapes.errors:
        raise ValueError("; ".join(p.message for p in shapes.errors))
    counter = FlopCounter(project, catalog)
    counter.result.total = counter.module(shapes, 1.0)
    return counter.result
