"""Edit operations on nodes and edges, each with an exact inverse.

Inverses restore items at their original indices: edge order decides the order of a
multi input (Concat), node order the order of a module's ports. Operations on the module
library are in :mod:`.module_ops`, grouping in :mod:`.grouping`; this module re-exports
them all, with the Document they apply to.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

from .document import (
    Batch,
    Change,
    ChangeKind,
    Document,
    History,
    Operation,
    OperationError,
    RestoreParams,
    SetPositions,
    positions_of,
)
from .grouping import GroupIntoModule, Ungroup
from .model import Edge, Node, Project, new_id
from .module_ops import AddModule, RemoveModule, RenameModule, ReplaceModules, SetModuleParam, default_node_name
from .names import node_name_problem, unique_name
from .schema import INPUT_BLOCK, OUTPUT_BLOCK
from .search_form import renamed
from .section_ops import RestoreSearch
from .validate import module_reference_graph
from .wiring import connection_problem, describe_edge

__all__ = [
    "AddModule",
    "AddNode",
    "Batch",
    "Change",
    "Connect",
    "Disconnect",
    "Document",
    "GroupIntoModule",
    "History",
    "InsertEdge",
    "InsertNode",
    "MoveNode",
    "Operation",
    "OperationError",
    "RemoveModule",
    "RemoveNode",
    "RenameModule",
    "RenameNode",
    "ReplaceModules",
    "RestoreParams",
    "SetModuleParam",
    "SetParam",
    "SetPositions",
    "Ungroup",
]

EdgeAt = tuple[str, int, Edge]  # (module name, index in its edge list, edge)


@dataclass
class MoveNode(Operation):
    """Place a node on the canvas (UI data only); None forgets its position."""

    module: str
    node_id: str
    position: tuple[float, float] | list[float] | None

    def apply(self, doc: Document) -> None:
        node = doc.node(self.module, self.node_id)
        _check_position(self.position)
        after = positions_of(doc.project, self.module) or {}
        if self.position is None:
            after.pop(node.id, None)
        else:
            after[node.id] = [float(self.position[0]), float(self.position[1])]
        op = SetPositions(self.module, after or None, f"Move '{node.name}'")
        self._done(op.text, doc.apply(op))


def _check_position(pos: object) -> None:
    if pos is None:
        return
    if not isinstance(pos, (tuple, list)) or len(pos) != 2:
        raise OperationError(f"a position is two numbers (x, y), not {pos!r}")
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in pos):
        raise OperationError(f"a position is two numbers (x, y), not {pos!r}")


def _io_port_edges(project: Project, module_name: str, node: Node) -> list[EdgeAt]:
    """Edges elsewhere on the port that an Input/Output node of ``module_name`` provides."""
    if node.block not in (INPUT_BLOCK, OUTPUT_BLOCK):
        return []
    found: list[EdgeAt] = []
    for name, module in project.modules.items():
        users = {n.id for n in module.nodes if n.module == module_name}
        for i, e in enumerate(module.edges):
            end, port = (e.dst, e.dst_port) if node.block == INPUT_BLOCK else (e.src, e.src_port)
            if end in users and port == node.name:
                found.append((name, i, e))
    return found


def _ports_changed(doc: Document, module_name: str, node: Node) -> None:
    if node.block in (INPUT_BLOCK, OUTPUT_BLOCK):
        by_module: dict[str, list[str]] = {}
        for where, user in doc.users(module_name):
            by_module.setdefault(where, []).append(user.id)
        for where, ids in by_module.items():
            doc.emit(Change(ChangeKind.PORTS_CHANGED, where, tuple(ids)))


def _edge_event(kind: ChangeKind, module: str, e: Edge) -> Change:
    return Change(kind, module, (e.src, e.dst), edge=Edge(e.src, e.src_port, e.dst, e.dst_port))


@dataclass
class InsertNode(Operation):
    """Put a node back at its index with its edges at theirs (the inverse of RemoveNode)."""

    module: str
    node: Node
    index: int
    edges: tuple[EdgeAt, ...] = ()

    def apply(self, doc: Document) -> None:
        module = doc.module(self.module)
        if doc.project.module_of(self.node.id) is not None:
            raise OperationError(f"node id '{self.node.id}' is already used")
        if module.node_named(self.node.name) is not None:
            raise OperationError(f"module '{self.module}' already has a node named '{self.node.name}'")
        if not 0 <= self.index <= len(module.nodes):
            raise OperationError(f"cannot insert a node at position {self.index} of module '{self.module}'")
        for name, _, _ in self.edges:
            doc.module(name)
        node = copy.deepcopy(self.node)
        module.nodes.insert(self.index, node)
        doc.emit(Change(ChangeKind.NODE_ADDED, self.module, (node.id,)))
        for name, i, e in sorted(self.edges, key=lambda item: (item[0], item[1])):
            edge = Edge(e.src, e.src_port, e.dst, e.dst_port)
            doc.project.modules[name].edges.insert(i, edge)
            doc.emit(_edge_event(ChangeKind.EDGE_ADDED, name, edge))
        _ports_changed(doc, self.module, node)
        self._done(f"Add {doc.label(node)}", RemoveNode(self.module, node.id))


@dataclass
class RemoveNode(Operation):
    """Delete a node and every edge on it (also edges on the port it is, if an Input/Output)."""

    module: str
    node_id: str

    def apply(self, doc: Document) -> None:
        module = doc.module(self.module)
        node = doc.node(self.module, self.node_id)
        index = module.index_of(node.id)
        removed = [(self.module, i, e) for i, e in enumerate(module.edges) if node.id in (e.src, e.dst)]
        removed += _io_port_edges(doc.project, self.module, node)
        for name, i, _ in sorted(removed, key=lambda item: (item[0], item[1]), reverse=True):
            del doc.project.modules[name].edges[i]
        for name, _, e in removed:
            doc.emit(_edge_event(ChangeKind.EDGE_REMOVED, name, e))
        del module.nodes[index]
        doc.emit(Change(ChangeKind.NODE_REMOVED, self.module, (node.id,)))
        _ports_changed(doc, self.module, node)
        inverse: Operation = InsertNode(self.module, node, index, tuple(removed))
        before = positions_of(doc.project, self.module)
        if before is not None and node.id in before:
            after = {k: v for k, v in before.items() if k != node.id}
            restore = doc.apply(SetPositions(self.module, after or None))
            inverse = Batch([inverse, restore], f"Add {doc.label(node)}")
        self._done(f"Delete {doc.label(node)}", inverse)


@dataclass
class AddNode(Operation):
    """A new block (``block``) or a use of a module (``module_ref``), named uniquely from ``name``."""

    module: str
    block: str | None = None
    module_ref: str | None = None
    name: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    position: tuple[float, float] | list[float] | None = None
    node_id: str = field(default_factory=new_id)

    def apply(self, doc: Document) -> None:
        module = doc.module(self.module)
        if (self.block is None) == (self.module_ref is None):
            raise OperationError("a node is either a block or a use of a module: give exactly one of them")
        if doc.project.module_of(self.node_id) is not None:
            raise OperationError(f"node id '{self.node_id}' is already used")
        if self.block is not None:
            spec = doc.catalog.lookup(self.block)
            if spec is None:
                raise OperationError(f"there is no block type '{self.block}'")
            base = self.name or spec.id
        else:
            ref = self.module_ref or ""
            doc.module(ref)
            import networkx as nx  # imported when first needed: it is slow to import (startup time)

            graph = module_reference_graph(doc.project, doc.catalog)
            if ref == self.module or nx.has_path(graph, ref, self.module):
                raise OperationError(f"module '{self.module}' cannot use '{ref}': '{ref}' contains '{self.module}'")
            base = self.name or default_node_name(ref)
        node = Node(self.node_id, "", self.block, self.module_ref, copy.deepcopy(self.params))
        for key, value in self.params.items():
            if value is None:
                raise OperationError(f"parameter '{key}' has no value")
            doc.check_param(self.module, node, key, value)
        _check_position(self.position)
        node.name = unique_name(base, {n.name for n in module.nodes})
        inverse = doc.apply(InsertNode(self.module, node, len(module.nodes)))
        if self.position is not None:
            unmove = doc.apply(MoveNode(self.module, node.id, self.position))
            inverse = Batch([unmove, inverse], f"Delete {doc.label(node)}")
        self._done(f"Add {doc.label(node)}", inverse)


@dataclass
class Connect(Operation):
    """Wire an output port to an input port; refused with a reason when it cannot work."""

    module: str
    edge: Edge

    def apply(self, doc: Document) -> None:
        module, e = doc.module(self.module), self.edge
        problem = connection_problem(doc.project, doc.catalog, self.module, e)
        if problem is not None:
            raise OperationError(problem)
        edge = Edge(e.src, e.src_port, e.dst, e.dst_port)
        module.edges.append(edge)
        doc.emit(_edge_event(ChangeKind.EDGE_ADDED, self.module, edge))
        self._done(f"Connect {describe_edge(module, e)}", Disconnect(self.module, edge, len(module.edges) - 1))


@dataclass
class InsertEdge(Operation):
    """Put an edge back at its index (the inverse of Disconnect; not checked like Connect)."""

    module: str
    edge: Edge
    index: int

    def apply(self, doc: Document) -> None:
        module, e = doc.module(self.module), self.edge
        doc.node(self.module, e.src), doc.node(self.module, e.dst)
        if not 0 <= self.index <= len(module.edges):
            raise OperationError(f"cannot insert an edge at position {self.index} of module '{self.module}'")
        edge = Edge(e.src, e.src_port, e.dst, e.dst_port)
        module.edges.insert(self.index, edge)
        doc.emit(_edge_event(ChangeKind.EDGE_ADDED, self.module, edge))
        self._done(f"Connect {describe_edge(module, e)}", Disconnect(self.module, edge, self.index))


@dataclass
class Disconnect(Operation):
    """Remove one edge, identified by (src, src_port, dst, dst_port); ``index`` picks among equal ones."""

    module: str
    edge: Edge
    index: int | None = None

    def apply(self, doc: Document) -> None:
        module, e = doc.module(self.module), self.edge
        if self.index is not None and 0 <= self.index < len(module.edges) and module.edges[self.index] == e:
            index = self.index
        elif e in module.edges:
            index = module.edges.index(e)
        else:
            raise OperationError(f"there is no connection {describe_edge(module, e)} in module '{self.module}'")
        text = f"Disconnect {describe_edge(module, e)}"
        removed = module.edges.pop(index)
        doc.emit(_edge_event(ChangeKind.EDGE_REMOVED, self.module, removed))
        self._done(text, InsertEdge(self.module, removed, index))


@dataclass
class SetParam(Operation):
    """Set a node's parameter; None removes it (the block's default, or the module's, applies)."""

    module: str
    node_id: str
    name: str
    value: Any

    def apply(self, doc: Document) -> None:
        node = doc.node(self.module, self.node_id)
        doc.check_param(self.module, node, self.name, self.value)
        before = copy.deepcopy(node.params)
        if self.value is None:
            node.params.pop(self.name, None)
            text = f"Reset {node.name}.{self.name}"
        else:
            node.params[self.name] = copy.deepcopy(self.value)
            text = f"Set {node.name}.{self.name} to {self.value}"
        doc.emit(Change(ChangeKind.PARAM_CHANGED, self.module, (node.id,), param=self.name))
        self._done(text, RestoreParams(self.module, node.id, before, text))


