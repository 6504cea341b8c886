"""The search mark beside a field: a small magnifier button that marks the field's setting as a search
dimension (yellow, and its label yellow, while it is one), with a right-click menu "Search over…" /
"Stop searching it". Every change is a ``SetSearchDimension`` on the undo stack.

The inspector and the training settings panel each keep one :class:`SearchMarks`; it follows the
document, so undo, redo and the Search dock's edits show on the fields at once.
"""

from __future__ import annotations

import contextlib
import typing
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QPoint, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMenu, QToolButton, QWidget

from modstudio.engine.dataset_options import OptionSpec
from modstudio.graph.document import Change, ChangeKind, Document, Operation, OperationError
from modstudio.graph.model import SearchDimension
from modstudio.graph.schema import ParamSpec
from modstudio.graph.search_form import TargetError
from modstudio.graph.search_ops import SetSearchDimension
from modstudio.graph.search_space import read_value, setting_of

from . import theme
from .search_dimension import DimensionDialog, Hint, describe
from .section_editors import unwrap

MARKED = "#f0c040"
Perform = Callable[[Operation], Any]


def magnifier(colour: str) -> QIcon:
    """A small magnifying glass, drawn (no icon file, no font glyph that a system may lack)."""
    pixmap = QPixmap(32, 32)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = QPen(QColor(colour), 4)
    painter.setPen(pen)
    painter.drawEllipse(QRectF(3, 3, 18, 18))
    pen.setWidth(6)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    painter.setPen(pen)
    painter.drawLine(QPointF(19, 19), QPointF(28, 28))
    painter.end()
    return QIcon(pixmap)


def hint_of_param(spec: ParamSpec) -> Hint:
    """What a block parameter allows, for the dimension editor."""
    if spec.kind == "bool":
        return Hint("choice", (False, True), default=spec.default)
    if spec.kind == "choice":
        return Hint("choice", tuple(spec.choices), default=spec.default)
    high = spec.max
    if high is not None and spec.max_exclusive:
        high = high - 1 if spec.kind == "int" else high * 0.99
    return Hint(spec.kind, low=spec.min, high=high, default=spec.default)


def searchable_param(spec: ParamSpec) -> bool:
    return spec.kind in ("int", "float", "choice", "bool")


def hint_of_field(annotation: Any) -> Hint | None:
    """What a data or training field allows (from its type and its Field limits); None: not searchable."""
    kind, _optional = unwrap(annotation)
    if typing.get_origin(kind) is typing.Literal:
        return Hint("choice", typing.get_args(kind))
    if kind is bool:
        return Hint("choice", (False, True))
    if kind not in (int, float):
        return None
    low = high = None
    for info in _metadata(annotation):
        for limit in getattr(info, "metadata", [info]):
            low = getattr(limit, "ge", getattr(limit, "gt", low))
            high = getattr(limit, "le", high)
            if getattr(limit, "lt", None) is not None:
                high = limit.lt - 1 if kind is int else limit.lt * 0.99
    return Hint("int" if kind is int else "float", low=low, high=high)


def _metadata(annotation: Any) -> list[Any]:
    found: list[Any] = []
    for arg in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(arg) is typing.Annotated:
            found += list(typing.get_args(arg)[1:])
    return found


def hint_of_option(spec: OptionSpec) -> Hint | None:
    """What a dataset option allows; None: not searchable (a path, free text)."""
    if spec.choices:
        return Hint("choice", tuple(spec.choices), default=spec.default)
    if spec.kind is bool:
        return Hint("choice", (False, True), default=spec.default)
    if spec.kind in (int, float):
        return Hint("int" if spec.kind is int else "float", low=spec.min, high=spec.max, default=spec.default)
    return None


