"""Grouping nodes into a new module, and inlining a module use back into its module.

Both compute the modules as they will be and apply them with :class:`ReplaceModules`, so
the inverse restores the document exactly (same ids, same order, same positions).
"""

from __future__ import annotations

import ast
import contextlib
import copy
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from .document import Document, Operation, OperationError, Positions, positions_of
from .expressions import ExpressionError, evaluate, is_expression, names_used, parse
from .model import Edge, ModuleDef, Node, new_id
from .module_ops import ReplaceModules, default_node_name
from .names import module_name_problem, node_name_problem, unique_name
from .schema import INPUT_BLOCK, OUTPUT_BLOCK

_GAP = 200.0  # distance of new Input/Output nodes from the grouped nodes, in canvas units
_ROW = 80.0


def _downstream(edges: Iterable[Edge], start: set[str], reverse: bool = False) -> set[str]:
    """Every node reachable from ``start`` (against the edges when ``reverse``), one walk."""
    adjacency: dict[str, list[str]] = {}
    for e in edges:
        a, b = (e.dst, e.src) if reverse else (e.src, e.dst)
        adjacency.setdefault(a, []).append(b)
    seen: set[str] = set()
    todo = list(start)
    while todo:
        for nxt in adjacency.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _port_label(node: Node, port: str) -> str:
    return node.name if port == "out" else f"{node.name}_{port}"


def _stable_id(op: Operation, key: str) -> str:
    """A fresh id the first time, the same one when the operation is applied again (redo)."""
    ids: dict[str, str] = op.__dict__.setdefault("_ids", {})
    return ids.setdefault(key, new_id())


def _column(positions: Positions, ids: list[str], x: float, y: float) -> None:
    for i, node_id in enumerate(ids):
        positions[node_id] = [x, y + (i - (len(ids) - 1) / 2) * _ROW]


