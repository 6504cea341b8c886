"""Edit operations on the module library: add, remove, rename, parameters.

:class:`ReplaceModules` swaps whole ModuleDefs (and their node positions) at once; it is
how modules are added and removed, how grouping is applied, and the exact inverse of each.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

from .document import (
    Batch,
    Change,
    ChangeKind,
    Document,
    Operation,
    OperationError,
    Positions,
    RestoreParams,
    positions_of,
    reorder,
)
from .expressions import ExpressionError, is_expression, names_used
from .model import ModuleDef
from .names import module_name_problem, node_name_problem
from .references import referenced_modules, rename_references
from .schema import BlockCatalog
from .search_form import renamed
from .section_ops import RestoreSearch


def default_node_name(module_name: str) -> str:
    """How a node that uses a module is called by default: ``ResBlock`` -> ``res_block``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", module_name).lower()


def _uses(library: dict[str, ModuleDef], names: set[str], catalog: BlockCatalog) -> list[str]:
    return [
        f"'{n.name}' in {where}"
        for where, module in library.items()
        for n in module.nodes
        if names & set(referenced_modules(n, catalog))
    ]


@dataclass
class ReplaceModules(Operation):
    """Put whole modules in place (None removes one), with their positions and the library order."""

    modules: dict[str, ModuleDef | None]
    positions: dict[str, Positions | None] = field(default_factory=dict)
    order: tuple[str, ...] | None = None  # library order afterwards; default: new modules last
    positions_order: tuple[str, ...] | None = None
    text: str = "Change modules"

    def apply(self, doc: Document) -> None:
        project = doc.project
        library = {k: v for k, v in project.modules.items() if self.modules.get(k, v) is not None}
        library.update({k: v for k, v in self.modules.items() if v is not None})
        order = self.order if self.order is not None else tuple(library)
        if sorted(order) != sorted(library):
            raise OperationError("the module order does not list every module exactly once")
        if project.main not in library:
            raise OperationError(f"'{project.main}' is the main module and cannot be removed")
        gone = {k for k, v in self.modules.items() if v is None and k in project.modules}
        used = _uses(library, gone, doc.catalog)
        if used:
            names = ", ".join(f"'{k}'" for k in sorted(gone))
            raise OperationError(f"module {names} is still used by {', '.join(used)}")
        before = {k: project.modules.get(k) for k in self.modules}
        before_positions = {k: positions_of(project, k) for k in self.positions}
        inverse = ReplaceModules(
            before, before_positions, tuple(project.modules), tuple(project.ui.positions), self.text
        )
        new = {k: copy.deepcopy(v) for k, v in self.modules.items() if v is not None}
        project.modules.clear()
        project.modules.update({k: new.get(k, library[k]) for k in order})
        table = project.ui.positions
        for k, positions in self.positions.items():
            if positions is None:
                table.pop(k, None)
            else:
                table[k] = {node_id: list(p) for node_id, p in positions.items()}
        if self.positions_order is not None:
            reorder(table, self.positions_order)
        for k in [k for k in self.modules if before[k] is None and k in new]:
            doc.emit(Change(ChangeKind.MODULE_ADDED, k))
        for k in [k for k in self.modules if before[k] is not None and k in new]:
            _emit_differences(doc, k, before[k], new[k], before_positions.get(k), positions_of(project, k))
        for k in [k for k in self.modules if before[k] is not None and k not in new]:
            doc.emit(Change(ChangeKind.MODULE_REMOVED, k))
        self._done(self.text, inverse)


def _emit_differences(
    doc: Document, name: str, old: ModuleDef, new: ModuleDef, old_pos: Positions | None, new_pos: Positions | None
) -> None:
    """Fine-grained events for a module that was replaced as a whole."""
    old_nodes, new_nodes = {n.id: n for n in old.nodes}, {n.id: n for n in new.nodes}
    old_edges = [(e.src, e.src_port, e.dst, e.dst_port) for e in old.edges]
    new_edges = [(e.src, e.src_port, e.dst, e.dst_port) for e in new.edges]
    for e in old.edges:
        key = (e.src, e.src_port, e.dst, e.dst_port)
        if old_edges.count(key) > new_edges.count(key):
            doc.emit(Change(ChangeKind.EDGE_REMOVED, name, (e.src, e.dst), edge=copy.copy(e)))
    for node_id in old_nodes.keys() - new_nodes.keys():
        doc.emit(Change(ChangeKind.NODE_REMOVED, name, (node_id,)))
    for node_id in [i for i in new_nodes if i not in old_nodes]:
        doc.emit(Change(ChangeKind.NODE_ADDED, name, (node_id,)))
    for e in new.edges:
        key = (e.src, e.src_port, e.dst, e.dst_port)
        if new_edges.count(key) > old_edges.count(key):
            doc.emit(Change(ChangeKind.EDGE_ADDED, name, (e.src, e.dst), edge=copy.copy(e)))
    for node_id in [i for i in new_nodes if i in old_nodes]:
        a, b = old_nodes[node_id], new_nodes[node_id]
        if a.name != b.name:
            doc.emit(Change(ChangeKind.NODE_RENAMED, name, (node_id,), old_name=a.name, new_name=b.name))
        for key in dict.fromkeys([*a.params, *b.params]):
            if a.params.get(key) != b.params.get(key) or (key in a.params) != (key in b.params):
                doc.emit(Change(ChangeKind.PARAM_CHANGED, name, (node_id,), param=key))
        if (old_pos or {}).get(node_id) != (new_pos or {}).get(node_id):
            doc.emit(Change(ChangeKind.NODE_MOVED, name, (node_id,)))
    for key in dict.fromkeys([*old.params, *new.params]):
        if old.params.get(key) != new.params.get(key) or (key in old.params) != (key in new.params):
            doc.emit(Change(ChangeKind.MODULE_PARAM_CHANGED, name, param=key))


