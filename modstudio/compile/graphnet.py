"""GraphNet: the ``nn.Module`` that runs a ModuleDef.

Submodules are named after the nodes (``fc1.weight``...). The forward pass runs a plan
computed once, ``GraphNet.plan``: a public, typed list of ``Step`` records in topological order
(which submodule, which values it reads, which it writes, which it reads for the last time), as
torch.fx's graph is, so a step does what a hand-written ``forward`` does and no graph walking.
The exporter prints the same plan as code.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from modstudio.blocks.catalog import Catalog, default_catalog
from modstudio.blocks.spec import BlockSpec
from modstudio.blocks.tensors import TensorInfo
from modstudio.graph.model import Project
from modstudio.graph.schema import INPUT_BLOCK, OUTPUT_BLOCK

from .prototypes import made
from .shapes import ModuleShapes, ShapeInference, ShapeProblem, edges_into


class CompileError(ValueError):
    """The document cannot be compiled; carries the shape problems."""

    def __init__(self, problems: list[ShapeProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(p.message for p in problems))


class BlockBuildError(CompileError):
    """A block's ``build`` failed although its shapes fit: a plugin's code, or a block that needs real
    tensors when built on the meta device. Named by its node, never a traceback."""


UNCONNECTED = 0  # the value id that always holds None: passed for an unconnected optional port


@dataclass(frozen=True)
class Step:
    """One call of the forward pass: ``outputs = self.<target>(*arguments)``.

    Values are numbered: ``UNCONNECTED`` (None), then the module's inputs, then each step's
    outputs. ``release`` are the values read here for the last time (never the module's
    outputs): a forward drops them after the step, as a hand-written one lets them go."""

    node: str  # the node's name
    target: str  # the submodule's name (the node's name: its weights are ``<target>.weight``...)
    arguments: tuple[int, ...]
    outputs: tuple[int, ...]
    release: tuple[int, ...] = ()


@dataclass(frozen=True)
class Plan:
    """What ``GraphNet.forward`` runs: its inputs, its steps in order, and the values it returns."""

    inputs: tuple[int, ...]
    steps: tuple[Step, ...]
    outputs: tuple[int, ...]

    @property
    def size(self) -> int:
        """How many values the forward holds at most (ids run from 0 to size - 1)."""
        ids = [UNCONNECTED, *self.inputs, *(i for step in self.steps for i in step.outputs)]
        return max(ids) + 1


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
        self.shapes = shapes  # the inputs, parameter values and node shapes it was built for
        module = project.modules[shapes.module]
        by_id = {node.id: node for node in module.nodes}
        ids: dict[tuple[str, str], int] = {}
        for i, node in enumerate(module.input_nodes):
            ids[(node.id, "out")] = 1 + i
        count = 1 + len(module.input_nodes)
        steps: list[Step] = []
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
                feeding = [ids[(e.src, e.src_port)] for e in into.get((node.id, port), ())]
                args.extend(feeding if port in multi else (feeding or [UNCONNECTED]))
            while args and args[-1] == UNCONNECTED:
                args.pop()
            outs = tuple(range(count, count + len(out_ports)))
            for port, value in zip(out_ports, outs):
                ids[(node.id, port)] = value
            count += len(out_ports)
            steps.append(Step(node.name, node.name, tuple(args), outs))
        outputs = tuple(ids[(e.src, e.src_port)] for n in module.output_nodes for e in module.edges_into(n.id))
        inputs = tuple(range(1, 1 + len(module.input_nodes)))
        self.plan = Plan(inputs, _with_releases(steps, outputs), outputs)
        self.output_names = [n.name for n in module.output_nodes]
        self._compile_plan()

    def _compile_plan(self) -> None:
        """The plan as plain tuples of (submodule, arguments, output or outputs, release): what
        ``forward`` loops over, with no attribute look-ups per step."""
        plan = self.plan
        self._runs = [
            (self.get_submodule(s.target), s.arguments, s.outputs[0] if len(s.outputs) == 1 else s.outputs, s.release)
            for s in plan.steps
        ]
        self._n_inputs = len(plan.inputs)
        self._size = plan.size
        self._returns = plan.outputs

    def chain(self) -> list[nn.Module] | None:
        """The submodules in order if the plan feeds its one input through single-input,
        single-output steps one after the other (a plain chain); otherwise None."""
        plan = self.plan
        if len(plan.inputs) != 1 or not plan.steps:
            return None
        value = plan.inputs[0]
        layers: list[nn.Module] = []
        for step in plan.steps:
            if step.arguments != (value,) or len(step.outputs) != 1:
                return None
            layers.append(self.get_submodule(step.target))
            value = step.outputs[0]
        return layers if plan.outputs == (value,) else None

    def forward(self, *inputs: torch.Tensor) -> Any:
        if len(inputs) != self._n_inputs:
            raise TypeError(f"module '{self.module_name}' takes {self._n_inputs} input(s), got {len(inputs)}")
        values: list[Any] = [None, *inputs, *([None] * (self._size - 1 - self._n_inputs))]
        for module, args, out, release in self._runs:
            result = module(*[values[i] for i in args])
            if isinstance(out, int):
                values[out] = result
            else:
                for slot, value in zip(out, result):
                    values[slot] = value
            for slot in release:  # drop what no later step reads, as a hand-written forward would
                values[slot] = None
        if len(self._returns) == 1:
            return values[self._returns[0]]
        return tuple(values[i] for i in self._returns)


class _MemberNets:
    """Members for a composition's build: compiles each member from its inferred shapes."""

    def __init__(self, project: Project, catalog: Catalog, shapes: ModuleShapes, node_id: str) -> None:
        self.project, self.catalog, self.shapes, self.node_id = project, catalog, shapes, node_id

    def infer(self, module: str, inputs: list[TensorInfo]) -> list[TensorInfo]:
        return list(self.shapes.members[(self.node_id, module, tuple(inputs))].outputs)  # type: ignore[arg-type]

    def build(self, module: str, inputs: list[TensorInfo]) -> nn.Module:
        return GraphNet(self.project, self.catalog, shapes=self.shapes.members[(self.node_id, module, tuple(inputs))])


def _with_releases(steps: list[Step], outputs: tuple[int, ...]) -> tuple[Step, ...]:
    """Each step with the values read there for the last time (never the module's outputs)."""
    last_use: dict[int, int] = {}
    for index, step in enumerate(steps):
        for value in step.arguments:
            last_use[value] = index
    keep = set(outputs) | {UNCONNECTED}
    releases: list[set[int]] = [set() for _ in steps]
    for value, index in last_use.items():
        if value not in keep:
            releases[index].add(value)
    return tuple(replace(step, release=tuple(sorted(release))) for step, release in zip(steps, releases))


def _build_block(spec: BlockSpec, name: str, shapes: ModuleShapes, node_id: str, members: _MemberNets) -> nn.Module:
    """``spec.build`` for one node; whatever it raises (beyond a member's own CompileError) names the node."""
    received, params = shapes.nodes[node_id].inputs, shapes.params[node_id]
    try:
        return made(spec.id, params, received, lambda: spec.make(params, received, members))
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
