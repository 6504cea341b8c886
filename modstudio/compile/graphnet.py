"""GraphNet: the ``nn.Module`` that runs a ModuleDef.

Submodules are named after the nodes (``fc1.weight``...). The forward pass is a plan
computed once: a list of (submodule, argument slots, result slots) in topological order,
so a step does what a hand-written ``forward`` does and no graph walking.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from modstudio.blocks.catalog import Catalog, default_catalog
from modstudio.blocks.spec import BlockSpec
from modstudio.blocks.tensors import TensorInfo
from modstudio.graph.model import Project
from modstudio.graph.schema import INPUT_BLOCK, OUTPUT_BLOCK

from .shapes import ModuleShapes, ShapeInference, ShapeProblem, edges_into


class CompileError(ValueError):
    """The document cannot be compiled; carries the shape problems."""

    def __init__(self, problems: list[ShapeProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(p.message for p in problems))


class BlockBuildError(CompileError):
    """A block's ``build`` failed although its shapes fit: a plugin's code, or a block that needs real
    tensors when built on the meta device. Named by its node, never a traceback."""


_NONE_SLOT = 0  # always holds None: passed for unconnected optional ports


class GraphNet(nn.Module):
    """Runs one ModuleDef; module references become nested GraphNets."""

    def __init__(
        self,
        project: Project,
        catalog: Catalog | None = None,
        module_name: str | None = None,
        *,
        shapes: ModuleShapes | None = None,
    ) -> None:
        super().__init__()
        catalog = catalog or default_catalog()
        if shapes is None:
            shapes = ShapeInference(project, catalog).run(module_name)
        if shapes.errors:
            raise CompileError(shapes.errors)
        self.module_name = shapes.module
        module = project.modules[shapes.module]
        by_id = {node.id: node for node in module.nodes}
        slots: dict[tuple[str, str], int] = {}
        for i, node in enumerate(module.input_nodes):
            slots[(node.id, "out")] = 1 + i
        self._n_inputs = len(module.input_nodes)
        count = 1 + self._n_inputs
        plan: list[Step] = []
        into = edges_into(module)
        self.node_names: dict[str, str] = {}  # node id -> submodule name
        for node_id in shapes.order:
            node = by_id[node_id]
            if node.block in (INPUT_BLOCK, OUTPUT_BLOCK):
                continue
            if node.module is not None:
                child: nn.Module = GraphNet(project, catalog, shapes=shapes.children[node_id])
                in_ports = [n.name for n in project.modules[node.module].input_nodes]
                out_ports = [n.name for n in project.modules[node.module].output_nodes]
                multi: set[str] = set()
            else:
                spec = catalog[node.block or ""]
                child = _build_block(spec, node.name, shapes, node_id, _MemberNets(project, catalog, shapes, node_id))
                in_ports = [p.name for p in spec.inputs]
                out_ports = [p.name for p in spec.outputs]
                multi = {p.name for p in spec.inputs if p.multi}
            self.add_module(node.name, child)
            self.node_names[node.id] = node.name
            args: list[int] = []
            for port in in_ports:
                feeding = [slots[(e.src, e.src_port)] for e in into.get((node.id, port), ())]
                args.extend(feeding if port in multi else (feeding or [_NONE_SLOT]))
            while args and args[-1] == _NONE_SLOT:
                args.pop()
            outs = tuple(range(count, count + len(out_ports)))
            for port, slot in zip(out_ports, outs):
                slots[(node.id, port)] = slot
            count += len(out_ports)
            plan.append((child, tuple(args), outs[0] if len(outs) == 1 else outs))
        self._n_slots = count
        self._outputs = tuple(slots[(e.src, e.src_port)] for n in module.output_nodes for e in module.edges_into(n.id))
        self._plan = _with_releases(plan, self._outputs)
        self.output_names = [n.name for n in module.output_nodes]

    def forward(self, *inputs: torch.Tensor) -> Any:
        if len(inputs) != self._n_inputs:
            raise TypeError(f"module '{self.module_name}' takes {self._n_inputs} input(s), got {len(inputs)}")
        values: list[Any] = [None, *inputs, *([None] * (self._n_slots - 1 - self._n_inputs))]
        for module, args, out, release in self._plan:
            result = module(*[values[i] for i in args])
            if isinstance(out, int):
                values[out] = result
            else:
                for slot, value in zip(out, result):
                    values[slot] = value
            for slot in release:  # drop what no later step reads, as a hand-written forward would
                values[slot] = None
        if len(self._outputs) == 1:
            return values[self._outputs[0]]
        return tuple(values[i] for i in self._outputs)


class _MemberNets:
    """Members for a composition's build: compiles each member from its inferred shapes."""

    def __init__(self, project: Project, catalog: Catalog, shapes: ModuleShapes, node_id: str) -> None:
        self.project, self.catalog, self.shapes, self.node_id = project, catalog, shapes, node_id

    def infer(self, module: str, inputs: list[TensorInfo]) -> list[TensorInfo]:
        return list(self.shapes.members[(self.node_id, module, tuple(inputs))].outputs)  # type: ignore[arg-type]

    def build(self, module: str, inputs: list[TensorInfo]) -> nn.Module:
        return GraphNet(self.project, self.catalog, shapes=self.shapes.members[(self.node_id, module, tuple(inputs))])


Step = tuple[nn.Module, tuple[int, ...], "int | tuple[int, ...]"]


def _with_releases(
    plan: list[Step], outputs: tuple[int, ...]
) -> list[tuple[nn.Module, tuple[int, ...], int | tuple[int, ...], tuple[int, ...]]]:
    """Add to each step the slots read for the last time there (never the module's outputs)."""
    last_use: dict[int, int] = {}
    for index, (_, args, _) in enumerate(plan):
        for slot in args:
            last_use[slot] = index
    keep = set(outputs) | {_NONE_SLOT}
    releases: list[list[int]] = [[] for _ in plan]
    for slot, index in last_use.items():
        if slot not in keep:
            releases[index].append(slot)
    return [(*step, tuple(sorted(set(release)))) for step, release in zip(plan, releases)]


def _build_block(spec: BlockSpec, name: str, shapes: ModuleShapes, node_id: str, members: _MemberNets) -> nn.Module:
    """``spec.build`` for one node; whatever it raises (beyond a member's own CompileError) names the node."""
    received = shapes.nodes[node_id].inputs
    try:
        return spec.make(shapes.params[node_id], received, members)
    except CompileError:
        raise
    except Exception as exc:
        where = " on the meta device (without real tensors)" if _on_meta() else ""
        message = f"{spec.title} '{name}' cannot be built{where}: {type(exc).__name__}: {exc}"
        raise BlockBuildError([ShapeProblem(shapes.module, node_id, message)]) from exc


def _on_meta() -> bool:
    return torch.empty(0).device.type == "meta"


def compile_project(project: Project, catalog: Catalog | None = None, module_name: str | None = None) -> GraphNet:
    """Build the network of a project's main module (or of the named module)."""
    return GraphNet(project, catalog, module_name)


def parameter_counts(net: nn.Module) -> dict[str, int]:
    """Trainable and frozen parameters per direct submodule (i.e. per node)."""
    return {name: sum(p.numel() for p in child.parameters()) for name, child in net.named_children()}


def build_on_meta(project: Project, catalog: Catalog | None = None, module_name: str | None = None) -> GraphNet:
    """Build without allocating weights (for counting parameters of large networks)."""
    with torch.device("meta"):
        return GraphNet(project, catalog, module_name)
