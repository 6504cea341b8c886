"""Grafting: bring a trained module from another project into this one, weights attached.

:class:`GraftModule` copies a ModuleDef and every module it uses from a source project,
each with fresh node ids (renamed when its name is taken here), and adds a node that uses
it. The node carries a reference to the trained weights, ``"<file>#<key prefix>"`` (the
file relative to the project file, the prefix that selects the module's tensors in it),
and whether they stay frozen in training. With ``replace`` the new node takes the place
(and the wires) of an existing node. :class:`SetNodeWeights` and :class:`SetInitWeights`
change the references later. All have exact inverses; the weights themselves are read by
``compile.weights`` (torch) when a network is built.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from .document import Batch, Change, ChangeKind, Document, Operation, OperationError, Positions, positions_of
from .library import dependencies
from .model import Edge, ModuleDef, Node, Project, new_id
from .module_ops import ReplaceModules, default_node_name
from .names import unique_name
from .ops import InsertEdge, InsertNode, MoveNode, RemoveNode
from .references import rename_references
from .schema import BlockCatalog

WEIGHTS_SEPARATOR = "#"


def split_weights(reference: str) -> tuple[str, str]:
    """``"runs/x/best.safetensors#block1."`` -> (file, key prefix); no ``#`` means the whole file."""
    path, separator, prefix = reference.rpartition(WEIGHTS_SEPARATOR)
    if not separator:
        return reference, ""
    return path, prefix


def join_weights(path: str, prefix: str) -> str:
    return f"{path}{WEIGHTS_SEPARATOR}{prefix}" if prefix else path


@dataclass
class FreshCopies:
    """Copies of a module and its dependencies, ready to add to a project."""

    modules: dict[str, ModuleDef]  # new name -> copy, dependencies first
    renamed: dict[str, str]  # source name -> new name (equal when free)
    positions: dict[str, Positions | None]


def fresh_copies(source: Project, name: str, taken: set[str], catalog: BlockCatalog | None) -> FreshCopies:
    """``name`` and every module it uses, with fresh node ids, renamed away from ``taken``.

    Weight references inside the copies are dropped: they were relative to the source
    project, and the trained weights of the whole module come with the graft.
    """
    if name not in source.modules:
        known = ", ".join(source.modules)
        raise OperationError(f"the source project has no module '{name}' (modules: {known})")
    needed = dependencies(source, name, catalog)
    used = set(taken)
    renamed: dict[str, str] = {}
    for dep in needed:
        renamed[dep] = unique_name(dep, used)
        used.add(renamed[dep])
    placeholders = {dep: f"__graft_{i}__" for i, dep in enumerate(needed)}
    modules: dict[str, ModuleDef] = {}
    positions: dict[str, Positions | None] = {}
    for dep in needed:
        module = copy.deepcopy(source.modules[dep])
        ids = {node.id: new_id() for node in module.nodes}
        for node in module.nodes:
            node.id = ids[node.id]
            node.weights = None
            for old, temporary in placeholders.items():  # two steps: a new name may be another's old one
                rename_references(node, catalog, old, temporary)
            for old, temporary in placeholders.items():
                rename_references(node, catalog, temporary, renamed[old])
        module.edges = [Edge(ids[e.src], e.src_port, ids[e.dst], e.dst_port) for e in module.edges]
        modules[renamed[dep]] = module
        old_positions = positions_of(source, dep)
        positions[renamed[dep]] = (
            None if old_positions is None else {ids[k]: v for k, v in old_positions.items() if k in ids}
        )
    return FreshCopies(modules, renamed, positions)


