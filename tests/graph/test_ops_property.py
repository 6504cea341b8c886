"""Random edit sessions: every accepted operation leaves a valid project, every refused one
leaves it untouched, and undoing everything gives back the exact original file."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modstudio.blocks import default_catalog
from modstudio.graph.io import project_to_json
from modstudio.graph.model import Edge, Node
from modstudio.graph.ops import (
    AddModule,
    AddNode,
    Connect,
    Disconnect,
    Document,
    GroupIntoModule,
    History,
    MoveNode,
    Operation,
    OperationError,
    RemoveModule,
    RemoveNode,
    RenameModule,
    RenameNode,
    SetModuleParam,
    SetParam,
    Ungroup,
)
from modstudio.graph.ports import node_ports
from modstudio.graph.validate import check_project

from .test_ops import sample_project

CATALOG = default_catalog()
NODE_NAMES = ["a", "b", "fc1", "relu1", "x", "y", "out", "class", "forward", "n 2"]
MODULE_NAMES = ["G", "H", "Block", "main", "bad name", "Stem"]
BLOCKS = ["linear", "relu", "add", "concat", "input", "output", "tanh", "nope"]
KINDS = [
    "add_node",
    "remove_node",
    "connect",
    "disconnect",
    "set_param",
    "rename",
    "move",
    "group",
    "ungroup",
    "add_module",
    "remove_module",
    "rename_module",
    "set_module_param",
]
EXPRESSIONS = ["=hidden", "=width * 2", "=max(hidden, 3)", "=depth"]


def _value(data: st.DataObject, kind: str, choices: tuple[str, ...] = ()) -> Any:
    if kind in ("int", "float"):
        return data.draw(st.one_of(st.none(), st.integers(-2, 40), st.sampled_from(EXPRESSIONS)))
    if kind == "bool":
        return data.draw(st.one_of(st.none(), st.booleans()))
    if kind == "choice":
        return data.draw(st.sampled_from([*choices, "zzz"]))
    return data.draw(st.one_of(st.none(), st.lists(st.integers(0, 6), max_size=3)))


def _set_param(data: st.DataObject, doc: Document, module: str, node: Node) -> Operation:
    if node.module is not None:
        target = doc.project.modules.get(node.module)
        name = data.draw(st.sampled_from([*(target.params if target else ()), "width", "bogus"]))
        return SetParam(module, node.id, name, _value(data, "int"))
    spec = CATALOG.lookup(node.block or "")
    specs = {p.name: p for p in (spec.params if spec else ())}
    name = data.draw(st.sampled_from([*specs, "bogus"]))
    pspec = specs.get(name)
    value = _value(data, pspec.kind, pspec.choices) if pspec else 1
    return SetParam(module, node.id, name, value)


def _connect(data: st.DataObject, doc: Document, module: str, nodes: list[Node]) -> Operation:
    """Mostly from an output to an input that can take one (so that many are accepted)."""
    outs, free = [], []
    edges = doc.project.modules[module].edges
    for node in nodes:
        ports = node_ports(doc.project, CATALOG, node)
        outs += [(node.id, p.name) for p in (ports[1] if ports else ())]
        for p in ports[0] if ports else ():
            if p.multi or not any(e.dst == node.id and e.dst_port == p.name for e in edges):
                free.append((node.id, p.name))
    if outs and free and data.draw(st.integers(0, 4)):
        src, dst = data.draw(st.sampled_from(outs)), data.draw(st.sampled_from(free))
    else:
        src = (data.draw(st.sampled_from(nodes)).id, data.draw(st.sampled_from(["out", "y", "nope"])))
        dst = (data.draw(st.sampled_from(nodes)).id, data.draw(st.sampled_from(["in", "x", "nope"])))
    return Connect(module, Edge(*src, *dst))


def _group(data: st.DataObject, module: str, nodes: list[Node], edges: list[Edge]) -> Operation:
    """Mostly a chain of inner nodes, else any few nodes."""
    inner = [n.id for n in nodes if n.block not in ("input", "output")]
    if inner and data.draw(st.integers(0, 3)):
        chosen = [data.draw(st.sampled_from(inner))]
        for _ in range(data.draw(st.integers(0, 4))):
            following = [e.dst for e in edges if e.src == chosen[-1] and e.dst in inner and e.dst not in chosen]
            if not following:
                break
            chosen.append(data.draw(st.sampled_from(following)))
    else:
        chosen = data.draw(st.lists(st.sampled_from([n.id for n in nodes]), min_size=1, max_size=5, unique=True))
    return GroupIntoModule(module, chosen, data.draw(st.sampled_from(MODULE_NAMES)))


def draw_operation(data: st.DataObject, doc: Document) -> Operation:
    project = doc.project
    kind = data.draw(st.sampled_from(KINDS))
    module = data.draw(st.sampled_from(list(project.modules)))
    nodes = project.modules[module].nodes
    node = data.draw(st.sampled_from(nodes)) if nodes else Node("missing", "missing", block="relu")
    if kind == "add_node":
        what = data.draw(st.sampled_from([*BLOCKS, *project.modules]))
        params = {"out_features": _value(data, "int")} if what == "linear" and data.draw(st.booleans()) else {}
        position = data.draw(st.none() | st.tuples(st.floats(-500, 500), st.floats(-500, 500)))
        name = data.draw(st.none() | st.sampled_from(NODE_NAMES))
        if what in project.modules:
            return AddNode(module, module_ref=what, name=name, position=position)
        return AddNode(module, block=what, name=name, params=params, position=position)
    if kind == "remove_node":
        return RemoveNode(module, node.id)
    if kind == "connect" and nodes:
        return _connect(data, doc, module, nodes)
    if kind == "disconnect":
        edges = project.modules[module].edges
        edge = data.draw(st.sampled_from(edges)) if edges else Edge(node.id, "out", node.id, "in")
        return Disconnect(module, edge)
    if kind == "set_param":
        tunable = [n for n in nodes if n.module is not None or n.block in ("linear", "concat", "input", "output")]
        return _set_param(data, doc, module, data.draw(st.sampled_from(tunable)) if tunable else node)
    if kind == "rename":
        return RenameNode(module, node.id, data.draw(st.sampled_from(NODE_NAMES)))
    if kind == "move":
        return MoveNode(module, node.id, data.draw(st.none() | st.tuples(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3))))
    if kind == "group" and nodes:
        return _group(data, module, nodes, project.modules[module].edges)
    if kind == "ungroup":
        refs = [(m, n.id) for m, mod in project.modules.items() for n in mod.nodes if n.module is not None]
        return Ungroup(*data.draw(st.sampled_from(refs))) if refs else Ungroup(module, node.id)
    if kind == "add_module":
        return AddModule(data.draw(st.sampled_from(MODULE_NAMES)))
    if kind == "remove_module":
        return RemoveModule(module)
    if kind == "rename_module":
        return RenameModule(module, data.draw(st.sampled_from(MODULE_NAMES)))
    value = data.draw(st.one_of(st.none(), st.integers(1, 64), st.floats(0.0, 1.0)))
    return SetModuleParam(module, data.draw(st.sampled_from(["hidden", "width", "depth", "if"])), value)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_edit_sessions_undo_to_the_exact_original(data):
    project = sample_project()
    block = {n.id: [0.0, i * 50.0] for i, n in enumerate(project.modules["Block"].nodes)}
    project.ui.positions = {"Block": block, **project.ui.positions}  # both orders of tables matter
    doc = Document(project, CATALOG)
    history = History(doc)
    original = project_to_json(project)
    assert check_project(project, CATALOG) == []
    applied = 0
    for _ in range(data.draw(st.integers(1, 30), label="steps")):
        op = draw_operation(data, doc)
        before = project_to_json(project)
        try:
            history.do(op)
        except OperationError:
            assert project_to_json(project) == before, f"refused {op} changed the project"
            continue
        applied += 1
        problems = check_project(project, CATALOG)
        assert problems == [], f"{op.description}: {[str(p) for p in problems]}"
    final = project_to_json(project)
    for _ in range(applied):
        assert history.undo() is not None
    assert history.undo() is None
    assert project_to_json(project) == original
    while history.redo() is not None:
        pass
    assert project_to_json(project) == final  # redo replays the same ids and names
