"""The document being edited, its change events, and the base of every edit operation.

``Document.apply(op)`` checks the operation, applies it and returns its inverse; an invalid
operation raises :class:`OperationError` and leaves the project as it was. Subscribers get
:class:`Change` events once the whole operation has been applied. :class:`History` is a
headless undo/redo stack (the editor's Qt undo stack wraps the same operations).

A change's kind is a :class:`ChangeKind` (see there); views ``match`` on it.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .expressions import ExpressionError, is_expression, names_used
from .library import dependencies
from .model import Edge, ModuleDef, Node, Project
from .references import MEMBER_KINDS, referenced_modules
from .schema import BlockCatalog
from .validate import missing_block_message

log = logging.getLogger(__name__)

Positions = dict[str, list[float]]


class OperationError(ValueError):
    """An operation that cannot be applied; the message says why in a sentence."""


class ChangeKind(str, Enum):
    """What kind of change a :class:`Change` reports (the values are the names the events have always had)."""

    NODE_ADDED = "node_added"
    NODE_REMOVED = "node_removed"
    EDGE_ADDED = "edge_added"
    EDGE_REMOVED = "edge_removed"
    PARAM_CHANGED = "param_changed"
    NODE_RENAMED = "node_renamed"
    NODE_MOVED = "node_moved"
    NODE_CHANGED = "node_changed"  # a node now uses a renamed module, or its weights changed
    PORTS_CHANGED = "ports_changed"  # nodes whose ports changed because an Input/Output of their module did
    MODULE_ADDED = "module_added"
    MODULE_REMOVED = "module_removed"
    MODULE_RENAMED = "module_renamed"
    MODULE_PARAM_CHANGED = "module_param_changed"
    SECTION_CHANGED = "section_changed"  # the project's data or training section
    TRAINING_CHANGED = "training_changed"  # training settings outside the section (starting weights, frozen nodes)
    SEARCH_CHANGED = "search_changed"  # the project's search section: a dimension (``param``: its target), objectives

    @property
    def of_module(self) -> bool:
        """A module itself was added, removed, renamed or given other params (other modules may depend on it)."""
        return self in _MODULE_KINDS


_MODULE_KINDS = frozenset(
    {ChangeKind.MODULE_ADDED, ChangeKind.MODULE_REMOVED, ChangeKind.MODULE_RENAMED, ChangeKind.MODULE_PARAM_CHANGED}
)


@dataclass(frozen=True)
class Change:
    """What changed, for views to redraw: a kind, the module it happened in, the nodes.

    ``kind`` is a :class:`ChangeKind`; a plain string is turned into one here, so a misspelt kind fails
    where the change is made, not silently in a view."""

    kind: ChangeKind
    module: str
    node_ids: tuple[str, ...] = ()
    edge: Edge | None = None
    param: str | None = None
    old_name: str | None = None
    new_name: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ChangeKind(self.kind))


@dataclass
class Operation:
    """One undoable edit. ``apply`` checks before it changes anything; ``inverse`` is known
    once it has been applied (it remembers what it removed and where)."""

    def apply(self, doc: Document) -> None:
        raise NotImplementedError

    def inverse(self) -> Operation:
        inverse: Operation | None = getattr(self, "_inverse", None)
        if inverse is None:
            raise RuntimeError(f"{type(self).__name__} has not been applied yet, so it has no inverse")
        return inverse

    @property
    def description(self) -> str:
        """A line for the undo menu, e.g. "Add Linear 'fc1'" (complete once applied)."""
        return getattr(self, "_text", "") or type(self).__name__

    def _done(self, text: str, inverse: Operation) -> None:
        self._text = text
        self._inverse = inverse


class Document:
    """A Project and the block catalogue it is checked against; the one place edits happen."""

    def __init__(self, project: Project, catalog: BlockCatalog) -> None:
        self.project = project
        self.catalog = catalog
        self._subscribers: list[Callable[[Change], None]] = []
        self._pending: list[Change] | None = None

    def subscribe(self, callback: Callable[[Change], None]) -> Callable[[], None]:
        """Call ``callback(change)`` after every applied operation; returns an unsubscribe."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def apply(self, op: Operation) -> Operation:
        """Apply ``op`` and return its inverse. Events are sent once the whole op succeeded."""
        outer = self._pending is None
        pending: list[Change] = [] if self._pending is None else self._pending
        self._pending, mark = pending, len(pending)
        try:
            op.apply(self)
        except BaseException:
            del pending[mark:]
            raise
        finally:
            if outer:
                self._pending = None
        if outer:
            for change in pending:
                for callback in list(self._subscribers):
                    try:
                        callback(change)
                    except Exception:  # a broken view must not desynchronise the undo history
                        log.exception("change subscriber failed on %s", change)
        return op.inverse()

    def emit(self, change: Change) -> None:
        if self._pending is not None:
            self._pending.append(change)
        else:
            for callback in list(self._subscribers):
                callback(change)

    # Lookups shared by the operations; each raises OperationError with a sentence.

    def module(self, name: str) -> ModuleDef:
        module = self.project.modules.get(name)
        if module is None:
            raise OperationError(f"there is no module '{name}'")
        return module

    def node(self, module_name: str, node_id: str) -> Node:
        node = self.module(module_name).find(node_id)
        if node is None:
            found = self.project.module_of(node_id)
            if found is not None:
                raise OperationError(f"'{found[1].node(node_id).name}' is in module '{found[0]}', not '{module_name}'")
            raise OperationError(f"module '{module_name}' has no node with id '{node_id}'")
        return node

    def label(self, node: Node) -> str:
        """How a node is named in messages: "Linear 'fc1'" or "module Block 'block'"."""
        if node.module is not None:
            return f"module {node.module} '{node.name}'"
        spec = self.catalog.lookup(node.block or "")
        return f"{spec.title if spec else node.block} '{node.name}'"

    def users(self, module_name: str) -> list[tuple[str, Node]]:
        """(module, node) for every node that uses ``module_name``."""
        return [
            (m, n)
            for m, mod in self.project.modules.items()
            for n in mod.nodes
            if module_name in referenced_modules(n, self.catalog)
        ]

    def _check_members(self, module_name: str, where: str, names: list[str]) -> None:
        """Members must exist and must not use, directly or not, the module they are placed in."""
        for name in names:
            if name not in self.project.modules:
                raise OperationError(f"cannot set {where}: there is no module '{name}'")
            if module_name in dependencies(self.project, name, self.catalog):
                raise OperationError(f"cannot set {where}: module '{name}' uses '{module_name}', so this would recurse")

    def check_param(self, module_name: str, node: Node, key: str, value: Any) -> None:
        """Refuse a parameter value the node's block (or used module) does not accept."""
        if value is None:
            return  # removing a parameter means "use the default"
        where = f"{key} of '{node.name}'"
        if node.module is not None:
            target = self.module(node.module)
            if key not in target.params:
                known = ", ".join(target.params) or "none"
                raise OperationError(f"module '{node.module}' has no parameter '{key}' (parameters: {known})")
            if not is_expression(value) and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise OperationError(f"cannot set {where}: must be a number or an expression, not {value!r}")
        else:
            spec = self.catalog.lookup(node.block or "")
            if spec is None:
                raise OperationError(f"cannot set {where}: '{node.name}' has {missing_block_message(node.block or '')}")
            pspec = next((p for p in spec.params if p.name == key), None)
            if pspec is None:
                known = ", ".join(p.name for p in spec.params) or "none"
                raise OperationError(f"{spec.title} has no parameter '{key}' (parameters: {known})")
            why = pspec.check(value)
            if why:
                raise OperationError(f"cannot set {where}: {why}")
            if pspec.kind in MEMBER_KINDS:
                self._check_members(module_name, where, value if isinstance(value, list) else [value])
        if is_expression(value):
            module = self.module(module_name)
            try:
                unknown = sorted(names_used(value) - set(module.params))
            except ExpressionError as exc:
                raise OperationError(f"cannot set {where}: {exc}") from None
            if unknown:
                known = ", ".join(module.params) or "none"
                raise OperationError(
                    f"cannot set {where}: module '{module_name}' has no parameter '{unknown[0]}' (parameters: {known})"
                )


