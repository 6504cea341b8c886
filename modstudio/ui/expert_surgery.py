"""File > Expert Surgery from a Run…: freeze, unfreeze, prune, clone or upcycle experts with the
weights of one of the project's runs, as one undoable edit.

The surgery is planned in a background thread (torch: the run's weights are read, mapped onto the
edited network, measured on the validation split) and its new starting weights are written as a
new file beside the project; only then is the edit applied to the live document through the undo
stack, so Undo puts back the previous parameters and starting weights. The report (importance,
accuracy before and after) stays in the dialog; a problem is said in red and nothing changes.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QAction, QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
)

from modstudio.engine.records.run_history import list_runs, runs_root_of
from modstudio.graph.document import OperationError
from modstudio.graph.model import Node, Project
from modstudio.graph.schema import INPUT_BLOCK, OUTPUT_BLOCK

from .background import Background
from .dialogs import ERROR_TEXT_STYLE, planned

if TYPE_CHECKING:
    from collections.abc import Callable

    from modstudio.graph.document import Operation

    from .shell import Shell

SURGERIES = {
    "freeze": "Freeze all experts but one",
    "unfreeze": "Unfreeze all experts",
    "prune": "Prune the least important experts",
    "clone": "Clone an expert",
    "upcycle": "Upcycle a dense node into experts",
}


def expert_count(node: Node) -> int:
    names = node.params.get("experts") or ["Expert"]
    count = node.params.get("num_experts")
    return count if isinstance(count, int) and len(names) == 1 else len(names)


def candidates(project: Project, surgery: str) -> list[tuple[str, Node]]:
    """(module, node) a surgery can work on: mixtures, or for upcycling the other non-I/O nodes."""
    out = []
    for name, module in project.modules.items():
        for node in module.nodes:
            if surgery == "upcycle":
                if node.block not in (INPUT_BLOCK, OUTPUT_BLOCK, "moe"):
                    out.append((name, node))
            elif node.block == "moe" and (surgery != "unfreeze" or node.frozen_parts):
                out.append((name, node))
    return out


class ExpertSurgeryDialog(QDialog):
    """A view of the open session; it edits through ``perform`` (the undo stack's)."""

    def __init__(
        self, shell: Shell, selected_ids: Callable[[], list[str]], perform: Callable[[Operation], object]
    ) -> None:
        super().__init__(shell.window())
        self.shell, self.perform = shell, perform
        self.selected = set(selected_ids())
        self.setWindowTitle("Expert Surgery from a Run")
        self.setMinimumWidth(560)
        self.run = QComboBox()
        self.surgery = QComboBox()
        for key, text in SURGERIES.items():
            self.surgery.addItem(text, key)
        self.node = QComboBox()
        self.expert = _spin(0, 511, "the expert that trains (freeze) or is copied (clone), counted from 0")
        self.keep = _spin(1, 511, "experts kept; the least important are removed (routed share × gate confidence)")
        self.train_router = QCheckBox("Let the router train too")
        self.experts = _spin(2, 512, "experts of the new mixture, each a copy of the dense node", 8)
        self.k = _spin(1, 64, "experts per token (top-k, weights renormalised)", 2)
        self.form = QFormLayout()
        for label, widget in (
            ("Run", self.run), ("Surgery", self.surgery), ("Node", self.node), ("Expert", self.expert),
            ("Keep", self.keep), ("", self.train_router), ("Experts", self.experts), ("k", self.k),
        ):  # fmt: skip
            self.form.addRow(label, widget)
        self.note = QLabel("Choose a run of this project and a surgery.")
        self.note.setWordWrap(True)
        self.report = QPlainTextEdit()
        self.report.setReadOnly(True)
        self.report.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))  # the table's columns
        self.report.setMinimumHeight(160)
        self.report.setPlaceholderText("What the surgery measured appears here.")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.operate = self.buttons.addButton("Operate", QDialogButtonBox.ButtonRole.ApplyRole)
        self.operate.clicked.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.note)
        layout.addWidget(self.report, 1)
        layout.addWidget(self.buttons)
        self.background = Background(self, "expert surgery")
        self.surgery.currentIndexChanged.connect(lambda _: self._surgery_changed())
        self.node.currentIndexChanged.connect(lambda _: self._node_changed())
        self._fill_runs()
        self._surgery_changed()

    def _fill_runs(self) -> None:
        session = self.shell.session
        path = session.path if session is not None else None
        records = [r for r in list_runs(runs_root_of(path)) if r.has_weights] if path is not None else []
        for record in sorted(records, key=lambda r: r.name, reverse=True):
            self.run.addItem(f"{record.name} ({record.status})", str(record.folder))

    def _surgery_changed(self) -> None:
        key = self.surgery.currentData()
        session = self.shell.session
        self.node.clear()
        if session is not None:
            for module, node in candidates(session.doc.project, key):
                self.node.addItem(f"{node.name} ({module})" if module != session.doc.project.main else node.name)
                self.node.setItemData(self.node.count() - 1, (module, node.name))
                if node.id in self.selected:
                    self.node.setCurrentIndex(self.node.count() - 1)
        shown = {"freeze": ("Expert",), "clone": ("Expert",), "prune": ("Keep",), "upcycle": ("Experts", "k")}
        for row, widget in (
            ("Expert", self.expert), ("Keep", self.keep), ("Experts", self.experts), ("k", self.k),
        ):  # fmt: skip
            self.form.setRowVisible(widget, row in shown.get(key, ()))
        self.form.setRowVisible(self.train_router, key == "freeze")
        self._node_changed()

    def _node_changed(self) -> None:
        node = self._chosen_node()
        if node is not None and node.block == "moe":
            count = expert_count(node)
            self.expert.setMaximum(count - 1)
            self.keep.setMaximum(max(count - 1, 1))
            self.keep.setValue(max(count // 2, 1))
        self._update_button()

    def _chosen_node(self) -> Node | None:
        session, data = self.shell.session, self.node.currentData()
        if session is None or data is None:
            return None
        module = session.doc.project.modules.get(data[0])
        return None if module is None else module.node_named(data[1])

    def _update_button(self) -> None:
        ready = self.run.count() > 0 and self.node.count() > 0 and not self.background.busy()
        self.operate.setEnabled(ready)
        if self.run.count() == 0:
            self._error("This project has no run with saved weights: save it and train it first.")
        elif self.node.count() == 0:
            what = "frozen experts" if self.surgery.currentData() == "unfreeze" else "a node this surgery works on"
            self._error(f"This project has no {what}.")
        elif self.note.styleSheet() == ERROR_TEXT_STYLE:
            self._say("Choose a run of this project and a surgery.")

    def request(self) -> dict[str, Any]:
        module, layer = self.node.currentData()
        return {
            "action": self.surgery.currentData(), "layer": layer, "module": module, "expert": self.expert.value(),
            "keep": self.keep.value(), "train_router": self.train_router.isChecked(),
            "experts": self.experts.value(), "k": self.k.value(),
        }  # fmt: skip

    def _say(self, text: str) -> None:
        self.note.setStyleSheet("")
        self.note.setText(text)

    def _error(self, text: str) -> None:
        self.note.setStyleSheet(ERROR_TEXT_STYLE)
        self.note.setText(text)

    def start(self) -> None:
        """Plan the surgery and write its weights in a thread; apply the edit here when ready."""
        session = self.shell.session
        if session is None or self.node.currentData() is None or self.run.currentData() is None:
            return
        if session.path is None:
            self._error("Save this project first: its new starting weights are written beside it.")
            return
        path, doc = session.path, session.doc
        args = (copy.deepcopy(doc.project), path.parent, Path(self.run.currentData()), self.request(), path)
        self.operate.setEnabled(False)
        self._say("Reading the run's weights, operating and measuring on the validation split…")
        self.background.run(lambda: _operate(*args), lambda outcome: self._finished(doc, outcome))

    def _finished(self, doc: Any, outcome: Any) -> None:
        self._update_button()
        result = planned(outcome, self._error, "Could not operate")
        if result is None:
            return
        op, lines, weights = result
        if self.shell.session is None or self.shell.session.doc is not doc:
            Path(weights).unlink(missing_ok=True)
            self._error("Could not operate: another project was opened meanwhile.")
            return
        try:
            self.perform(op)
        except OperationError as exc:
            Path(weights).unlink(missing_ok=True)
            self._error(f"Could not operate: {exc}")
            return
        self._surgery_changed()  # the node's experts changed: the choices follow
        self.report.setPlainText("\n".join(lines))
        self._say(f"Done: {op.description}. Training now starts from {Path(weights).name}; Undo puts back the rest.")
        self.shell.show_status(op.description, 15000)


def _spin(low: int, high: int, tip: str, value: int | None = None) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setToolTip(tip)
    if value is not None:
        spin.setValue(value)
    return spin


def _operate(project: Project, project_dir: Path, run: Path, request: dict[str, Any], path: Path) -> tuple[bool, Any]:
    """In a worker thread: (True, (edit, report lines, weights file)) or (False, why)."""
    from modstudio.engine.surgery.errors import SurgeryError
    from modstudio.engine.surgery.surgery import Request, plan

    try:
        surgery = plan(project, project_dir, run, Request(**request), path.parent, path.stem)
        surgery.write_weights()
    except SurgeryError as exc:
        return False, str(exc)
    except OSError as exc:
        return False, f"cannot write the new starting weights: {exc.strerror or exc}"
    return True, (surgery.edit, surgery.lines, surgery.weights_file)


def show_expert_surgery_dialog(
    shell: Shell, selected_ids: Callable[[], list[str]], perform: Callable[[Operation], object]
) -> ExpertSurgeryDialog:
    """Open the dialog without a nested event loop (``open``, not ``exec``: qasync-safe)."""
    dialog = ExpertSurgeryDialog(shell, selected_ids, perform)
    dialog.open()
    return dialog


def add_surgery_action(
    actions: dict[str, QAction],
    shell: Shell,
    selected_ids: Callable[[], list[str]],
    perform: Callable[[Operation], object],
) -> QAction | None:
    """File > Expert Surgery from a Run…, right after File > Graft (``actions``: the menus' actions by name)."""
    graft = actions.get("graft")
    menu = next((m for m in graft.associatedObjects() if isinstance(m, QMenu)), None) if graft else None
    if menu is None:
        return None
    action = QAction("E&xpert Surgery from a Run…", menu)
    action.triggered.connect(lambda _=False: show_expert_surgery_dialog(shell, selected_ids, perform))
    following = menu.actions()[menu.actions().index(graft) + 1 :]
    menu.insertAction(following[0], action) if following else menu.addAction(action)
    actions["expert_surgery"] = action
    return action


__all__ = ["ExpertSurgeryDialog", "add_surgery_action", "show_expert_surgery_dialog"]
