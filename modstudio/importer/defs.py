"""From module instances to ModuleDefs: instances of one class with the same structure share one
ModuleDef; those differing only in whole-number settings (sizes, strides) share one parametric
ModuleDef whose module params carry what differs (``out_channels``, ``stride``, ``out_channels * 4``),
as the library's ``BasicBlockDown`` serves three ResNet stages."""

from __future__ import annotations

import uuid
from collections.abc import Hashable
from typing import Any

from torch import nn

from modstudio.blocks.catalog import Catalog
from modstudio.graph.layout import readable_layout
from modstudio.graph.model import Edge, ModuleDef, Node, Project, UIData
from modstudio.graph.names import module_name_problem, unique_name
from modstudio.graph.schema import INPUT_BLOCK, OUTPUT_BLOCK

from .pieces import Instance, Piece

_NAMESPACE = uuid.UUID("2b7f3e0a-41c5-4d6e-9f0b-696d706f7274")
_HOLE = "<value>"
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)

Position = tuple[str, str]  # (node name, param name)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _frozen(value: Any) -> Hashable:
    if isinstance(value, list):
        return ("list", *(_frozen(v) for v in value))
    return (type(value).__name__, value)


def _node_values(piece: Piece) -> dict[str, Any]:
    """The values a node carries: its block params, or the module params of the instance it refers to."""
    return dict(piece.child.values) if piece.child is not None else dict(piece.params)


def _structure(instance: Instance) -> tuple[Hashable, list[tuple[Position, int]]]:
    """What must be equal for instances to share a ModuleDef, and their whole-number settings (holes)."""
    holes: list[tuple[Position, int]] = []
    pieces: list[Hashable] = []
    open_holes = instance.role == "submodule"  # members are listed by name only: they share one exactly
    for piece in instance.pieces:
        values: list[Hashable] = []
        for key, value in sorted(_node_values(piece).items()):
            if open_holes and _is_int(value):
                holes.append(((piece.name, key), value))
                values.append((key, _HOLE))
            else:
                values.append((key, _frozen(value)))
        members = tuple((param, tuple(m.module for m, _ in made)) for param, made in sorted(piece.members.items()))
        wiring = tuple((port, tuple((w.node, w.port) for w in wires)) for port, wires in piece.inputs)
        module = piece.child.module if piece.child is not None else None
        pieces.append((piece.name, piece.block, module, tuple(values), members, wiring))
    outputs = tuple((name, wire.node, wire.port) for name, wire in instance.outputs)
    inputs = tuple(name for name, _ in instance.inputs)
    cls = f"{instance.cls.__module__}.{instance.cls.__qualname__}"
    return (cls, instance.role, inputs, outputs, tuple(pieces)), holes


def _base_name(instance: Instance) -> str:
    if issubclass(instance.cls, _CONTAINERS) or (instance.role == "model" and not instance.cls.__name__[:1].isalpha()):
        last = instance.path.rpartition(".")[2] if instance.path else ""
        if last and last[0].isalpha():
            return "".join(part[:1].upper() + part[1:] for part in last.split("_") if part)
    return instance.cls.__name__


class ModuleNames:
    def __init__(self) -> None:
        self.taken: set[str] = set()

    def new(self, base: str) -> str:
        base = base if not module_name_problem(base) else "Module"
        name, counter = base, 1
        while name in self.taken:
            counter += 1
            name = f"{base}{counter}"
        self.taken.add(name)
        return name


def _param_names(positions: list[Position], vectors: dict[Position, tuple[int, ...]]) -> dict[Position, str]:
    """A module param (or an expression of one) for every position whose value differs between instances."""
    named: dict[tuple[int, ...], str] = {}
    taken: set[str] = set()
    out: dict[Position, str] = {}
    for position in positions:
        vector = vectors[position]
        if vector in named:
            out[position] = f"={named[vector]}"
            continue
        multiple = _multiple_of(vector, named)
        if multiple is not None:
            out[position] = multiple
            continue
        name = unique_name(position[1], taken)
        taken.add(name)
        named[vector] = name
        out[position] = f"={name}"
    return out