@dataclass
class RenameNode(Operation):
    """Rename a node; renaming an Input/Output renames the port on every use of its module."""

    module: str
    node_id: str
    name: str
    search: bool = True  # the search dimensions of the node follow it (their targets name it)

    def apply(self, doc: Document) -> None:
        module = doc.module(self.module)
        node = doc.node(self.module, self.node_id)
        why = node_name_problem(self.name)
        if why:
            raise OperationError(why)
        other = module.node_named(self.name)
        if other is not None and other.id != node.id:
            raise OperationError(f"module '{self.module}' already has a node named '{self.name}'")
        old = node.name
        for where, i, e in _io_port_edges(doc.project, self.module, node):
            edges = doc.project.modules[where].edges
            if node.block == INPUT_BLOCK:
                edges[i] = Edge(e.src, e.src_port, e.dst, self.name)
            else:
                edges[i] = Edge(e.src, self.name, e.dst, e.dst_port)
        node.name = self.name
        doc.emit(Change(ChangeKind.NODE_RENAMED, self.module, (node.id,), old_name=old, new_name=self.name))
        _ports_changed(doc, self.module, node)
        text = f"Rename '{old}' to '{self.name}'"
        inverse: Operation = RenameNode(self.module, node.id, old, search=False)
        targets = renamed(doc.project.search, f"node:{self.module}/{old}.", f"node:{self.module}/{self.name}.")
        if self.search and targets is not None:
            inverse = Batch([inverse, doc.apply(RestoreSearch(targets, text))], text)
        self._done(text, inverse)