class SearchToggle(QToolButton):
    """The mark beside one field."""

    def __init__(self, target: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.target = target
        self.setObjectName("search_toggle")
        self.setCheckable(True)
        self.setAutoRaise(True)
        self.setFixedSize(24, 24)
        self.setIconSize(QSize(16, 16))
        self.setStyleSheet(  # the theme's button padding would leave the icon no room
            "QToolButton { padding: 2px; } QToolButton:checked { background: #4a4020; border-color: #f0c040; }"
        )
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.show_dimension(None)

    def show_dimension(self, dim: SearchDimension | None) -> None:
        self.setChecked(dim is not None)
        self.setIcon(magnifier(MARKED if dim is not None else theme.TEXT_DIM.name()))
        if dim is None:
            self.setToolTip(f"Search over {self.target}… (mark it as a search dimension)")
        else:
            self.setToolTip(f"Searched over: {describe(dim)}. Click to edit or stop searching it.")


class SearchMarks(QObject):
    """The search marks of one view's fields, following one document."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.view = parent
        self.doc: Document | None = None
        self.perform: Perform | None = None
        self.toggles: dict[str, tuple[SearchToggle, QLabel | None, Hint]] = {}
        self._unsubscribe: Callable[[], None] | None = None

    def set_document(self, doc: Document | None, perform: Perform | None) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.doc, self.perform = doc, perform
        if doc is not None:
            self._unsubscribe = doc.subscribe(self._on_change)
        self.refresh()

    def _on_change(self, change: Change) -> None:
        if change.kind == ChangeKind.SEARCH_CHANGED:
            try:
                self.refresh()
            except RuntimeError:  # the view was deleted while still listening
                if self._unsubscribe is not None:
                    self._unsubscribe()
                    self._unsubscribe = None

    def clear(self, prefix: str = "") -> None:
        """The view rebuilt its fields (those whose target starts with ``prefix``): forget their marks."""
        self.toggles = {t: v for t, v in self.toggles.items() if not t.startswith(prefix)} if prefix else {}

    def row(self, field: QWidget, target: str, label: QLabel | None, hint: Hint) -> QWidget:
        """``field`` with its mark at its right, as one widget for a form row."""
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(field, 1)
        layout.addWidget(self.add(target, label, hint), 0, Qt.AlignmentFlag.AlignTop)
        return row

    def add(self, target: str, label: QLabel | None, hint: Hint) -> SearchToggle:
        toggle = SearchToggle(target)
        toggle.clicked.connect(lambda _=False: self.edit(target))
        toggle.customContextMenuRequested.connect(lambda pos: self.menu(target, toggle, pos))
        if label is not None:
            label.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            label.customContextMenuRequested.connect(lambda pos: self.menu(target, label, pos))
        self.toggles[target] = (toggle, label, hint)
        self._show(target)
        return toggle

    def dimension(self, target: str) -> SearchDimension | None:
        search = self.doc.project.search if self.doc is not None else None
        return next((d for d in (search.dimensions if search else ()) if d.target == target), None)

    def refresh(self) -> None:
        for target in list(self.toggles):
            self._show(target)

    def _show(self, target: str) -> None:
        toggle, label, _hint = self.toggles[target]
        dim = self.dimension(target)
        toggle.show_dimension(dim)
        if label is not None:
            label.setStyleSheet(f"color: {MARKED};" if dim is not None else "")
            label.setToolTip(f"searched over: {describe(dim)}" if dim is not None else label.property("help") or "")

    def menu(self, target: str, widget: QWidget, pos: QPoint) -> None:
        menu = QMenu(widget)
        menu.addAction("Search over…", lambda: self.edit(target))
        stop = menu.addAction("Stop searching it", lambda: self.set(target, None))
        stop.setEnabled(self.dimension(target) is not None)
        menu.exec(widget.mapToGlobal(pos))

    def edit(self, target: str) -> None:
        """Open the dimension editor for ``target``; what the person chose becomes one undoable edit."""
        if self.doc is None or self.perform is None or target not in self.toggles:
            return
        toggle, _label, hint = self.toggles[target]
        edit_dimension(self.doc, self.perform, target, self.view, hint)
        with contextlib.suppress(RuntimeError):
            toggle.setChecked(self.dimension(target) is not None)  # a click toggled it; the project decides

    def set(self, target: str, dim: SearchDimension | None) -> bool:
        return self.perform is not None and perform_quietly(self.perform, SetSearchDimension(target, dim))


def perform_quietly(perform: Perform, op: Operation) -> bool:
    """``perform(op)``; a refusal is False (the canvas's perform has already said why in the status bar)."""
    try:
        return perform(op) is not False
    except OperationError:
        return False


def hint_of_target(doc: Document, target: str) -> Hint:
    """What a target's setting allows, asked of the project (for the Search dock's list, which has no field)."""
    try:
        setting = setting_of(doc.project, target, doc.catalog)
    except TargetError:
        return Hint("any")
    if setting.spec is not None:
        return hint_of_param(setting.spec)
    return Hint(setting.kind, tuple(setting.choices))


def edit_dimension(doc: Document, perform: Perform, target: str, view: QWidget, hint: Hint | None = None) -> bool:
    """The dimension editor for ``target``, then the edit the person chose (True when the project changed)."""
    search = doc.project.search
    current = next((d for d in (search.dimensions if search else ()) if d.target == target), None)
    try:
        value = read_value(doc.project, target)
    except TargetError:
        value = None
    dialog = DimensionDialog(doc, target, hint or hint_of_target(doc, target), current, value, view.window())
    if dialog.exec() != DimensionDialog.DialogCode.Accepted:
        return False
    if dialog.removed:
        return perform_quietly(perform, SetSearchDimension(target, None))
    if dialog.result_dimension is None:
        return False
    return perform_quietly(perform, SetSearchDimension(target, dialog.result_dimension))