def _multiple_of(vector: tuple[int, ...], named: dict[tuple[int, ...], str]) -> str | None:
    for base, name in named.items():
        if all(b != 0 for b in base) and all(v % b == 0 for v, b in zip(vector, base)):
            factors = {v // b for v, b in zip(vector, base)}
            if len(factors) == 1 and (factor := factors.pop()) > 1:
                return f"={name} * {factor}"
    return None


def assign_modules(instances: list[Instance]) -> dict[str, tuple[Instance, dict[Position, str], dict[str, int]]]:
    """Group the instances into ModuleDefs; returns each ModuleDef's name with the instance it is drawn
    from, the expressions of its varying positions and its module params' defaults.

    A parent's structure depends on its children's ModuleDefs, so the grouping is repeated until
    nothing changes (once per level of nesting)."""
    before: list[tuple[str, dict[str, int]]] | None = None
    made: dict[str, tuple[Instance, dict[Position, str], dict[str, int]]] = {}
    for _ in range(len(instances) + 1):
        groups: dict[Hashable, list[Instance]] = {}
        holes_of: dict[int, list[tuple[Position, int]]] = {}
        for instance in instances:
            key, holes = _structure(instance)
            holes_of[id(instance)] = holes
            groups.setdefault(key, []).append(instance)
        names = ModuleNames()
        made = {}
        for group in groups.values():
            _settle(group, holes_of, names, made)
        after = [(i.module, dict(i.values)) for i in instances]
        if after == before:
            break
        before = after
    return made


def _settle(group: list[Instance], holes_of: dict, names: ModuleNames, made: dict) -> None:
    """The ModuleDef of one group: its name, the expressions of what differs, each instance's values."""
    first = group[0]
    positions = [position for position, _ in holes_of[id(first)]]
    vectors = {pos: tuple(dict(holes_of[id(inst)])[pos] for inst in group) for pos in positions}
    varying = [pos for pos in positions if len(set(vectors[pos])) > 1]
    expressions = _param_names(varying, vectors)
    name = names.new(_base_name(first))
    for index, instance in enumerate(group):
        instance.module = name
        instance.values = {expressions[pos][1:]: vectors[pos][index] for pos in varying if " " not in expressions[pos]}
    made[name] = (first, expressions, dict(first.values))


def module_def(
    instance: Instance, expressions: dict[Position, str], params: dict[str, int], catalog: Catalog, main: bool
) -> ModuleDef:
    """The ModuleDef drawn from ``instance``, with ``expressions`` where instances differ."""
    module = ModuleDef(params=dict(params), doc=f"Imported from {instance.cls.__module__}.{instance.cls.__qualname__}")
    ids: dict[str, str] = {}

    def node_id(name: str) -> str:
        ids[name] = str(uuid.uuid5(_NAMESPACE, f"{instance.module}/{name}"))
        return ids[name]

    for name, value in instance.inputs:
        params_: dict[str, Any] = {}
        if main:
            params_["shape"] = list(value.shape[1:])
            if not value.is_floating_point():
                params_["dtype"] = "long"
        module.nodes.append(Node(id=node_id(name), name=name, block=INPUT_BLOCK, params=params_))
    for piece in instance.pieces:
        values = _node_values(piece)
        for key in list(values):
            position = (piece.name, key)
            if position in expressions:
                values[key] = expressions[position]
        for param, made in piece.members.items():
            member_names = [m.module for m, _ in made]
            values[param] = member_names
            count = f"num_{param}"
            spec = catalog.lookup(piece.block or "")
            kinds = {p.name: p.kind for p in spec.params} if spec is not None else {}
            if kinds.get(param) == "module":  # one member module by name (a tree's trunk)
                values[param] = member_names[0]
            elif len(set(member_names)) == 1 and count in kinds:
                values[param], values[count] = member_names[:1], len(member_names)
        if piece.block is not None:
            values = _without_defaults(values, catalog, piece.block)
        module_name = piece.child.module if piece.child is not None else None
        module.nodes.append(
            Node(id=node_id(piece.name), name=piece.name, block=piece.block, module=module_name, params=values)
        )
    for piece in instance.pieces:
        for port, wires in piece.inputs:
            for wire in wires:
                module.edges.append(Edge(ids[wire.node], wire.port, ids[piece.name], port))
    for name, wire in instance.outputs:
        module.nodes.append(Node(id=node_id(name), name=name, block=OUTPUT_BLOCK))
        module.edges.append(Edge(ids[wire.node], wire.port, ids[name], "in"))
    return module


def _without_defaults(values: dict[str, Any], catalog: Catalog, block: str) -> dict[str, Any]:
    spec = catalog[block]
    defaults = spec.defaults()
    return {
        k: v for k, v in values.items() if not (k in defaults and defaults[k] == v and type(defaults[k]) is type(v))
    }


def build_project(instances: list[Instance], main: Instance, catalog: Catalog, name: str) -> Project:
    made = assign_modules(instances)
    modules: dict[str, ModuleDef] = {}
    for module_name, (instance, expressions, params) in made.items():
        modules[module_name] = module_def(instance, expressions, params, catalog, instance is main)
    ordered = {main.module: modules[main.module], **{k: v for k, v in modules.items() if k != main.module}}
    return Project(modules=ordered, main=main.module, name=name, ui=UIData(positions=readable_layout(ordered)))
