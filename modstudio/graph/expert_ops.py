"""Operations of expert surgery (see modstudio/engine/surgery): each is one undoable edit.

:func:`surgery_edit` puts together the edit one surgery makes of a project: parameters of a
mixture-of-experts node, the parts of it that stay frozen, a dense node replaced by a mixture
whose experts are copies of it (:class:`UpcycleNode`), and the starting weights
(``training.init_weights``) that the surgery wrote as a new file. Grafted weight references are
dropped: the new starting weights hold the whole trained network. The undo puts every one of
them back, the previous starting-weights file included (surgery never overwrites a file).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from .document import Batch, Change, ChangeKind, Document, Operation, OperationError, positions_of
from .expressions import is_expression
from .graft import SetInitWeights, SetNodeWeights
from .model import Edge, ModuleDef, Node, new_id
from .module_ops import AddModule
from .names import unique_name
from .ops import InsertEdge, InsertNode, MoveNode, RemoveNode, SetParam
from .ports import node_ports
from .schema import INPUT_BLOCK, OUTPUT_BLOCK


@dataclass
class SetFrozenParts(Operation):
    """Keep parts of a node's layer out of training ("experts.0", "router"); None trains them all."""

    module: str
    node_id: str
    parts: list[str] | None

    def apply(self, doc: Document) -> None:
        node = doc.node(self.module, self.node_id)
        if self.parts is not None and any(not isinstance(p, str) or not p.strip() for p in self.parts):
            raise OperationError("a frozen part is a path inside the node's layer, such as 'experts.0'")
        before = SetFrozenParts(self.module, self.node_id, copy.copy(node.frozen_parts))
        node.frozen_parts = list(self.parts) if self.parts else None
        doc.emit(Change(ChangeKind.NODE_CHANGED, self.module, (node.id,)))
        doc.emit(Change(ChangeKind.TRAINING_CHANGED, self.module, (node.id,)))
        text = (
            f"Train all of '{node.name}'"
            if not self.parts
            else f"Freeze {', '.join(self.parts[:3])}{' ...' if len(self.parts) > 3 else ''} of '{node.name}'"
        )
        self._done(text, before)


@dataclass
class UpcycleNode(Operation):
    """Replace a dense node (a use of a module, or a block with one input and one output) by a
    mixture of experts whose experts are that module (a block is first put in a module of its own),
    keeping the node's id, name, wires and place. ``params``: the mixture's other parameters."""

    module: str
    node_id: str
    experts: int
    params: dict[str, Any] = field(default_factory=dict)
    expert_module: str | None = None  # the name of the module made for a block (default: from its name)

    def apply(self, doc: Document) -> None:
        where = doc.module(self.module)
        node = doc.node(self.module, self.node_id)
        if node.block in (INPUT_BLOCK, OUTPUT_BLOCK):
            raise OperationError(f"'{node.name}' is an {node.block}, not a feed-forward node")
        ports = node_ports(doc.project, doc.catalog, node)
        if ports is None or len(ports[0]) != 1 or len(ports[1]) != 1:
            raise OperationError(f"'{node.name}' needs exactly one input and one output to become a mixture of experts")
        inverses: list[Operation] = []
        try:
            expert = node.module
            if expert is None:
                expert = self.expert_module or unique_name(f"{node.name.capitalize()}Expert", set(doc.project.modules))
                inverses.append(doc.apply(AddModule(expert, _wrapper(node))))
            params = {"experts": [expert], "num_experts": self.experts, **self.params}
            mixture = Node(node.id, node.name, block="moe", params=params)
            for key, value in params.items():
                doc.check_param(self.module, mixture, key, value)
            wires = [
                Edge(e.src, e.src_port, e.dst, "in") if e.dst == node.id else Edge(e.src, "out", e.dst, e.dst_port)
                for e in where.edges
                if node.id in (e.src, e.dst)
            ]
            index = where.index_of(node.id)
            place = (positions_of(doc.project, self.module) or {}).get(node.id)
            inverses.append(doc.apply(RemoveNode(self.module, node.id)))
            inverses.append(doc.apply(InsertNode(self.module, mixture, index)))
            for edge in wires:
                inverses.append(doc.apply(InsertEdge(self.module, edge, len(where.edges))))
            if place is not None:
                inverses.append(doc.apply(MoveNode(self.module, node.id, place)))
        except OperationError:
            for inverse in reversed(inverses):
                doc.apply(inverse)
            raise
        self.expert = expert  # the experts' module
        text = f"Upcycle '{node.name}' into {self.experts} experts"
        self._done(text, Batch(inverses[::-1], text))


def _wrapper(node: Node) -> ModuleDef:
    """A module holding a copy of a one-input, one-output block node, between an Input and an Output."""
    for key, value in node.params.items():
        if is_expression(value):
            raise OperationError(
                f"'{node.name}'.{key} is an expression over its module's parameters; "
                "group the node into a module first (Group into Module) and upcycle that"
            )
    inner = Node(new_id(), node.name, block=node.block, params=copy.deepcopy(node.params))
    x, y = Node(new_id(), "x", block=INPUT_BLOCK), Node(new_id(), "y", block=OUTPUT_BLOCK)
    return ModuleDef(
        nodes=[x, inner, y],
        edges=[Edge(x.id, "out", inner.id, "in"), Edge(inner.id, "out", y.id, "in")],
        doc=f"One expert: a copy of '{node.name}' (sparse upcycling).",
    )


@dataclass
class NodeEdit:
    """What one surgery changes on one node: parameters (None resets one), frozen parts."""

    module: str
    node_id: str
    params: dict[str, Any] = field(default_factory=dict)
    frozen_parts: list[str] | None = None
    set_frozen_parts: bool = False


def surgery_edit(
    doc: Document, text: str, init_weights: str, edits: list[NodeEdit], upcycle: UpcycleNode | None = None
) -> Batch:
    """One undoable step: the node edits (or the upcycling), the new starting weights, no grafted references."""
    ops: list[Operation] = []
    if upcycle is not None:
        ops.append(upcycle)
    for edit in edits:
        node = doc.node(edit.module, edit.node_id)
        for key, value in edit.params.items():
            if node.params.get(key) != value:
                ops.append(SetParam(edit.module, edit.node_id, key, value))
        if edit.set_frozen_parts:
            ops.append(SetFrozenParts(edit.module, edit.node_id, edit.frozen_parts))
    for name, module in doc.project.modules.items():
        for other in module.nodes:
            if other.weights is not None:
                ops.append(SetNodeWeights(name, other.id, None, other.frozen))
    ops.append(SetInitWeights(init_weights))
    return Batch(ops, text)