@dataclass
class GroupIntoModule(Operation):
    """Replace selected nodes by one node using a new module that holds them.

    Each distinct outside source feeding the selection becomes an Input of the new module,
    named after it (``fc1``, or ``split_a`` for port ``a``); each distinct inside source read
    from outside becomes an Output (``out`` when there is one, else ``relu1_out``...).
    Parameters of the outer module used by the selection's expressions are passed through
    (``channels="=channels"``) so the network computes the same thing.
    """

    module: str
    node_ids: list[str] | tuple[str, ...]
    name: str
    node_name: str | None = None
    node_id: str = field(default_factory=new_id)

    def apply(self, doc: Document) -> None:
        outer = doc.module(self.module)
        by_id = {n.id: n for n in outer.nodes}
        chosen = list(dict.fromkeys(self.node_ids))
        self._check(doc, outer, by_id, chosen)
        picked = set(chosen)
        entering = [e for e in outer.edges if e.src not in picked and e.dst in picked]
        leaving = [e for e in outer.edges if e.src in picked and e.dst not in picked]
        taken = {by_id[i].name for i in chosen}
        inputs: dict[tuple[str, str], Node] = {}
        for e in entering:
            if (e.src, e.src_port) not in inputs:
                name = unique_name(_port_label(by_id[e.src], e.src_port), taken)
                inputs[(e.src, e.src_port)] = Node(_stable_id(self, f"in {e.src} {e.src_port}"), name, INPUT_BLOCK)
                taken.add(name)
        sources = list(dict.fromkeys((e.src, e.src_port) for e in leaving))
        outputs: dict[tuple[str, str], Node] = {}
        for src, port in sources:
            name = unique_name("out" if len(sources) == 1 else f"{by_id[src].name}_{port}", taken)
            outputs[(src, port)] = Node(_stable_id(self, f"out {src} {port}"), name, OUTPUT_BLOCK)
            taken.add(name)
        passed = self._passed_params(outer, [by_id[i] for i in chosen])
        ref = Node(self.node_id, self._ref_name(outer, picked), module=self.name)
        ref.params = {p: f"={p}" for p in passed}
        inner = ModuleDef(params={p: outer.params[p] for p in passed})
        inner.nodes = [*inputs.values(), *(copy.deepcopy(n) for n in outer.nodes if n.id in picked)]
        inner.nodes += outputs.values()
        new_outer = replace(outer, nodes=[], edges=[], params=dict(outer.params))
        first = next(i for i, n in enumerate(outer.nodes) if n.id in picked)
        new_outer.nodes = [copy.deepcopy(n) for n in outer.nodes[:first] if n.id not in picked] + [ref]
        new_outer.nodes += [copy.deepcopy(n) for n in outer.nodes[first:] if n.id not in picked]
        fed, read = set(), set()
        for e in outer.edges:
            src_in, dst_in, key = e.src in picked, e.dst in picked, (e.src, e.src_port)
            if src_in and dst_in:
                inner.edges.append(copy.copy(e))
            elif dst_in:
                inner.edges.append(Edge(inputs[key].id, "out", e.dst, e.dst_port))
                if key not in fed:
                    new_outer.edges.append(Edge(e.src, e.src_port, ref.id, inputs[key].name))
                    fed.add(key)
            elif src_in:
                if key not in read:
                    inner.edges.append(Edge(e.src, e.src_port, outputs[key].id, "in"))
                    read.add(key)
                new_outer.edges.append(Edge(ref.id, outputs[key].name, e.dst, e.dst_port))
            else:
                new_outer.edges.append(copy.copy(e))
        text = f"Group {len(chosen)} node{'s' if len(chosen) != 1 else ''} into {self.name}"
        positions = self._positions(doc, chosen, ref.id, list(inputs.values()), list(outputs.values()))
        op = ReplaceModules({self.module: new_outer, self.name: inner}, positions, text=text)
        self._done(text, doc.apply(op))

    def _check(self, doc: Document, outer: ModuleDef, by_id: dict[str, Node], chosen: list[str]) -> None:
        if not chosen:
            raise OperationError("select at least one node to group")
        for node_id in chosen:
            doc.node(self.module, node_id)
        boundary = [f"'{by_id[i].name}'" for i in chosen if by_id[i].block in (INPUT_BLOCK, OUTPUT_BLOCK)]
        if boundary:
            raise OperationError(
                f"{', '.join(boundary)}: the Input and Output nodes of module '{self.module}' cannot be grouped"
            )
        why = module_name_problem(self.name)
        if why:
            raise OperationError(why)
        if self.name in doc.project.modules:
            raise OperationError(f"there is already a module named '{self.name}'")
        if doc.project.module_of(self.node_id) is not None:
            raise OperationError(f"node id '{self.node_id}' is already used")
        picked = set(chosen)
        between = (_downstream(outer.edges, picked) & _downstream(outer.edges, picked, reverse=True)) - picked
        if between:
            names = ", ".join(sorted(f"'{by_id[i].name}'" for i in between))
            raise OperationError(
                f"{names} lies between grouped nodes: select it too, or the new module would feed itself"
            )
        if not any(e.src in picked and e.dst not in picked for e in outer.edges):
            raise OperationError("nothing outside reads from the selected nodes, so the module would have no output")
        if self.node_name is not None:
            why = node_name_problem(self.node_name)
            if why:
                raise OperationError(why)
            if any(n.name == self.node_name and n.id not in picked for n in outer.nodes):
                raise OperationError(f"module '{self.module}' already has a node named '{self.node_name}'")

    def _ref_name(self, outer: ModuleDef, picked: set[str]) -> str:
        if self.node_name is not None:
            return self.node_name
        return unique_name(default_node_name(self.name), {n.name for n in outer.nodes if n.id not in picked})

    @staticmethod
    def _passed_params(outer: ModuleDef, nodes: list[Node]) -> list[str]:
        used: set[str] = set()
        for node in nodes:
            for value in node.params.values():
                if is_expression(value):
                    with contextlib.suppress(ExpressionError):
                        used |= names_used(value)
        return [p for p in outer.params if p in used]

    def _positions(
        self, doc: Document, chosen: list[str], ref_id: str, inputs: list[Node], outputs: list[Node]
    ) -> dict[str, Positions | None]:
        before = positions_of(doc.project, self.module)
        if before is None:
            return {}
        placed = [before[i] for i in chosen if i in before]
        after = {k: v for k, v in before.items() if k not in set(chosen)}
        if not placed:
            return {self.module: after}
        xs, ys = [p[0] for p in placed], [p[1] for p in placed]
        centre = [sum(xs) / len(xs), sum(ys) / len(ys)]
        after[ref_id] = centre
        inner = {i: before[i] for i in chosen if i in before}
        _column(inner, [n.id for n in inputs], min(xs) - _GAP, centre[1])
        _column(inner, [n.id for n in outputs], max(xs) + _GAP, centre[1])
        return {self.module: after, self.name: inner}


