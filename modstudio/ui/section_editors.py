"""Editors for one value of the project's data or training section, chosen from its type.

Each :class:`ValueEditor` shows a value and hands a finished edit to ``commit(value)``,
which returns ``None`` when the edit was applied or a sentence saying why not; the
sentence is shown under the field in red and the field keeps the person's text, so it
can be corrected. Types come from the section dataclasses (``Literal`` -> a list,
``bool`` -> a check box, numbers and text -> a line, an optional one empty for "none").
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

Commit = Callable[[Any], "str | None"]
ERROR_STYLE = "border: 1px solid #e5484d;"


class ValueEditor(QWidget):
    """A field, and under it the reason the last edit was refused (hidden when there is none)."""

    committed = Signal(object)  # a value that was applied

    def __init__(self, field: QWidget, commit: Commit, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.field = field
        self._commit = commit
        self._error = ""
        self.error_label = QLabel()
        self.error_label.setObjectName("error")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.row = QHBoxLayout()
        self.row.setContentsMargins(0, 0, 0, 0)
        self.row.addWidget(field, 1)
        layout.addLayout(self.row)
        layout.addWidget(self.error_label)

    def show_value(self, value: Any) -> None:
        """Show ``value`` (from the project) and forget a refused edit."""
        self.set_error(None)
        self._show(value)

    def _show(self, value: Any) -> None:
        raise NotImplementedError

    def error(self) -> str:
        return self._error

    def set_error(self, text: str | None) -> None:
        self._error = text or ""
        self.error_label.setText(text or "")
        self.error_label.setVisible(bool(text))
        self.field.setStyleSheet(ERROR_STYLE if text else "")
        self.field.setToolTip(text or self.field.property("help") or "")

    def submit(self, value: Any) -> bool:
        """Hand ``value`` to the project; True when it was applied."""
        why = self._commit(value)
        self.set_error(why)
        if why is None:
            self.committed.emit(value)
        return why is None


class LineEditor(ValueEditor):
    """Numbers, text, or a small JSON value typed in a line; checked when editing is finished."""

    def __init__(
        self, parse: Callable[[str], Any], show: Callable[[Any], str], commit: Commit, placeholder: str = ""
    ) -> None:
        self.line = QLineEdit()
        self.line.setPlaceholderText(placeholder)
        super().__init__(self.line, commit)
        self._parse, self._format = parse, show
        self._shown = ""
        self.line.editingFinished.connect(self._finished)

    def _show(self, value: Any) -> None:
        self._shown = self._format(value)
        self.line.setText(self._shown)

    def _finished(self) -> None:
        text = self.line.text()
        if text == self._shown and not self.error():
            return
        try:
            value = self._parse(text)
        except ValueError as exc:
            self.set_error(str(exc))
            return
        if self.submit(value):
            self._shown = text


class ChoiceEditor(ValueEditor):
    """One of a fixed list (a Literal type, or a dataset's list); ``labels`` say them in words."""

    def __init__(self, choices: list[Any], commit: Commit, labels: dict[Any, str] | None = None) -> None:
        self.combo = QComboBox()
        super().__init__(self.combo, commit)
        self.choices = list(choices)
        for choice in self.choices:
            self.combo.addItem((labels or {}).get(choice, "none" if choice is None else str(choice)))
        self.combo.activated.connect(self._chosen)

    def _show(self, value: Any) -> None:
        self.combo.setCurrentIndex(self.choices.index(value) if value in self.choices else -1)

    def _chosen(self, index: int) -> None:
        self.submit(self.choices[index])


class BoolEditor(ValueEditor):
    def __init__(self, commit: Commit, text: str = "") -> None:
        self.box = QCheckBox(text)
        super().__init__(self.box, commit)
        self.box.clicked.connect(lambda checked: self.submit(bool(checked)))

    def _show(self, value: Any) -> None:
        self.box.setChecked(bool(value))


def number_parser(kind: type, optional: bool) -> Callable[[str], Any]:
    """'0.01' -> 0.01; '' -> None when optional; a ValueError with a sentence otherwise."""

    def parse(text: str) -> Any:
        text = text.strip()
        if not text:
            if optional:
                return None
            raise ValueError("needs a value")
        try:
            return int(text) if kind is int else float(text)
        except ValueError:
            word = "a whole number" if kind is int else "a number"
            raise ValueError(f"must be {word}, not {text!r}") from None

    return parse


def show_number(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def parse_json(text: str) -> Any:
    text = text.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not a JSON value: {exc.msg}") from None


def parse_weights(text: str) -> dict[str, float]:
    """'load_balance=0.01, z_loss=0.001' -> {'load_balance': 0.01, 'z_loss': 0.001}."""
    out: dict[str, float] = {}
    for part in text.replace(";", ",").split(","):
        if not part.strip():
            continue
        name, sep, number = part.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"write name=weight pairs separated by commas, not {part.strip()!r}")
        try:
            out[name.strip()] = float(number)
        except ValueError:
            raise ValueError(f"the weight of '{name.strip()}' must be a number, not {number.strip()!r}") from None
    return out


def show_weights(value: Any) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in (value or {}).items())


def unwrap(annotation: Any) -> tuple[Any, bool]:
    """The type under Annotated and Optional, and whether None is allowed."""
    optional = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            optional = optional or len(args) < len(typing.get_args(annotation))
            if len(args) != 1:
                return annotation, optional
            annotation = args[0]
        else:
            return annotation, optional


def editor_for(annotation: Any, commit: Commit, placeholder: str = "") -> ValueEditor:
    """An editor chosen from a dataclass field's type."""
    kind, optional = unwrap(annotation)
    if typing.get_origin(kind) is typing.Literal:
        return ChoiceEditor([*typing.get_args(kind), *([None] if optional else [])], commit)
    if kind is bool:
        return BoolEditor(commit)
    if kind in (int, float):
        hint = placeholder or ("none" if optional else "")
        return LineEditor(number_parser(kind, optional), show_number, commit, hint)
    if kind is str:
        parse = (lambda text: text.strip() or None) if optional else (lambda text: text.strip())
        return LineEditor(parse, lambda v: v or "", commit, placeholder or ("none" if optional else ""))
    return LineEditor(parse_json, lambda v: "" if v is None else json.dumps(v), commit, placeholder or "JSON")
