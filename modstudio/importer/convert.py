"""The model, one module instance at a time, as pieces of ModuleDefs: a node per layer or op,
a module reference per user submodule (traced in its turn), wires between them, and the weights
each node takes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable
from typing import Any

import torch
from torch import fx, nn

from modstudio.blocks.catalog import Catalog
from modstudio.blocks.importing import Mapped, NoBlock
from modstudio.graph.names import unique_name

from .errors import Unmapped
from .op_rules import has_rule, map_op
from .ops import Alias, Block, Call, Const, Refused, Unavailable, Weight, Wire, op_name
from .pieces import Instance, Located, Piece, piece_name
from .registry import Candidate, Importers
from .trace import Calls, TraceFailed, export_level, is_torch_leaf, sample_values, structure_key, trace, where


class Walker:
    """Turns module instances into Instances, collecting what cannot be mapped."""

    def __init__(self, catalog: Catalog, importers: Importers) -> None:
        self.catalog = catalog
        self.importers = importers
        self.unmapped: list[Unmapped] = []
        self.instances: list[Instance] = []  # every instance made, children before parents
        self.calls: Calls = {}  # submodule outputs of one run of the whole model (trace.record_calls)
        self.traced: Callable[[str, int], None] = lambda path, count: None  # progress: (module path, modules traced)
        self.count = 0
        self.graphs: dict[Hashable, fx.Graph] = {}  # one trace per structure (trace.structure_key)
        self.own: dict[Hashable, fx.Graph] = {}  # by id: modules whose structure has no key

    def graph_of(self, module: nn.Module) -> fx.Graph:
        """``module``'s one-level trace: once per structure (once per instance for one without a key)."""
        key = structure_key(module)
        known = self.graphs if key is not None else self.own
        found = known.get(key if key is not None else id(module))
        if found is None:
            found = known[key if key is not None else id(module)] = trace(module)
        return found

    def instance(
        self, module: nn.Module, path: str, inputs: tuple[Any, ...], role: str, called_at: Located = lambda: ""
    ) -> Instance | None:
        label = path or type(module).__name__
        self.count += 1
        self.traced(path, self.count)
        runner, lines = module, None
        try:
            graph = self.graph_of(module)
        except TraceFailed as exc:
            try:  # torch.export follows what fx cannot (control flow on sizes), at the same level
                graph, runner = export_level(module, inputs)
                lines = {n.name: where(n) for n in graph.nodes}
            except TraceFailed as exported:
                why = f"cannot be traced by torch.fx ({exc}) nor exported by torch.export ({exported})"
                at = exc.where or exported.where or called_at()
                self.unmapped.append(Unmapped(f"{type(module).__name__} '{label}'", at, why))
                return None
        try:
            once = len(self.calls.get(id(module), ())) <= 1 and role != "member"  # members see other tokens here
            values = sample_values(runner, graph, inputs, self.calls if once and runner is module else None)
        except Exception as exc:
            self.unmapped.append(
                Unmapped(f"{type(module).__name__} '{label}'", called_at(), f"fails on the sample input: {exc}")
            )
            return None
        builder = _InstanceBuilder(self, module, graph, values, path, role, called_at)
        builder.lines = lines
        made = builder.build()
        if made is not None:
            self.instances.append(made)
        return made