@dataclass
class Ungroup(Operation):
    """Inline the module a node uses into the node's module, with fresh names and ids.

    The used module stays in the library. Expressions inside it that refer to its own
    parameters are rewritten with the values (or expressions) the node gave them.
    """

    module: str
    node_id: str

    def apply(self, doc: Document) -> None:
        outer = doc.module(self.module)
        ref = doc.node(self.module, self.node_id)
        if ref.module is None:
            raise OperationError(f"'{ref.name}' is a block, not a use of a module: there is nothing to ungroup")
        inner = doc.module(ref.module)
        bindings = {p: _binding(ref.params.get(p, default)) for p, default in inner.params.items()}
        taken = {n.name for n in outer.nodes if n.id != ref.id}
        fresh: dict[str, str] = {}
        added: list[Node] = []
        for n in inner.nodes:
            if n.block in (INPUT_BLOCK, OUTPUT_BLOCK):
                continue
            params = {k: _inline(doc, n, k, v, bindings) for k, v in n.params.items()}
            added.append(Node(_stable_id(self, n.id), unique_name(n.name, taken), n.block, n.module, params))
            taken.add(added[-1].name)
            fresh[n.id] = added[-1].id
        port_of = {n.id: n.name for n in [*inner.input_nodes, *inner.output_nodes]}
        feeds = {e.dst_port: (e.src, e.src_port) for e in outer.edges if e.dst == ref.id}

        def source(node_id: str, port: str) -> tuple[str, str] | None:
            if node_id in port_of:
                return feeds.get(port_of[node_id])
            return (fresh[node_id], port) if node_id in fresh else None

        results = {port_of[e.dst]: source(e.src, e.src_port) for e in inner.edges if e.dst in port_of}
        inlined = []
        for e in inner.edges:
            start = source(e.src, e.src_port)
            if start is not None and e.dst in fresh:
                inlined.append(Edge(*start, fresh[e.dst], e.dst_port))
        new_outer = replace(outer, nodes=[], edges=[], params=dict(outer.params))
        index = outer.index_of(ref.id)
        new_outer.nodes = [copy.deepcopy(n) for n in outer.nodes[:index]] + added
        new_outer.nodes += [copy.deepcopy(n) for n in outer.nodes[index + 1 :]]
        for e in outer.edges:
            if ref.id in (e.src, e.dst) and inlined:
                new_outer.edges += inlined
                inlined = []
            if e.src == ref.id and results.get(e.src_port) is not None:
                new_outer.edges.append(Edge(*results[e.src_port], e.dst, e.dst_port))  # type: ignore[misc]
            elif ref.id not in (e.src, e.dst):
                new_outer.edges.append(copy.copy(e))
        new_outer.edges += inlined
        text = f"Ungroup '{ref.name}'"
        positions = self._positions(doc, ref.id, inner, ref.module, fresh)
        op = ReplaceModules({self.module: new_outer}, positions, text=text)
        self._done(text, doc.apply(op))

    def _positions(
        self, doc: Document, ref_id: str, inner: ModuleDef, inner_name: str, fresh: dict[str, str]
    ) -> dict[str, Positions | None]:
        before = positions_of(doc.project, self.module)
        if before is None:
            return {}
        after = {k: v for k, v in before.items() if k != ref_id}
        at = before.get(ref_id)
        inside = {i: p for i, p in (positions_of(doc.project, inner_name) or {}).items() if i in fresh}
        if at is not None and inside:
            cx = sum(p[0] for p in inside.values()) / len(inside)
            cy = sum(p[1] for p in inside.values()) / len(inside)
            for old_id, p in inside.items():
                after[fresh[old_id]] = [p[0] - cx + at[0], p[1] - cy + at[1]]
        return {self.module: after or None}


def _binding(value: object) -> ast.expr:
    """The syntax tree that stands for a module parameter's value in the outer module."""
    if is_expression(value):
        return parse(value)  # type: ignore[arg-type]
    number = float(value) if isinstance(value, float) else int(value)  # type: ignore[arg-type]
    if number < 0:
        return ast.UnaryOp(ast.USub(), ast.Constant(-number))
    return ast.Constant(number)


class _Substitute(ast.NodeTransformer):
    def __init__(self, bindings: dict[str, ast.expr]) -> None:
        self.bindings = bindings

    def visit_Call(self, node: ast.Call) -> ast.AST:
        node.args = [self.visit(a) for a in node.args]
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return copy.deepcopy(self.bindings[node.id]) if node.id in self.bindings else node


def _inline(doc: Document, node: Node, key: str, value: object, bindings: dict[str, ast.expr]) -> object:
    """A parameter of an inlined node, rewritten for the outer module (folded when constant)."""
    if not is_expression(value):
        return copy.deepcopy(value)
    try:
        tree = copy.deepcopy(parse(value))  # type: ignore[arg-type]  # parse's tree is shared: substitute in a copy
        text = "=" + ast.unparse(_Substitute(bindings).visit(tree))
        if names_used(text):
            return text
        result = evaluate(text, {})
    except ExpressionError as exc:
        raise OperationError(f"cannot inline {key} of '{node.name}': {exc}") from None
    if node.module is not None:
        return result
    spec = doc.catalog.lookup(node.block or "")
    pspec = next((p for p in spec.params if p.name == key), None) if spec else None
    if pspec is not None and pspec.kind == "int" and float(result).is_integer():
        result = int(result)
    return result if pspec is not None and pspec.check_value(result) is None else text