@dataclass
class Batch(Operation):
    """Several operations as one undo step; if one is refused, the ones before are undone."""

    ops: list[Operation]
    text: str = ""

    def apply(self, doc: Document) -> None:
        inverses: list[Operation] = []
        try:
            for op in self.ops:
                inverses.append(doc.apply(op))
        except OperationError:
            for inverse in reversed(inverses):
                doc.apply(inverse)
            raise
        text = self.text or "; ".join(op.description for op in self.ops)
        self._done(text, Batch(inverses[::-1], text))


def positions_of(project: Project, module: str) -> Positions | None:
    """A copy of a module's node positions (None when it has none)."""
    current = project.ui.positions.get(module)
    return None if current is None else {k: list(v) for k, v in current.items()}


@dataclass
class SetPositions(Operation):
    """Put a module's whole position table in place (the inverse of moves and deletions)."""

    module: str
    positions: Positions | None
    text: str = "Move nodes"
    order: tuple[str, ...] | None = None  # the order of the modules in the position tables

    def apply(self, doc: Document) -> None:
        table = doc.project.ui.positions
        before, before_order = positions_of(doc.project, self.module), tuple(table)
        if self.positions is None:
            table.pop(self.module, None)
        else:
            table[self.module] = {k: list(v) for k, v in self.positions.items()}
        if self.order is not None:
            reorder(table, self.order)
        module = doc.project.modules.get(self.module)
        old, new = before or {}, self.positions or {}
        for node_id in dict.fromkeys([*old, *new]):
            if old.get(node_id) != new.get(node_id) and module is not None and module.find(node_id) is not None:
                doc.emit(Change(ChangeKind.NODE_MOVED, self.module, (node_id,)))
        self._done(self.text, SetPositions(self.module, before, self.text, before_order))