def _check_new_module_name(doc: Document, name: str) -> None:
    why = module_name_problem(name)
    if why:
        raise OperationError(why)
    if name in doc.project.modules:
        raise OperationError(f"there is already a module named '{name}'")


@dataclass
class AddModule(Operation):
    """A new module (empty, or a copy of ``definition``), last in the library."""

    name: str
    definition: ModuleDef | None = None

    def apply(self, doc: Document) -> None:
        _check_new_module_name(doc, self.name)
        module = copy.deepcopy(self.definition) if self.definition is not None else ModuleDef()
        ids = [n.id for n in module.nodes]
        clash = [i for i in ids if doc.project.module_of(i) is not None]
        if clash or len(set(ids)) != len(ids):
            raise OperationError(f"node id '{(clash or ids)[0]}' is already used: give the new module fresh ids")
        for node in module.nodes:
            for used in referenced_modules(node, doc.catalog):
                if used not in doc.project.modules:
                    raise OperationError(f"'{node.name}' uses module '{used}', which does not exist")
        text = f"Add module {self.name}"
        self._done(text, doc.apply(ReplaceModules({self.name: module}, text=text)))


@dataclass
class RemoveModule(Operation):
    """Delete a module that nothing uses (the main module cannot be deleted)."""

    name: str

    def apply(self, doc: Document) -> None:
        doc.module(self.name)
        text = f"Delete module {self.name}"
        op = ReplaceModules({self.name: None}, {self.name: None}, text=text)
        self._done(text, doc.apply(op))


@dataclass
class RenameModule(Operation):
    """Rename a module and every use of it, in every module."""

    name: str
    new_name: str
    search: bool = True  # the search dimensions in the module follow it (their targets name it)

    def apply(self, doc: Document) -> None:
        doc.module(self.name)
        _check_new_module_name(doc, self.new_name)
        project, old, new = doc.project, self.name, self.new_name
        items = [(new if k == old else k, v) for k, v in project.modules.items()]
        project.modules.clear()
        project.modules.update(items)
        if old in project.ui.positions:
            positions = [(new if k == old else k, v) for k, v in project.ui.positions.items()]
            project.ui.positions.clear()
            project.ui.positions.update(positions)
        if project.main == old:
            project.main = new
        doc.emit(Change(ChangeKind.MODULE_RENAMED, new, old_name=old, new_name=new))
        for where, module in project.modules.items():
            users = tuple(n.id for n in module.nodes if rename_references(n, doc.catalog, old, new))
            if users:
                doc.emit(Change(ChangeKind.NODE_CHANGED, where, users))
        text = f"Rename module {old} to {new}"
        inverse: Operation = RenameModule(new, old, search=False)
        targets = renamed(project.search, f"node:{old}/", f"node:{new}/")
        targets = renamed(targets or project.search, f"module:{old}.", f"module:{new}.") or targets
        if self.search and targets is not None:
            inverse = Batch([inverse, doc.apply(RestoreSearch(targets, text))], text)
        self._done(text, inverse)


@dataclass
class SetModuleParam(Operation):
    """Declare a module parameter or change its default; None removes an unused one."""

    module: str
    name: str
    value: int | float | None

    def apply(self, doc: Document) -> None:
        module = doc.module(self.module)
        why = node_name_problem(self.name)
        if why:
            raise OperationError(why.replace("valid name", "valid parameter name"))
        if self.value is None:
            if self.name not in module.params:
                raise OperationError(f"module '{self.module}' has no parameter '{self.name}'")
            users = [f"'{n.name}'" for n in module.nodes if any(_mentions(v, self.name) for v in n.params.values())]
            users += [f"'{n.name}' in {where}" for where, n in doc.users(self.module) if self.name in n.params]
            if users:
                raise OperationError(f"parameter '{self.name}' is still used by {', '.join(users)}")
        elif isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            raise OperationError(f"a module parameter is a number, not {self.value!r}")
        before = dict(module.params)
        if self.value is None:
            del module.params[self.name]
            text = f"Remove parameter {self.name} of {self.module}"
        else:
            module.params[self.name] = self.value
            text = f"Set parameter {self.name} of {self.module} to {self.value}"
        doc.emit(Change(ChangeKind.MODULE_PARAM_CHANGED, self.module, param=self.name))
        self._done(text, RestoreParams(self.module, None, before, text))


def _mentions(value: object, name: str) -> bool:
    if not is_expression(value):
        return False
    try:
        return name in names_used(value)  # type: ignore[arg-type]
    except ExpressionError:
        return False