class _InstanceBuilder:
    def __init__(
        self, walker: Walker, module: nn.Module, graph: fx.Graph, values: dict, path: str, role: str, called_at: Located
    ) -> None:
        self.walker, self.gm, self.graph, self.values, self.path, self.role = walker, module, graph, values, path, role
        self.module = module
        self.called_at = called_at  # where the parent calls it: the place to name for a container's layers
        self.lines: dict[str, str] | None = None
        self.refs: dict[fx.Node, Any] = {}
        self.taken: set[str] = set()
        self.called: set[int] = set()
        self.result = Instance(type(module), path, role, [])
        self.failed = False

    def refuse(self, what: str, node: fx.Node, reason: str) -> None:
        self.walker.unmapped.append(Unmapped(what, self.where(node), reason))
        self.refs[node] = FAILED
        self.failed = True

    def build(self) -> Instance | None:
        for node in self.graph.nodes:
            if node.op == "placeholder":
                name = unique_name(str(node.target).lstrip("*"), self.taken)
                self.taken.add(name)
                self.result.inputs.append((name, self.values[node]))
                self.refs[node] = Wire(name)
            elif node.op == "get_attr":
                self.refs[node] = Weight(
                    str(node.target),
                    self.gm.get_parameter(str(node.target)).detach()
                    if _is_parameter(self.gm, str(node.target))
                    else self.values[node],
                )
            elif _fed_by_failure(node, self.refs):
                self.after_failure(node)
            elif (unavailable := _unavailable(node, self.refs)) is not None:
                self.refuse(_what(node, self.gm), node, unavailable.reason)
            elif node.op == "call_module":
                self.call_module(node)
            elif node.op in ("call_function", "call_method"):
                self.call_op(node)
            elif node.op == "output":
                self.output(node)
        return None if self.failed else self.result

    def after_failure(self, node: fx.Node) -> None:
        """Downstream of an op already listed: list it too when it has no block whatever its inputs."""
        self.refs[node] = FAILED
        if node.op in ("call_function", "call_method") and not has_rule(node):
            self.refuse(op_name(node), node, "has no block")
        elif node.op == "call_module":
            sub = self.gm.get_submodule(str(node.target))
            candidates = self.walker.importers.of(sub)
            known = candidates or isinstance(sub, nn.Identity)
            label = self._label(sub, str(node.target))
            if is_torch_leaf(sub) and not known:
                self.refuse(label, node, "has no block")
            elif candidates:  # its settings alone may rule every block out (post-norm, another activation)
                refused = [m for c in candidates if isinstance(m := c.importer.convert(sub), NoBlock)]
                if len(refused) == len(candidates):
                    self.refuse(label, node, _no_block([m.reason for m in refused]))
            elif not known:  # a user module: what inside it has no block is listed too
                inputs = tuple(self._value(a) for a in node.args)
                self.walker.instance(sub, _joined(self.path, str(node.target)), inputs, "submodule", self._at(node))

    def _label(self, sub: nn.Module, target: str) -> str:
        return f"{type(sub).__name__} '{_joined(self.path, target)}'"

    def _ref(self, arg: Any) -> Any:
        if isinstance(arg, fx.Node):
            return self.refs.get(arg)
        if isinstance(arg, (list, tuple)):
            return type(arg)(self._ref(a) for a in arg)
        return Const(arg)

    def _value(self, arg: Any) -> Any:
        if isinstance(arg, fx.Node):
            return self.values[arg]
        if isinstance(arg, (list, tuple)):
            return type(arg)(self._value(a) for a in arg)
        return arg

    def where(self, node: fx.Node) -> str:
        """``file.py:LINE`` of the code that made ``node`` (traced again, with lines, the first time it is asked)."""
        if self.lines is None:
            try:
                self.lines = {n.name: where(n) for n in trace(self.module, lines=True).nodes}
            except TraceFailed:
                self.lines = {}
        return self.lines.get(node.name) or self.called_at()

    def _at(self, node: fx.Node) -> Located:
        return lambda: self.where(node)

    def add_piece(self, piece: Piece) -> None:
        self.taken.add(piece.name)
        self.result.pieces.append(piece)

    def call_op(self, node: fx.Node) -> None:
        call = Call(
            node,
            [self._ref(a) for a in node.args],
            [self._value(a) for a in node.args],
            {k: self._ref(v) for k, v in node.kwargs.items()},
            {k: self._value(v) for k, v in node.kwargs.items()},
            self.values[node],
        )
        result = map_op(call)
        if isinstance(result, Refused):
            self.refuse(op_name(node), node, result.reason)
        elif isinstance(result, Const):
            self.refs[node] = result
        elif isinstance(result, Alias):
            self.refs[node] = result.ref
        elif isinstance(result, Block):
            name = unique_name(node.name, self.taken)
            self.add_piece(
                Piece(name, result.block, params=result.params, inputs=result.inputs, weights=result.weights)
            )
            self.refs[node] = Wire(name)

    def call_module(self, node: fx.Node) -> None:
        target = str(node.target)
        sub = self.gm.get_submodule(target)
        label = self._label(sub, target)
        if id(sub) in self.called and _has_state(sub):
            self.refuse(label, node, "is called twice (shared weights): a node has its own weights")
            return
        self.called.add(id(sub))
        if isinstance(sub, nn.Identity):
            self.refs[node] = self._ref(node.args[0])
            return
        args = [self._ref(a) for a in node.args]
        candidates = self.walker.importers.of(sub)
        if candidates:
            self.layer(node, sub, target, label, args, candidates)
        elif is_torch_leaf(sub):
            self.refuse(label, node, "has no block")
        else:
            self.submodule(node, sub, target, label, args)

    def _wires(self, node: fx.Node, label: str, args: list[Any], what: str) -> list[Wire] | None:
        if not all(isinstance(a, Wire) for a in args):
            self.refuse(label, node, f"receives a value that is not a tensor of the graph, which {what} cannot take")
            return None
        return list(args)

    def layer(
        self, node: fx.Node, sub: nn.Module, target: str, label: str, args: list[Any], candidates: list[Candidate]
    ) -> None:
        reasons: list[str] = []
        for candidate in candidates:
            mapped = candidate.importer.convert(sub)
            if isinstance(mapped, NoBlock):
                reasons.append(mapped.reason)
                continue
            if mapped.sampled is not None:
                with torch.no_grad():
                    more = mapped.sampled(*(self._value(a) for a in node.args))
                mapped = dataclasses.replace(mapped, params={**mapped.params, **more})
            problem = self._param_problem(candidate.block, mapped)
            if problem:
                reasons.append(problem)
                continue
            unknown = set(node.kwargs) - set(candidate.importer.ignored_keywords)
            if unknown:
                reasons.append(f"is called with {', '.join(sorted(unknown))}, which the block does not take")
                continue
            self.place_layer(node, sub, target, label, args, candidate, mapped)
            return
        self.refuse(label, node, _no_block(reasons))

    def _param_problem(self, block: str, mapped: Mapped) -> str | None:
        spec = self.walker.catalog.lookup(block)
        if spec is None:
            return f"maps onto the block '{block}', which is not in the catalogue"
        for name, value in mapped.params.items():
            if name in mapped.members:
                continue
            try:
                why = (
                    spec.param(name).check_value(value) if value is not None or not spec.param(name).optional else None
                )
            except KeyError:
                return f"gives the block '{block}' a param '{name}' it does not have"
            if why:
                return f"{name} {why}"
        return None

    def place_layer(
        self,
        node: fx.Node,
        sub: nn.Module,
        target: str,
        label: str,
        args: list[Any],
        candidate: Candidate,
        mapped: Mapped,
    ) -> None:
        spec = self.walker.catalog[candidate.block]
        wires = self._wires(node, label, args, "a block")
        if wires is None:
            return
        multi = len(spec.inputs) == 1 and spec.inputs[0].multi
        if len(wires) > len(spec.inputs) and not multi:
            self.refuse(label, node, f"is called with {len(wires)} inputs; the block takes {len(spec.inputs)}")
            return
        member_paths = tuple(f"{path}." for members in mapped.members.values() for path in members.paths)
        state = {k: v.detach() for k, v in sub.state_dict().items() if not k.startswith(member_paths)}
        weights = mapped.weights(state) if mapped.weights is not None else state
        name = piece_name(target, sub, self.taken)
        piece = Piece(name, candidate.block, params=dict(mapped.params), weights=dict(weights))
        piece.source = None if mapped.members else sub
        piece.inputs = [(spec.inputs[0].name, wires)] if multi else [(p.name, [w]) for p, w in zip(spec.inputs, wires)]
        inputs = tuple(self._value(a) for a in node.args)
        for param, members in mapped.members.items():
            with torch.no_grad():
                sample = members.inputs(*inputs) if members.inputs is not None else inputs
            samples = sample if isinstance(sample, list) else [sample] * len(members.paths)  # a list: one per member
            made = []
            for path, prefix, given in zip(members.paths, members.prefixes, samples):
                member = self.walker.instance(
                    sub.get_submodule(path), _joined(self.path, f"{target}.{path}"), given, "member", self._at(node)
                )
                if member is None:
                    self.refs[node] = FAILED
                    self.failed = True
                    return
                made.append((member, prefix))
            piece.members[param] = made
        self.add_piece(piece)
        out = Wire(name)
        returns = candidate.importer.returns
        if returns is None or not _is_sequence(self.values[node]):
            self.refs[node] = out
        else:
            value = self.values[node]
            self.refs[node] = tuple(out if i == returns else None for i in range(len(value)))

    def submodule(self, node: fx.Node, sub: nn.Module, target: str, label: str, args: list[Any]) -> None:
        wires = self._wires(node, label, args, "a module")
        if wires is None or node.kwargs:
            if wires is not None:
                self.refuse(label, node, "is called with keyword arguments; a module's inputs are positional")
            return
        child = self.walker.instance(
            sub, _joined(self.path, target), tuple(self._value(a) for a in node.args), "submodule", self._at(node)
        )
        if child is None:
            self.refs[node] = FAILED
            self.failed = True
            return
        name = piece_name(target, sub, self.taken)
        ports = [input_name for input_name, _ in child.inputs]
        piece = Piece(name, child=child, inputs=[(port, [w]) for port, w in zip(ports, wires)])
        self.add_piece(piece)
        outs = [Wire(name, out_name) for out_name, _ in child.outputs]
        self.refs[node] = outs[0] if len(outs) == 1 and not _is_sequence(self.values[node]) else tuple(outs)

    def output(self, node: fx.Node) -> None:
        ref = self._ref(node.args[0])
        refs = list(ref) if isinstance(ref, (list, tuple)) else [ref]
        if not all(isinstance(r, Wire) for r in refs):
            self.refuse(
                f"the output of {type(self.module).__name__}", node, "is not made of tensors the graph computes"
            )
            return
        names = ["y"] if len(refs) == 1 else [f"y{i}" for i in range(len(refs))]
        for name, wire in zip(names, refs):
            name = unique_name(name, self.taken)
            self.taken.add(name)
            self.result.outputs.append((name, wire))


FAILED = object()  # the value of a node that could not be mapped


def _fed_by_failure(node: fx.Node, refs: dict[fx.Node, Any]) -> bool:
    return any(refs.get(arg) is FAILED for arg in node.all_input_nodes)


def _unavailable(node: fx.Node, refs: dict[fx.Node, Any]) -> Unavailable | None:
    for arg in node.all_input_nodes:
        if isinstance(refs.get(arg), Unavailable):
            return refs[arg]
    return None


def _what(node: fx.Node, gm: nn.Module) -> str:
    if node.op == "call_module":
        return f"{type(gm.get_submodule(str(node.target))).__name__} '{node.target}'"
    if node.op == "output":
        return "the output"
    return op_name(node)


def _has_state(module: nn.Module) -> bool:
    return any(True for _ in module.parameters()) or any(True for _ in module.buffers())


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (list, tuple))


def _is_parameter(gm: nn.Module, target: str) -> bool:
    try:
        gm.get_parameter(target)
        return True
    except AttributeError:
        return False


def _joined(path: str, target: str) -> str:
    return f"{path}.{target}" if path else target


def _no_block(reasons: list[str]) -> str:
    return "has no block: " + "; ".join(dict.fromkeys(reasons))