@dataclass
class GraftModule(Operation):
    """Copy ``module`` (and what it uses) from ``source`` and add a node that uses it here.

    ``weights``: the reference stored on the new node (None: no trained weights);
    ``into``: the module that gets the node (default: the main one); ``replace``: the name of
    a node there whose place and wires the new node takes (matching ports by name, or the
    only input and the only output).
    """

    source: Project
    module: str
    weights: str | None = None
    frozen: bool = False
    into: str | None = None
    name: str | None = None
    replace: str | None = None
    node_id: str = field(default_factory=new_id)

    def apply(self, doc: Document) -> None:
        target_name = self.into or doc.project.main
        target = doc.module(target_name)
        if doc.project.module_of(self.node_id) is not None:
            raise OperationError(f"node id '{self.node_id}' is already used")
        old = None
        if self.replace is not None:
            old = target.node_named(self.replace)
            if old is None:
                raise OperationError(f"module '{target_name}' has no node named '{self.replace}' to replace")
        copies = fresh_copies(self.source, self.module, set(doc.project.modules), doc.catalog)
        grafted = copies.renamed[self.module]
        wires = _rewired(doc, target, old, copies.modules[grafted], self.node_id) if old is not None else []
        text = f"Graft module {grafted}"
        inverses = [doc.apply(ReplaceModules(dict(copies.modules), dict(copies.positions), text=text))]
        try:
            taken = {n.name for n in target.nodes if old is None or n.id != old.id}
            base = self.name or (old.name if old is not None else default_node_name(grafted))
            node = Node(self.node_id, unique_name(base, taken), module=grafted)
            node.weights, node.frozen = self.weights, self.frozen
            place = positions_of(doc.project, target_name) or {}
            if old is not None:
                inverses.append(doc.apply(RemoveNode(target_name, old.id)))
            inverses.append(doc.apply(InsertNode(target_name, node, len(target.nodes))))
            for edge in wires:
                inverses.append(doc.apply(InsertEdge(target_name, edge, len(target.edges))))
            if old is not None and old.id in place:
                inverses.append(doc.apply(MoveNode(target_name, node.id, place[old.id])))
        except OperationError:
            for inverse in reversed(inverses):
                doc.apply(inverse)
            raise
        self.grafted = grafted  # the name the module has here (after any renaming)
        self._done(text, Batch(inverses[::-1], f"Remove grafted module {grafted}"))


def _rewired(doc: Document, target: ModuleDef, old: Node, grafted: ModuleDef, node_id: str) -> list[Edge]:
    """The wires of ``old`` moved onto the grafted node, ports matched by name (or the only one)."""
    ins = [n.name for n in grafted.input_nodes]
    outs = [n.name for n in grafted.output_nodes]
    edges: list[Edge] = []
    for e in target.edges:
        if e.dst == old.id:
            port = _match(e.dst_port, ins, old.name, "input")
            edges.append(Edge(e.src, e.src_port, node_id, port))
        elif e.src == old.id:
            port = _match(e.src_port, outs, old.name, "output")
            edges.append(Edge(node_id, port, e.dst, e.dst_port))
    return edges


def _match(port: str, ports: list[str], old: str, what: str) -> str:
    if port in ports:
        return port
    if len(ports) == 1:
        return ports[0]
    known = ", ".join(ports) or "none"
    raise OperationError(f"the grafted module has no {what} '{port}' to take the wire of '{old}' ({what}s: {known})")


@dataclass
class SetNodeWeights(Operation):
    """Attach (or, with None, detach) a weights reference to a node, and freeze or unfreeze it."""

    module: str
    node_id: str
    weights: str | None
    frozen: bool = False

    def apply(self, doc: Document) -> None:
        node = doc.node(self.module, self.node_id)
        if self.weights is not None and not self.weights.strip():
            raise OperationError("a weights reference names a .safetensors file")
        before = SetNodeWeights(self.module, self.node_id, node.weights, node.frozen)
        node.weights, node.frozen = self.weights, self.frozen
        doc.emit(Change(ChangeKind.NODE_CHANGED, self.module, (node.id,)))
        state = "frozen" if self.frozen else "trainable"
        text = (
            f"Detach weights of '{node.name}'" if self.weights is None else f"Attach weights to '{node.name}' ({state})"
        )
        self._done(text, before)


@dataclass
class SetInitWeights(Operation):
    """The whole-network weights a run starts from (None: fresh weights from the seed)."""

    path: str | None

    def apply(self, doc: Document) -> None:
        if self.path is not None and not self.path.strip():
            raise OperationError("initial weights name a .safetensors file")
        before = SetInitWeights(doc.project.training.init_weights)
        doc.project.training.init_weights = self.path
        doc.emit(Change(ChangeKind.TRAINING_CHANGED, doc.project.main))
        text = "Start training from fresh weights" if self.path is None else f"Start training from {self.path}"
        self._done(text, before)
