"""File > Graft Module from a Run: bring a module of another project, with the weights one of
its runs trained, into the open project.

The user picks the other project; its runs (read without torch) and its modules are listed.
The graft is planned in a background thread (the weights are read and checked against the
network with torch) on a copy of the project; only then is the ready operation applied to
the live document through the undo stack, so Undo removes it. Whatever stands in the way is
said in the dialog, in red, and nothing is changed.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from modstudio.engine.records.run_history import list_runs, runs_root_of
from modstudio.graph.document import OperationError
from modstudio.graph.io import PROJECT_SUFFIX, load_project
from modstudio.graph.model import Project
from modstudio.graph.problems import ProjectError

from .background import Background
from .dialogs import ERROR_TEXT_STYLE, dialog_folder, planned, remember_folder
from .runs_panel import run_cell

if TYPE_CHECKING:
    from collections.abc import Callable

    from modstudio.graph.document import Operation

    from .shell import Shell

RUN_COLUMNS = ("run", "status", "test result")
GRAFT_FOLDER = "graft_folder"  # QSettings key: where the last project to graft from was


class GraftDialog(QDialog):
    """A view of the open session: it asks the shell (folders, status) and edits through ``perform`` (the undo
    stack's, which raises OperationError when refused); ``selected_ids`` are the nodes selected on the canvas."""

    def __init__(
        self, shell: Shell, selected_ids: Callable[[], list[str]], perform: Callable[[Operation], object]
    ) -> None:
        super().__init__(shell.window())
        self.shell, self.selected_ids, self.perform = shell, selected_ids, perform
        self.source: Project | None = None
        self.source_file: Path | None = None
        self.setWindowTitle("Graft Module from a Run")
        self.setMinimumWidth(620)
        self.path = QLineEdit()
        self.path.setPlaceholderText(f"the other project ({PROJECT_SUFFIX})")
        self.path.editingFinished.connect(self._path_edited)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse)
        path_row = QWidget()
        row = QHBoxLayout(path_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        self.runs = QTreeWidget()
        self.runs.setHeaderLabels([c.capitalize() for c in RUN_COLUMNS])
        self.runs.setRootIsDecorated(False)
        self.runs.setMinimumHeight(140)
        self.module = QComboBox()
        self.frozen = QCheckBox("Keep its trained weights frozen")
        self.replace = QCheckBox()
        self.replace_name = self._selected_node_name()
        self.replace.setText(f"Replace the selected node '{self.replace_name}'")
        self.replace.setVisible(self.replace_name is not None)
        self.note = QLabel("Choose the project whose run trained the module.")
        self.note.setWordWrap(True)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form = QFormLayout()
        form.addRow("Project", path_row)
        form.addRow("Run", self.runs)
        form.addRow("Module", self.module)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.graft_button = self.buttons.addButton("Graft", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.frozen)
        layout.addWidget(self.replace)
        layout.addWidget(self.note)
        layout.addWidget(self.buttons)
        self.background = Background(self, "graft")
        self.runs.currentItemChanged.connect(lambda *_: self._update_button())
        self._update_button()

    # the other project ------------------------------------------------------------------

    def browse(self) -> None:
        session = self.shell.session
        start = str(dialog_folder(self.shell.settings, GRAFT_FOLDER, session.path if session else None))
        chosen, _ = QFileDialog.getOpenFileName(
            self, "Project to graft from", start, f"ModStudio projects (*{PROJECT_SUFFIX})"
        )
        if chosen:
            remember_folder(self.shell.settings, Path(chosen).parent, GRAFT_FOLDER)
            self.path.setText(chosen)
            self.choose_source(chosen)

    def _path_edited(self) -> None:
        text = self.path.text().strip()
        if text and (self.source_file is None or Path(text).expanduser().resolve() != self.source_file):
            self.choose_source(text)

    def choose_source(self, path: str | Path) -> bool:
        """Load the other project and list its runs and modules; a problem is said in the dialog."""
        self.path.setText(str(path))
        self.source, self.source_file = None, None
        self.runs.clear()
        self.module.clear()
        file = Path(path).expanduser().resolve()
        try:
            source = load_project(file, self.shell.catalog)
        except ProjectError as exc:
            self._update_button()
            problems = "; ".join(str(p) for p in exc.problems)
            return self._error(f"{file.name} cannot be used: {problems}")
        self.source, self.source_file = source, file
        for name in source.modules:
            if name != source.main:
                self.module.addItem(name, name)
        for record in list_runs(runs_root_of(file)):
            item = QTreeWidgetItem([record.name, *(run_cell(record, c) for c in RUN_COLUMNS[1:])])
            item.setData(0, Qt.ItemDataRole.UserRole, str(record.folder))
            if not record.has_weights:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
                item.setToolTip(0, "this run saved no weights")
            self.runs.addTopLevelItem(item)
        for column in range(len(RUN_COLUMNS)):
            self.runs.resizeColumnToContents(column)
        first = next((self.runs.topLevelItem(i) for i in range(self.runs.topLevelItemCount())
                      if self.runs.topLevelItem(i).flags() & Qt.ItemFlag.ItemIsEnabled), None)  # fmt: skip
        if first is not None:
            self.runs.setCurrentItem(first)
        self._update_button()
        if self.module.count() == 0:
            return self._error(f"{file.name} has no modules besides its main network, so there is nothing to graft.")
        if first is None:
            return self._error(f"{file.name} has no run with saved weights yet: train it first.")
        self._say(f"{file.name}: {self.module.count()} module(s), {self.runs.topLevelItemCount()} run(s).")
        return True

    def selected_run(self) -> str | None:
        item = self.runs.currentItem()
        return None if item is None else item.data(0, Qt.ItemDataRole.UserRole)

    def _selected_node_name(self) -> str | None:
        session = self.shell.session
        ids = self.selected_ids()
        if session is None or len(ids) != 1:
            return None
        node = session.doc.module(session.shown_module).find(ids[0])
        return None if node is None else node.name

    def _update_button(self) -> None:
        self.graft_button.setEnabled(
            self.source is not None and self.module.count() > 0 and self.selected_run() is not None
        )

    def _say(self, text: str) -> None:
        self.note.setStyleSheet("")
        self.note.setText(text)

    def _error(self, text: str) -> bool:
        self.note.setStyleSheet(ERROR_TEXT_STYLE)
        self.note.setText(text)
        return False

    def is_error(self) -> bool:
        return self.note.styleSheet() == ERROR_TEXT_STYLE

    # grafting ---------------------------------------------------------------------------

    def start(self) -> None:
        """Plan the graft in a thread on a copy of the project; apply it here when it is ready."""
        session = self.shell.session
        if session is None:
            return
        if session.path is None:
            self._error(
                "Save this project first: the grafted weights are referred to relative to the project's folder."
            )
            return
        run, module = self.selected_run(), self.module.currentData()
        if self.source is None or self.source_file is None or run is None or module is None:
            self._error("Choose the other project, one of its runs and the module to graft.")
            return
        replace = self.replace_name if self.replace.isVisible() and self.replace.isChecked() else None
        doc, catalog = session.doc, self.shell.catalog
        into = session.shown_module
        args = (copy.deepcopy(doc.project), self.source, self.source_file, run, module, session.path.parent, catalog)
        options = {"frozen": self.frozen.isChecked(), "into": into, "replace": replace}
        self.graft_button.setEnabled(False)
        self._say(f"Reading the weights of '{module}' from {Path(run).name} and checking that they fit…")
        self.background.run(lambda: _plan(args, options), lambda outcome: self._finished(doc, outcome))

    def _finished(self, doc: Any, outcome: Any) -> None:
        self._update_button()
        result = planned(outcome, self._error, "Could not graft")
        if result is None:
            return
        if self.shell.session is None or self.shell.session.doc is not doc:
            self._error("Could not graft: another project was opened meanwhile.")
            return
        op, note = result
        try:
            self.perform(op)
        except OperationError as exc:
            self._error(f"Could not graft: {exc}")
            return
        self.shell.show_status(note[:1].upper() + note[1:], 15000)
        self.accept()


def _plan(args: tuple, options: dict[str, Any]) -> tuple[bool, Any]:
    """In a worker thread: (True, (op, note)) or (False, why)."""
    from modstudio.engine.analysis.grafting import GraftError, plan_graft

    try:
        plan = plan_graft(*args, **options)
    except GraftError as exc:
        return False, str(exc)
    return True, (plan.op, plan.note)


def show_graft_dialog(
    shell: Shell, selected_ids: Callable[[], list[str]], perform: Callable[[Operation], object]
) -> GraftDialog:
    """Open the dialog without a nested event loop (``open``, not ``exec``: qasync-safe)."""
    dialog = GraftDialog(shell, selected_ids, perform)
    dialog.open()
    return dialog


__all__ = ["GraftDialog", "show_graft_dialog"]
