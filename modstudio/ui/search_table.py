"""The Search dock's trials table: one row per trial (number, status, settings, objectives, duration).

Rows are refilled from the study each time it is read; the chosen trial stays chosen, and
the table keeps its sort. A trial on the Pareto front (or the best one) is marked with a star.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from modstudio.sizes import human_duration

from . import theme
from .search_plots import objective_word, short_target

STATE_WORDS = {
    "complete": "complete",
    "pruned": "pruned",
    "fail": "failed",
    "running": "running…",
    "waiting": "waiting",
}
STATE_COLOURS = {"fail": theme.ERROR, "running": QColor("#46c46e"), "pruned": theme.TEXT_DIM}
NUMBER_ROLE = Qt.ItemDataRole.UserRole + 1


def state_of(row: Any) -> str:
    """'COMPLETE', 'TrialState.COMPLETE' or a TrialState -> 'complete'."""
    state = getattr(row, "state", "")
    return str(getattr(state, "name", state)).rsplit(".", 1)[-1].lower()


def shown_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"
    return str(value)


class _Item(QTableWidgetItem):
    """Sorts by its number when it has one (not by the text: '10' after '9')."""

    def __init__(self, text: str, key: Any = None) -> None:
        super().__init__(text)
        self.key = key
        self.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.key, getattr(other, "key", None)
        if isinstance(mine, int | float) and isinstance(theirs, int | float):
            return mine < theirs
        if isinstance(mine, int | float) != isinstance(theirs, int | float):
            return isinstance(mine, int | float)  # numbers before blanks
        return self.text() < other.text()


class TrialsTable(QTableWidget):
    """The trials of one study; ``chosen(number)`` when the person picks one (None: none)."""

    chosen = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().hide()
        self.setSortingEnabled(True)
        self.horizontalHeader().setSortIndicator(0, Qt.SortOrder.AscendingOrder)  # trial 0 first
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)
        self.itemSelectionChanged.connect(lambda: self.chosen.emit(self.chosen_number()))
        self.numbers: list[int] = []

    def show_trials(
        self, rows: Sequence[Any], targets: Sequence[str], objectives: Sequence[str], marked: set[int]
    ) -> None:
        keep = self.chosen_number()
        sorting = self.horizontalHeader().sortIndicatorSection(), self.horizontalHeader().sortIndicatorOrder()
        self.blockSignals(True)
        self.setSortingEnabled(False)
        # the objectives first: what a person compares trials by, visible in a narrow dock
        headers = ["#", "status", *(objective_word(o) for o in objectives), *(short_target(t) for t in targets)]
        self.setColumnCount(len(headers) + 1)
        self.setHorizontalHeaderLabels([*headers, "duration"])
        for column, target in enumerate(targets, start=2 + len(objectives)):
            self.horizontalHeaderItem(column).setToolTip(target)
        self.setRowCount(len(rows))
        self.numbers = [row.number for row in rows]
        for r, row in enumerate(rows):
            state = state_of(row)
            star = " ★" if row.number in marked else ""
            cells = [_Item(f"{row.number}{star}", row.number), _Item(STATE_WORDS.get(state, state))]
            values = list(row.values or [])
            cells += [_Item(shown_value(v), v) for v in values[: len(objectives)]]
            cells += [_Item("") for _ in range(len(objectives) - len(values[: len(objectives)]))]
            cells += [_Item(shown_value(row.params.get(t)), row.params.get(t)) for t in targets]
            cells.append(_Item("" if row.duration_s is None else human_duration(row.duration_s), row.duration_s))
            cells[0].setData(NUMBER_ROLE, row.number)
            if state in STATE_COLOURS:
                cells[1].setForeground(STATE_COLOURS[state])
            for c, cell in enumerate(cells):
                self.setItem(r, c, cell)
        self.setSortingEnabled(True)
        self.sortByColumn(*sorting)
        self.blockSignals(False)
        self.choose(keep, emit=False)

    def number_at(self, row: int) -> int | None:
        item = self.item(row, 0)
        value = item.data(NUMBER_ROLE) if item is not None else None
        return int(value) if value is not None else None

    def chosen_number(self) -> int | None:
        rows = self.selectionModel().selectedRows() if self.selectionModel() else []
        return self.number_at(rows[0].row()) if rows else None

    def choose(self, number: int | None, emit: bool = True) -> None:
        """Select the trial ``number`` (None: nothing)."""
        self.blockSignals(not emit)
        try:
            for r in range(self.rowCount()):
                if number is not None and self.number_at(r) == number:
                    self.selectRow(r)
                    self.scrollToItem(self.item(r, 0))
                    return
            self.clearSelection()
        finally:
            self.blockSignals(False)