def reorder(table: dict[str, Any], keys: tuple[str, ...]) -> None:
    """Put the keys of ``table`` in the order of ``keys`` (others after them), in place."""
    items = {k: table[k] for k in keys if k in table}
    items.update({k: v for k, v in table.items() if k not in items})
    table.clear()
    table.update(items)


@dataclass
class RestoreParams(Operation):
    """Put back a node's whole parameter table, or a module's when ``node_id`` is None."""

    module: str
    node_id: str | None
    params: dict[str, Any]
    text: str = "Set parameters"

    def apply(self, doc: Document) -> None:
        owner: Node | ModuleDef = (
            doc.module(self.module) if self.node_id is None else doc.node(self.module, self.node_id)
        )
        before = copy.deepcopy(owner.params)
        owner.params = copy.deepcopy(self.params)
        kind, ids = (
            (ChangeKind.MODULE_PARAM_CHANGED, ())
            if self.node_id is None
            else (ChangeKind.PARAM_CHANGED, (self.node_id,))
        )
        for key in dict.fromkeys([*before, *self.params]):
            if before.get(key, _MISSING) != self.params.get(key, _MISSING):
                doc.emit(Change(kind, self.module, ids, param=key))
        self._done(self.text, RestoreParams(self.module, self.node_id, before, self.text))


_MISSING = object()


@dataclass
class _Step:
    text: str
    inverse: Operation


class History:
    """Undo and redo without Qt: ``do(op)``, ``undo()``, ``redo()``."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self._undo: list[_Step] = []
        self._redo: list[_Step] = []

    def do(self, op: Operation) -> Operation:
        """Apply ``op`` (raising OperationError if refused) and make it undoable."""
        inverse = self.doc.apply(op)
        self._undo.append(_Step(op.description, inverse))
        self._redo.clear()
        return inverse

    def undo(self) -> str | None:
        """Undo the last step; returns its description, or None when there is nothing to undo."""
        return self._move(self._undo, self._redo)

    def redo(self) -> str | None:
        return self._move(self._redo, self._undo)

    def _move(self, source: list[_Step], target: list[_Step]) -> str | None:
        if not source:
            return None
        step = source[-1]
        again = self.doc.apply(step.inverse)
        source.pop()
        target.append(_Step(step.text, again))
        return step.text

    @property
    def undo_text(self) -> str | None:
        return self._undo[-1].text if self._undo else None

    @property
    def redo_text(self) -> str | None:
        return self._redo[-1].text if self._redo else None

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()
