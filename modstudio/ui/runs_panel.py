"""The project's past runs, newest first: reopen one's curves, compare two, load weights, delete.

Rows come from :func:`modstudio.engine.records.run_history.list_runs` (plain JSON, no torch), so
the list opens at once and a half-written or corrupt run folder is a row that says so,
never an error. The panel only emits what the person asked for; the main window connects
``open_run`` and ``compare_runs`` to the dashboard and ``load_weights`` to the document.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from modstudio.engine.records.run_history import RunRecord, list_runs, runs_root_of
from modstudio.sizes import human_duration

from . import theme

COLUMNS = ["started", "status", "epochs", "test result", "dataset", "duration"]
STATUS_WORDS = {
    "completed": "completed",
    "early_stopped": "stopped early",
    "stopped": "stopped",
    "failed": "failed",
    "running": "running…",
    "interrupted": "interrupted",
    "unreadable": "unreadable",
}
STATUS_COLOURS = {"failed": theme.ERROR, "unreadable": theme.ERROR, "running": QColor("#46c46e")}
Ask = Callable[[str, str], bool]


class RunsPanel(QWidget):
    """A table of the run folders of one project, with the actions a person takes on them."""

    open_run = Signal(Path)  # show this run's curves
    compare_runs = Signal(Path, Path)  # show two runs' curves on one plot
    load_weights = Signal(Path)  # put this run's weights into the project
    run_deleted = Signal(Path)  # a run folder was deleted (after the person said yes)

    def __init__(self, parent: QWidget | None = None, ask: Ask | None = None) -> None:
        super().__init__(parent)
        self.ask: Ask = ask or self._ask_with_a_dialog
        self.project_path: Path | None = None
        self._unsaved_root: Path | None = None  # where an unsaved project's runs go (its session's folder)
        self.records: list[RunRecord] = []
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        self.tree.itemSelectionChanged.connect(self._describe)
        self.tree.itemDoubleClicked.connect(lambda item, _column: self._open(item))
        self.where = QLabel()
        self.where.setObjectName("doc")
        self.where.setWordWrap(True)
        self.show_button = _button("Show curves", "Show the chosen run's loss and accuracy curves", self.show_curves)
        self.compare_button = _button("Compare", "Show two chosen runs' curves on one plot", self.compare)
        self.load_button = _button("Load weights", "Put the run's best weights into the open project", self.load)
        self.delete_button = _button("Delete…", "Delete the chosen run folders from disk", self.delete)
        self.refresh_button = _button("Refresh", "Read the run folders again", self.refresh)
        self.run_buttons = (self.show_button, self.compare_button, self.load_button, self.delete_button)
        buttons = QGridLayout()  # two columns: the dock is narrow by default
        for index, button in enumerate((*self.run_buttons, self.refresh_button)):
            buttons.addWidget(button, index // 2, index % 2)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        layout = QVBoxLayout(self)
        layout.addWidget(self.where)
        layout.addWidget(self.tree, 1)
        layout.addLayout(buttons)
        self._poll = QTimer(self)  # while a run is going, its row follows it
        self._poll.setInterval(3000)
        self._poll.timeout.connect(self.refresh)
        self.refresh()

    # the list --------------------------------------------------------------------------

    @property
    def runs_root(self) -> Path | None:
        return runs_root_of(self.project_path) if self.project_path is not None else self._unsaved_root

    def set_project_path(self, path: Path | None, unsaved_root: Path | None = None) -> None:
        """Show the runs of the project saved at ``path``, or (``path`` None) those of an unsaved project
        kept in ``unsaved_root`` until its first save."""
        self.project_path = Path(path) if path is not None else None
        self._unsaved_root = Path(unsaved_root) if path is None and unsaved_root is not None else None
        self.refresh()

    def refresh(self) -> None:
        """Read the run folders again, keeping the selection."""
        chosen = set(self.selected_folders())
        self.records = list_runs(self.runs_root)
        self.tree.clear()
        for record in self.records:
            item = QTreeWidgetItem([run_cell(record, column) for column in COLUMNS])
            item.setData(0, Qt.ItemDataRole.UserRole, str(record.folder))
            tip = f"{record.folder}\n{record.error}" if record.error else str(record.folder)
            for column in range(len(COLUMNS)):
                item.setToolTip(column, tip)
            colour = STATUS_COLOURS.get(record.status)
            if colour is not None:
                item.setForeground(1, colour)
            for column in (2, 3):
                item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.tree.addTopLevelItem(item)
            item.setSelected(record.folder in chosen)
        for column in range(len(COLUMNS)):
            self.tree.resizeColumnToContents(column)
        self._describe()
        self._update_buttons()
        going = any(r.status == "running" for r in self.records)
        if going and not self._poll.isActive():
            self._poll.start()
        elif not going:
            self._poll.stop()

    def _describe(self) -> None:
        if self.project_path is None and self.runs_root is None:
            self.where.setText("Runs are kept beside the saved project; save it to keep its runs here.")
        elif self.project_path is None and not self.records:
            self.where.setText("No runs yet. Runs of an unsaved project move beside the file when it is first saved.")
        elif self.project_path is None:
            count = len(self.records)
            self.where.setText(
                f"{count} run{'s' if count != 1 else ''} of the unsaved project; they move beside the file when it"
                " is first saved."
            )
        elif not self.records:
            self.where.setText(f"No runs yet. Train to add one to {self.runs_root}.")
        else:
            count = len(self.records)
            chosen = [self.record_of(f) for f in self.selected_folders()]
            if len(chosen) == 1 and chosen[0] is not None and chosen[0].status == "unreadable":
                self.where.setText(f"{chosen[0].name} is unreadable: {chosen[0].error}")  # what is damaged, in view
            else:
                self.where.setText(f"{count} run{'s' if count != 1 else ''} in {self.runs_root}")

    def selected_folders(self) -> list[Path]:
        """The chosen runs, in list order (newest first)."""
        items = [i for i in (self.tree.topLevelItem(n) for n in range(self.tree.topLevelItemCount())) if i.isSelected()]
        return [Path(i.data(0, Qt.ItemDataRole.UserRole)) for i in items]

    def record_of(self, folder: Path) -> RunRecord | None:
        return next((r for r in self.records if r.folder == folder), None)

    def _update_buttons(self) -> None:
        chosen = [self.record_of(f) for f in self.selected_folders()]
        readable = [r for r in chosen if r is not None and r.status != "unreadable"]
        self.show_button.setEnabled(len(readable) == 1)
        self.compare_button.setEnabled(len(readable) == 2 and len(chosen) == 2)
        self.load_button.setEnabled(len(readable) == 1 and readable[0].has_weights)
        self.delete_button.setEnabled(bool(chosen) and not any(r and r.status == "running" for r in chosen))

    def context_actions(self) -> list[QAction]:
        """The buttons' actions for a right-click on the list, enabled as the buttons are."""
        actions = []
        for button in self.run_buttons:
            action = QAction(button.text(), self)
            action.setEnabled(button.isEnabled())
            action.setToolTip(button.toolTip())
            action.triggered.connect(button.click)
            actions.append(action)
        return actions

    def _context_menu(self, position: QPoint) -> None:
        if self.tree.itemAt(position) is None:
            return
        menu = QMenu(self)
        menu.addActions(self.context_actions())
        menu.exec(self.tree.viewport().mapToGlobal(position))

    # actions ---------------------------------------------------------------------------

    def _open(self, item: QTreeWidgetItem) -> None:
        record = self.record_of(Path(item.data(0, Qt.ItemDataRole.UserRole)))
        if record is not None and record.status != "unreadable":
            self.open_run.emit(record.folder)

    def show_curves(self) -> None:
        if self.show_button.isEnabled():
            self.open_run.emit(self.selected_folders()[0])

    def compare(self) -> None:
        if self.compare_button.isEnabled():
            newer, older = self.selected_folders()
            self.compare_runs.emit(older, newer)

    def load(self) -> None:
        if self.load_button.isEnabled():
            self.load_weights.emit(self.selected_folders()[0])

    def delete(self) -> None:
        folders = self.selected_folders()
        if not folders or not self.delete_button.isEnabled():
            return
        names = "\n".join(f.name for f in folders)
        what = "this run and its" if len(folders) == 1 else f"these {len(folders)} runs and their"
        if not self.ask("Delete runs", f"Delete {what} weights from disk?\n\n{names}"):
            return
        root = self.runs_root
        for folder in folders:
            if root is not None and folder.parent == root and folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)
                self.run_deleted.emit(folder)
        self.refresh()

    def _ask_with_a_dialog(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes


def run_cell(record: RunRecord, column: str) -> str:
    """What a runs list shows in ``column`` for one run (also used by the graft dialog)."""
    if column == "started":
        return record.started.strftime("%Y-%m-%d %H:%M:%S") if record.started else "?"
    if column == "status":
        return STATUS_WORDS.get(record.status, record.status)
    if column == "epochs":
        return f"{record.epochs}/{record.epochs_planned}" if record.status == "running" else str(record.epochs)
    if column == "test result":
        if record.test_value is None:
            return "—"
        if record.metric == "accuracy":
            return f"{record.test_value:.1%} accuracy"
        return f"R² {record.test_value:.3f}"
    if column == "dataset":
        return record.dataset or "?"
    return "—" if record.seconds is None else human_duration(record.seconds)


def _button(text: str, tip: str, slot: Callable[[], None]) -> QPushButton:
    button = QPushButton(text)
    button.setToolTip(tip)
    button.clicked.connect(slot)
    return button
