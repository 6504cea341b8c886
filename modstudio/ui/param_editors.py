"""One editor widget per parameter kind, generated from a ParamSpec.

Each editor reports a finished edit through ``on_commit(value)``; ``None`` means "unset"
(the block's default). Numbers in a module with parameters are typed as text so they can
be expressions such as ``=channels * 2``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox, QWidget

from modstudio.graph.expressions import is_expression
from modstudio.graph.numbers import shown as shown_value
from modstudio.graph.schema import ParamSpec

from .member_editor import MemberEditor, MemberListEditor

Commit = Callable[[Any], None]
_BIG = 2_000_000_000
_RED_BORDER = "border: 1px solid #e5484d;"


def parse_number_or_expression(text: str, kind: str) -> Any:
    """'64' -> 64, '0.5' -> 0.5, '=channels*2' -> the expression, '' -> None. Raises ValueError."""
    text = text.strip()
    if not text:
        return None
    if text.startswith("="):
        return text
    return int(text) if kind == "int" else float(text)


def parse_ints(text: str) -> list[int] | None:
    text = text.strip().strip("[]")
    if not text:
        return None
    return [int(part) for part in text.replace(",", " ").split()]


def make_editor(
    spec: ParamSpec,
    value: Any,
    on_commit: Commit,
    as_text: bool = False,
    modules: list[str] | None = None,
    on_open: Callable[[str], None] | None = None,
) -> QWidget:
    """A widget for ``spec`` showing ``value``; ``as_text`` forces a number/expression field.

    ``modules`` (the project's module names) and ``on_open`` serve member parameters.
    """
    if spec.kind == "modules":
        members = [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
        return MemberListEditor(members, modules or [], on_commit, on_open)
    if spec.kind == "module":
        return MemberEditor(value if isinstance(value, str) else None, modules or [], spec.optional, on_commit, on_open)
    unreadable = value is not None and not is_expression(value) and spec.check_value(value) is not None
    if spec.kind in ("int", "float") and (as_text or is_expression(value) or unreadable):  # shown as written
        edit = _text_editor(
            value, lambda text: parse_number_or_expression(text, spec.kind), on_commit, spec.unset_label or "default"
        )
        if unreadable:  # a value from a file opened for repair: red until replaced
            edit.setStyleSheet(_RED_BORDER)
        return edit
    if spec.kind == "int":
        return _int_editor(spec, value, on_commit)
    if spec.kind == "float":
        return _float_editor(spec, value, on_commit)
    if spec.kind == "bool":
        box = QCheckBox()
        box.setChecked(bool(value))
        box.toggled.connect(lambda checked: on_commit(bool(checked)))
        return box
    if spec.kind == "choice":
        combo = QComboBox()
        labels = ([spec.unset_label or "default"] if spec.optional else []) + list(spec.choices)
        bad = [f"{shown_value(value)} (not allowed)"] if unreadable else []  # kept from a file opened for repair
        combo.addItems(bad + labels)
        combo.setCurrentIndex(0 if bad or value is None else labels.index(value) if value in labels else 0)
        offset = len(bad) + (1 if spec.optional else 0)
        combo.activated.connect(lambda i: i < len(bad) or on_commit(None if i < offset else spec.choices[i - offset]))
        if bad:
            combo.setStyleSheet(_RED_BORDER)
        return combo
    if spec.kind == "ints":
        shown = ", ".join(map(str, value)) if isinstance(value, list) else ""
        return _text_editor(shown, parse_ints, on_commit, spec.unset_label or "e.g. 1, 28, 28")
    return _text_editor(value or "", lambda text: text or None, on_commit, spec.unset_label)


def _text_editor(value: Any, parse: Callable[[str], Any], on_commit: Commit, placeholder: str) -> QLineEdit:
    edit = QLineEdit("" if value is None else str(value))
    edit.setPlaceholderText(placeholder)
    committed = [edit.text()]

    def finish() -> None:
        if edit.text() == committed[0]:
            return
        try:
            parsed = parse(edit.text())
        except ValueError:
            edit.setStyleSheet(_RED_BORDER)
            edit.setToolTip("not a number, a list of numbers, or an expression starting with '='")
            return
        edit.setStyleSheet("")
        committed[0] = edit.text()
        on_commit(parsed)

    edit.editingFinished.connect(finish)
    return edit


def _int_editor(spec: ParamSpec, value: Any, on_commit: Commit) -> QSpinBox:
    spin = QSpinBox()
    low = int(spec.min) if spec.min is not None else -_BIG
    high = int(spec.max) - (1 if spec.max_exclusive else 0) if spec.max is not None else _BIG
    _setup_range(spin, spec, low, high)
    spin.setValue(spin.minimum() if value is None else int(value))
    _commit_on_finish(spin, spec, on_commit, int)
    return spin


class FloatSpin(QDoubleSpinBox):
    """A double spin box that shows 0.001, not 0.001000."""

    def textFromValue(self, value: float) -> str:
        return f"{value:.6g}"


def _float_editor(spec: ParamSpec, value: Any, on_commit: Commit) -> QDoubleSpinBox:
    spin = FloatSpin()
    spin.setDecimals(6)
    spin.setSingleStep(0.01 if (spec.max is not None and spec.max <= 1) else 0.1)
    low = float(spec.min) if spec.min is not None else -1e12
    high = float(spec.max) if spec.max is not None else 1e12
    if spec.max_exclusive and spec.max is not None:
        high -= 1e-6
    _setup_range(spin, spec, low, high)
    spin.setValue(spin.minimum() if value is None else float(value))
    _commit_on_finish(spin, spec, on_commit, float)
    return spin


def _setup_range(spin: QSpinBox | QDoubleSpinBox, spec: ParamSpec, low: float, high: float) -> None:
    if spec.optional:  # the lowest position means "unset"
        step = 1 if isinstance(spin, QSpinBox) else spin.singleStep()
        low -= step
        spin.setSpecialValueText(spec.unset_label or "default")
    spin.setRange(low, high)  # type: ignore[arg-type]
    spin.setKeyboardTracking(False)
    if spec.doc:
        spin.setToolTip(spec.doc)


def _commit_on_finish(spin: QSpinBox | QDoubleSpinBox, spec: ParamSpec, on_commit: Commit, cast: type) -> None:
    committed = [spin.value()]

    def finish() -> None:
        if spin.value() == committed[0]:
            return
        committed[0] = spin.value()
        unset = spec.optional and spin.value() == spin.minimum()
        on_commit(None if unset else cast(spin.value()))

    spin.editingFinished.connect(finish)
