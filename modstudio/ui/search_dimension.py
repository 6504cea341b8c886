"""The editor of one search dimension: the range (low, high, step, log scale) or the choices a search
may give a setting. The project's own check (``graph.search_space.dimension_problem``) runs as the
person types; its sentence shows under the fields and "Search over it" waits until it is gone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from modstudio.graph.document import Document
from modstudio.graph.model import SearchDimension
from modstudio.graph.numbers import shown
from modstudio.graph.search_space import dimension_problem

KINDS = ("int", "float", "choice")


@dataclass(frozen=True)
class Hint:
    """What the field knows of its setting: the kind of value, its choices, its limits and default."""

    kind: str  # "int", "float", "choice", or "any" (a dataset option whose kind the field decides)
    choices: tuple[Any, ...] = ()
    low: float | None = None  # the setting's own limits, if it has them
    high: float | None = None
    default: Any = None


def proposed(target: str, hint: Hint, value: Any) -> SearchDimension:
    """A first dimension for a setting now at ``value``: around it (x0.5..x2 for whole numbers, x0.1..x10 on
    a log scale for positive reals), inside the setting's limits; every choice for a choice."""
    if hint.kind == "choice":
        return SearchDimension(target, "choice", choices=list(hint.choices))
    current = value if isinstance(value, int | float) and not isinstance(value, bool) else hint.default
    current = current if isinstance(current, int | float) and not isinstance(current, bool) else 1
    if hint.kind == "int":
        current = int(current)
        low, high = (max(1, current // 2), max(current * 2, 2)) if current > 0 else (current, current + 4)
        low, high = _inside(low, high, hint)
        return SearchDimension(target, "int", low=int(low), high=int(max(high, low + 1)))
    current = float(current)
    if current > 0:
        low, high = _inside(current / 10, current * 10, hint)
        return SearchDimension(target, "float", low=low, high=high, log=low > 0 and high / low >= 20)
    low, high = _inside(current, current + 1.0, hint)
    return SearchDimension(target, "float", low=low, high=high)


def _inside(low: float, high: float, hint: Hint) -> tuple[Any, Any]:
    if hint.low is not None:
        low = max(low, hint.low)
    if hint.high is not None:
        high = min(high, hint.high)
    if isinstance(low, float):  # 0.0001, not 0.00010000000000000002
        low, high = float(f"{low:.3g}"), float(f"{high:.3g}")
    return low, high


def describe(dim: SearchDimension) -> str:
    """'2 … 8, step 2', '0.0001 … 0.1, log scale', 'softmax | noisy_top_k'."""
    if dim.kind == "choice":
        return " | ".join(shown(c) for c in dim.choices)
    text = f"{shown(dim.low)} … {shown(dim.high)}"
    if dim.step is not None:
        text += f", step {shown(dim.step)}"
    return text + (", log scale" if dim.log else "")


def parse_choice(text: str) -> Any:
    """'4' -> 4, '0.5' -> 0.5, 'true' -> True, 'gelu' -> 'gelu'."""
    text = text.strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for cast in (int, float):
        try:
            number = cast(text)
        except ValueError:
            continue
        return number if not isinstance(number, float) or math.isfinite(number) else text
    return text


class DimensionDialog(QDialog):
    """Edit the dimension of ``target``; after ``exec``: ``result_dimension`` (search over it with this) or
    ``removed`` (stop searching it)."""

    def __init__(
        self,
        doc: Document,
        target: str,
        hint: Hint,
        current: SearchDimension | None,
        value: Any,
        parent: QWidget | None,
    ) -> None:
        super().__init__(parent)
        self.doc, self.target, self.hint = doc, target, hint
        self.result_dimension: SearchDimension | None = None
        self.removed = False
        self.setWindowTitle(f"Search over {target}")
        start = current or proposed(target, hint, value)
        layout = QVBoxLayout(self)
        intro = QLabel(f"<b>{target}</b><br>now {shown(value) if value is not None else 'its default'}")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.kind = QComboBox()
        self.kind.addItems(list(KINDS) if hint.kind == "any" else [hint.kind])
        self.kind.setCurrentText(start.kind)
        self.kind.setEnabled(hint.kind == "any")
        form.addRow("kind", self.kind)
        self.low, self.high = QLineEdit(_text(start.low)), QLineEdit(_text(start.high))
        self.step = QLineEdit(_text(start.step))
        self.step.setPlaceholderText("any value")
        self.log = QCheckBox("log scale (as many trials from 0.001 to 0.01 as from 0.01 to 0.1)")
        self.log.setChecked(start.log)
        self.choice_list = QListWidget()
        self.choice_line = QLineEdit(", ".join(shown(c) for c in start.choices) if not hint.choices else "")
        self.choice_line.setPlaceholderText("values separated by commas")
        for choice in hint.choices:
            item = QListWidgetItem(shown(choice))
            item.setData(Qt.ItemDataRole.UserRole, choice)
            item.setCheckState(Qt.CheckState.Checked if choice in start.choices else Qt.CheckState.Unchecked)
            self.choice_list.addItem(item)
        self.choice_list.setMaximumHeight(22 * min(max(len(hint.choices), 2), 6) + 6)
        for label, widget in (
            ("low", self.low),
            ("high", self.high),
            ("step", self.step),
            ("", self.log),
            ("choices", self.choice_list),
            ("choices ", self.choice_line),
        ):
            form.addRow(label, widget)
        self.form = form
        layout.addLayout(form)
        self.problem = QLabel()
        self.problem.setObjectName("error")
        self.problem.setWordWrap(True)
        layout.addWidget(self.problem)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Search over it")
        self.remove_button: QPushButton | None = None
        if current is not None:
            self.remove_button = self.buttons.addButton(
                "Stop searching it", QDialogButtonBox.ButtonRole.DestructiveRole
            )
            self.remove_button.clicked.connect(self._remove)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        for line in (self.low, self.high, self.step, self.choice_line):
            line.textChanged.connect(self.check)
        self.log.toggled.connect(self.check)
        self.kind.currentTextChanged.connect(self.check)
        self.choice_list.itemChanged.connect(self.check)
        self.setMinimumWidth(380)
        self.check()

    def dimension(self) -> SearchDimension:
        """The dimension the fields say (a ValueError naming a field that is not a number)."""
        kind = self.kind.currentText()
        if kind == "choice":
            if self.hint.choices:
                items = [self.choice_list.item(i) for i in range(self.choice_list.count())]
                chosen = [i.data(Qt.ItemDataRole.UserRole) for i in items if i.checkState() == Qt.CheckState.Checked]
            else:
                chosen = [parse_choice(part) for part in self.choice_line.text().split(",") if part.strip()]
            return SearchDimension(self.target, "choice", choices=chosen)
        cast = int if kind == "int" else float
        low, high = _number(self.low.text(), cast, "low"), _number(self.high.text(), cast, "high")
        step = _number(self.step.text(), cast, "step") if self.step.text().strip() else None
        return SearchDimension(self.target, kind, low=low, high=high, step=step, log=self.log.isChecked())  # type: ignore[arg-type]

    def check(self) -> str | None:
        """Show the rows of this kind and why the dimension cannot be searched (None: it can)."""
        kind = self.kind.currentText()
        for widget in (self.low, self.high, self.step, self.log):
            self.form.setRowVisible(widget, kind != "choice")
        self.form.setRowVisible(self.choice_list, kind == "choice" and bool(self.hint.choices))
        self.form.setRowVisible(self.choice_line, kind == "choice" and not self.hint.choices)
        try:
            why = dimension_problem(self.doc.project, self.dimension(), self.doc.catalog)
        except ValueError as exc:
            why = str(exc)
        self.problem.setText(why or "")
        self.problem.setVisible(bool(why))
        self.ok.setEnabled(why is None)
        return why

    def _accept(self) -> None:
        if self.check() is None:
            self.result_dimension = self.dimension()
            self.accept()

    def _remove(self) -> None:
        self.removed = True
        self.accept()


def _text(value: Any) -> str:
    return "" if value is None else shown(value)


def _number(text: str, cast: type, name: str) -> Any:
    try:
        value = cast(text.strip())
    except ValueError:
        word = "a whole number" if cast is int else "a number"
        raise ValueError(f"{name} must be {word}, not {text.strip()!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number")
    return value
