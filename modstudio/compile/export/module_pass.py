"""One ModuleDef's nodes with symbols for its params and its input sizes (see ``symbolic``).

``symbolic_pass`` runs each node's shape rule with the params of the class being written
(``channels``, ``channels * 4``) and input sizes (``in_channels``), so that the constructor
arguments of its layers come out as expressions of them. Where a rule cannot run on symbols (a
composition's members, a rule that needs plain numbers) the node keeps the sizes that shape
inference found: the class is then written for those values.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field
from typing import Any

from modstudio.blocks.catalog import Catalog
from modstudio.blocks.tensors import TensorInfo
from modstudio.compile.shapes import ModuleShapes, edges_into
from modstudio.graph.expressions import is_expression
from modstudio.graph.model import Project
from modstudio.graph.schema import INPUT_BLOCK, OUTPUT_BLOCK

from .constructors import ExportError
from .symbolic import expression_symbol, symbol_of

# what the sizes of an input are called, by its rank (batch included), as torch names them
_SIZE_NAMES = {
    2: ("features",),
    3: ("tokens", "features"),
    4: ("channels", "height", "width"),
    5: ("channels", "depth", "height", "width"),
}


@dataclass(frozen=True)
class SizeArgument:
    """An ``__init__`` argument that is a size of an input: ``in_channels`` is dim 0 of input 0."""

    name: str
    input: int
    dim: int


@dataclass
class PassResult:
    """Each node's params and received inputs with symbols; the module's outputs."""

    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # node id -> params
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # node id -> received (port -> TensorInfo)
    outputs: dict[tuple[str, str], TensorInfo] = field(default_factory=dict)  # (node id, port) -> output
    returns: list[TensorInfo] = field(default_factory=list)


def identifier(name: str, what: str) -> str:
    if not (name.isidentifier() and name.isascii()) or keyword.iskeyword(name):
        raise ExportError(f"{what} {name!r} cannot be written as code: its name is not an identifier")
    return name


def size_arguments(project: Project, shapes: ModuleShapes, taken: set[str]) -> list[SizeArgument]:
    """One argument per input size (batch left out): ``in_channels``, ``in_height``... for one
    input, ``<input>_channels``... for several."""
    module = project.modules[shapes.module]
    inputs = module.input_nodes
    out: list[SizeArgument] = []
    for index, node in enumerate(inputs):
        info = shapes.nodes[node.id].outputs["out"]
        names = _SIZE_NAMES.get(info.rank, tuple(f"size{d + 1}" for d in range(len(info.shape))))
        for dim, size in enumerate(names):
            name = f"in_{size}" if len(inputs) == 1 else f"{identifier(node.name, 'input')}_{size}"
            while name in taken:
                name += "_"
            taken.add(name)
            out.append(SizeArgument(name, index, dim))
    return out


def symbolic_inputs(project: Project, shapes: ModuleShapes, sizes: list[SizeArgument]) -> list[TensorInfo]:
    """The module's inputs with their sizes as the symbols ``sizes`` name."""
    infos = [shapes.nodes[n.id].outputs["out"] for n in project.modules[shapes.module].input_nodes]
    dims = [list(info.shape) for info in infos]
    for size in sizes:
        dims[size.input][size.dim] = symbol_of(size.name, int(infos[size.input].shape[size.dim]))
    return [TensorInfo(tuple(d), info.dtype) for d, info in zip(dims, infos)]


def symbolic_pass(
    project: Project,
    catalog: Catalog,
    shapes: ModuleShapes,
    params: dict[str, Any],
    inputs: list[TensorInfo],
) -> PassResult:
    """The module's nodes with ``params`` (module param -> value, a symbol or plain) and ``inputs``."""
    module = project.modules[shapes.module]
    result = PassResult()
    into = edges_into(module)
    by_id = {node.id: node for node in module.nodes}
    input_index = {node.id: i for i, node in enumerate(module.input_nodes)}
    for node_id in shapes.order:
        node = by_id[node_id]
        if node.block == OUTPUT_BLOCK:
            continue
        if node.block == INPUT_BLOCK:
            result.outputs[(node_id, "out")] = inputs[input_index[node_id]]
            continue
        received = _received(result, into, node_id, shapes)
        result.inputs[node_id] = received
        concrete = shapes.nodes[node_id].outputs
        if node.module is not None:
            bound = _bound(node.params, shapes.params[node_id], params)
            result.params[node_id] = bound
            child = shapes.children[node_id]
            child_inputs = [received[n.name] for n in project.modules[node.module].input_nodes]
            try:
                inner = symbolic_pass(project, catalog, child, {**child.bindings, **bound}, child_inputs)
                outs = dict(zip((n.name for n in project.modules[node.module].output_nodes), inner.returns))
            except Exception:
                outs = dict(concrete)
            result.outputs.update({(node_id, port): info for port, info in outs.items()})
            continue
        spec = catalog[node.block or ""]
        values = dict(shapes.params[node_id])
        for pspec in spec.params:
            given = node.params.get(pspec.name)
            if is_expression(given):
                values[pspec.name] = expression_symbol(given, values[pspec.name], params, pspec.kind == "int")
        result.params[node_id] = values
        outputs = None
        if not spec.uses_members:
            try:
                outputs = dict(zip((p.name for p in spec.outputs), spec.shape(values, received)))
            except Exception:
                outputs = None
        for port, info in (outputs or concrete).items():
            result.outputs[(node_id, port)] = info
    result.returns = [
        result.outputs[(e.src, e.src_port)] for n in module.output_nodes for e in into.get((n.id, "in"), ())
    ]
    return result


def _received(result: PassResult, into: dict, node_id: str, shapes: ModuleShapes) -> dict[str, Any]:
    received: dict[str, Any] = {}
    for port, concrete in shapes.nodes[node_id].inputs.items():
        infos = [result.outputs[(e.src, e.src_port)] for e in into.get((node_id, port), ())]
        received[port] = infos if isinstance(concrete, list) else infos[0]
    return received


def _bound(given: dict[str, Any], concrete: dict[str, Any], env: dict[str, Any]) -> dict[str, Any]:
    """A module reference's params as the referenced class receives them."""
    return {
        p: expression_symbol(v, concrete[p], env, isinstance(concrete[p], int)) if is_expression(v) else v
        for p, v in given.items()
    }
