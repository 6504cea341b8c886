"""The Doctor dock: the MoE doctor's diagnoses, live while a run trains and for the run chosen in the
Runs dock, each with its evidence and its fixes ("Apply": one undoable edit; "Apply and re-train":
the edit, a new run, and a window that shows it beside the diagnosed run, curves and routing).

The diagnoses are torch-free (``engine.doctor``); re-initialising an expert writes weights and the
sequence measures run the network, both in a background thread.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from modstudio.engine.doctor.diagnoses import Diagnosis
from modstudio.engine.doctor.fixes import Fix
from modstudio.engine.doctor.live import LiveDoctor
from modstudio.engine.doctor.report import evidence_text, read_history
from modstudio.engine.doctor.sequences import SequenceRouting
from modstudio.engine.protocol import Finished, Message, Started

from .background import Background

Layers = Callable[[list[str]], dict[str, dict[str, Any]]]  # probe paths -> their parameters in the project
# (run folder, probe paths) -> why the sequence measures have nothing to measure there, or None
NoSequences = Callable[[Path, list[str]], str | None]
SEQUENCES_TIP = (
    "Run the chosen run's network over its test data: routing by position and by token, and how often "
    "consecutive tokens get the same expert (Mixtral's measure) against random routing"
)


class DoctorPanel(QWidget):
    """The diagnoses of one run (live or finished); asks for fixes through ``apply_fix``."""

    apply_fix = Signal(object, bool)  # the Fix, and whether to re-train after applying it
    measure_sequences = Signal()

    def __init__(self, layers: Layers, no_sequences: NoSequences | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.layers = layers
        self.no_sequences = no_sequences
        self.live = LiveDoctor()
        self.run_folder: Path | None = None  # the run the diagnoses are about (None: the live run, before Started)
        self.found: list[Diagnosis] = []
        self.title = QLabel(
            "The doctor reads a run's routing: train a network with MoE or gate layers, or choose a run"
        )
        self.title.setObjectName("doc")
        self.title.setWordWrap(True)
        self.body = QWidget()
        self.rows = QVBoxLayout(self.body)
        self.rows.setContentsMargins(0, 0, 0, 0)
        self.rows.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.body)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # the cards wrap their text
        self.sequences = QLabel("")
        self.sequences.setObjectName("doc")
        self.sequences.setWordWrap(True)
        self.sequence_button = QPushButton("Routing over sequences")
        self.sequence_button.setToolTip(SEQUENCES_TIP)
        self.sequence_button.clicked.connect(self.measure_sequences)
        self.sequence_button.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.sequences)
        layout.addWidget(self.sequence_button)
        self._redraw = QTimer(self)  # live routing comes every half second: one redraw per burst
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(300)
        self._redraw.timeout.connect(self.refresh)

    # -- what it is shown -----------------------------------------------------------------------------------

    def handle(self, message: Message) -> None:
        """A message of the live run."""
        if isinstance(message, Started):
            self.live.reset()
            self.run_folder = Path(message.run_folder) if message.run_folder else None
            self.sequences.setText("")
            self._show([], "Training: the diagnoses appear with the first routing reports")
            return
        if self.live.feed(message) and not self._redraw.isActive():
            self._redraw.start()
        if isinstance(message, Finished):
            self.refresh()
            self._offer_sequences()

    def show_run(self, folder: Path) -> None:
        """The diagnoses of a finished (or running) run from its files."""
        self.run_folder = folder
        self.live.reset()
        self.sequences.setText("")
        try:
            self.live.history = read_history(folder)
        except Exception as exc:  # a damaged file: named, nothing else shown
            self._show([], f"{folder.name}: {getattr(exc, 'message', exc)}")
            return
        self.refresh()
        self._offer_sequences()

    def _offer_sequences(self) -> None:
        """The button, where the run's conditional layers may see sequences; else disabled, saying why."""
        paths = list(self.live.history.reports)
        if self.run_folder is None:
            why: str | None = "Choose a run in the Runs dock, or train the network"
        elif not paths:
            why = "This run has no routing records: no MoE or gate layer reported"
        else:
            why = self.no_sequences(self.run_folder, paths) if self.no_sequences is not None else None
        self.sequence_button.setEnabled(why is None)
        self.sequence_button.setToolTip(SEQUENCES_TIP if why is None else why)

    def refresh(self) -> None:
        history = self.live.history
        paths = list(history.reports)
        self.found = self.live.diagnoses(self.layers(paths)) if paths else []
        name = self.run_folder.name if self.run_folder is not None else "this run"
        if not paths:
            text = f"{name}: no routing reports (no MoE or gate layer, or none yet)"
        elif self.found:
            text = f"{name}: {len(self.found)} problem{'s' if len(self.found) > 1 else ''} (up to step {history.last_step})"
        else:
            text = f"{name}: healthy, no diagnosis passed its threshold (up to step {history.last_step})"
        self._show(self.found, text)

    def show_sequences(self, found: list[SequenceRouting] | Exception) -> None:
        if isinstance(found, Exception):
            self.sequences.setText(f"No sequence measures: {getattr(found, 'message', found)}")
        elif not found:
            self.sequences.setText("No conditional layer of this network sees sequences ([batch, positions, features])")
        else:
            self.sequences.setText("\n".join(line for layer in found for line in layer.lines()))

    def _show(self, found: list[Diagnosis], text: str) -> None:
        self.title.setText(text)
        while self.rows.count() > 1:
            item = self.rows.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        for index, diagnosis in enumerate(found):
            self.rows.insertWidget(index, self._card(diagnosis))

    def _card(self, diagnosis: Diagnosis) -> QWidget:
        card = QFrame()
        card.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(card)
        head = QLabel(f"<b>{diagnosis.kind.replace('_', ' ')}</b> · {diagnosis.where}")
        sentence = QLabel(diagnosis.sentence)
        sentence.setWordWrap(True)
        evidence = QLabel("Evidence: " + evidence_text(diagnosis.evidence))
        evidence.setObjectName("doc")
        evidence.setWordWrap(True)
        for widget in (head, sentence, evidence):
            layout.addWidget(widget)
        for fix in diagnosis.fixes:
            label = QLabel(f"• {fix.label}")
            label.setWordWrap(True)
            layout.addWidget(label)
            row = QHBoxLayout()
            row.addStretch(1)
            for text, retrain in (("Apply", False), ("Apply and re-train", True)):
                button = QPushButton(text)
                button.setToolTip(
                    "One undoable edit of the project" + (", then a new run shown beside this one" if retrain else "")
                )
                button.clicked.connect(lambda _=False, f=fix, r=retrain: self.apply_fix.emit(f, r))
                row.addWidget(button)
            layout.addLayout(row)
        if not diagnosis.fixes:
            layout.addWidget(QLabel("No automatic fix"))
        return card

    def fix_labels(self) -> list[str]:
        return [fix.label for d in self.found for fix in d.fixes]


class BeforeAfter(QDialog):
    """The diagnosed run and the re-trained one side by side: each a dashboard (curves, routing)."""

    def __init__(self, diagnosed: Path, fix: Fix, parent: QWidget | None = None) -> None:
        from modstudio.engine.records.run_history import read_metrics, read_routing

        from .dashboard import Dashboard

        super().__init__(parent)
        self.setWindowTitle(f"Doctor: {fix.label}")
        self.resize(1200, 640)
        self.before, self.after = Dashboard(), Dashboard()
        self.before.show_history(read_metrics(diagnosed), read_routing(diagnosed))
        self.after_title = QLabel("After the fix: starting…")
        split = QSplitter(Qt.Orientation.Horizontal)
        for title, board in ((QLabel(f"Diagnosed: {diagnosed.name}"), self.before), (self.after_title, self.after)):
            side = QWidget()
            column = QVBoxLayout(side)
            column.addWidget(title)
            column.addWidget(board, 1)
            split.addWidget(side)
        layout = QVBoxLayout(self)
        layout.addWidget(split)
        self.diagnosed = diagnosed

    def handle(self, message: Message) -> None:
        """The new run's messages, live."""
        self.after.handle(message)
        if isinstance(message, Started):
            self.after_title.setText(f"After the fix: {Path(message.run_folder).name if message.run_folder else ''}")
        if isinstance(message, Finished):
            from modstudio.engine.records.run_history import read_metrics

            self.after.compare(self.diagnosed.name, read_metrics(self.diagnosed))


class DoctorUI(QObject):
    """Wires the Doctor dock to the window's training: live messages, the Runs dock's choice, fixes."""

    def __init__(self, shell: Any, training: Any) -> None:
        super().__init__(training)
        self.shell, self.training = shell, training
        self.panel = DoctorPanel(self.layer_params, self.no_sequences)
        self.dock = shell.add_dock("Doctor", self.panel, Qt.DockWidgetArea.RightDockWidgetArea, training.dashboard_dock)
        training.dashboard_dock.raise_()
        self.background = Background(self, "doctor")
        self.comparison: BeforeAfter | None = None
        training.controller.message.connect(self.on_message)
        training.runs.tree.itemSelectionChanged.connect(self.run_chosen)
        self.panel.apply_fix.connect(self.apply)
        self.panel.measure_sequences.connect(self.sequences)

    def layer_params(self, paths: list[str]) -> dict[str, dict[str, Any]]:
        from modstudio.engine.doctor.report import layer_params

        session = self.training.session
        return {} if session is None else layer_params(session.project, session.doc.catalog, paths)

    def no_sequences(self, folder: Path, paths: list[str]) -> str | None:
        """Why the run's conditional layers see no sequences, from its own project's shapes (torch-free)."""
        from modstudio.engine.doctor.report import why_no_sequences
        from modstudio.graph.io import load_project
        from modstudio.graph.problems import ProjectError

        session = self.training.session
        if session is None:
            return None
        try:
            project = load_project(folder / "project.msproj")
        except (ProjectError, OSError):
            return None  # the sequence pass names what is wrong with the run
        return why_no_sequences(project, session.doc.catalog, paths)

    def on_message(self, message: Message) -> None:
        self.panel.handle(message)
        if self.comparison is not None:
            self.comparison.handle(message)
            if isinstance(message, Finished):
                self.comparison = None  # it keeps showing; the next run is not its

    def run_chosen(self) -> None:
        folders = self.training.runs.selected_folders()
        if len(folders) == 1 and not self.training.controller.busy:
            self.panel.show_run(folders[0])

    def apply(self, fix: Fix, retrain: bool) -> None:
        session = self.training.session
        diagnosed = self.panel.run_folder
        if session is None:
            return
        if fix.kind == "reinit_expert":
            if session.path is None or diagnosed is None:
                self.shell.report("Save the project first", "The re-initialised weights are written beside the file.")
                return
            path, catalog = session.path, session.doc.catalog
            self.background.run(
                lambda: _write_reinit(path, diagnosed, fix),
                lambda name: self._perform(fix, retrain, diagnosed, name, catalog),
            )
            return
        self._perform(fix, retrain, diagnosed, None, session.doc.catalog)

    def _perform(self, fix: Fix, retrain: bool, diagnosed: Path | None, weights: Any, catalog: Any) -> None:
        from modstudio.engine.doctor.fixes import FixError, fix_operation
        from modstudio.graph.document import OperationError

        session = self.training.session
        if isinstance(weights, Exception) or session is None:
            self.shell.report("Cannot apply the fix", str(getattr(weights, "message", weights)))
            return
        try:
            op = fix_operation(session.project, catalog, fix, weights)
        except FixError as exc:
            self.shell.report("Cannot apply the fix", str(exc))
            return
        try:
            if not self.training.canvas.perform(op):
                return
        except OperationError as exc:
            self.shell.report("Cannot apply the fix", str(exc))
            return
        self.shell.show_status(f"Applied: {fix.label}", 8000)
        if retrain and self.training.train() and diagnosed is not None:
            self.comparison = BeforeAfter(diagnosed, fix, self.shell)
            self.comparison.show()

    def sequences(self) -> None:
        folder, session = self.panel.run_folder, self.training.session
        if folder is None or session is None:
            return
        catalog = session.doc.catalog
        self.panel.sequences.setText("Measuring…")
        self.background.run(lambda: _run_sequences(folder, catalog), self.panel.show_sequences)


def _write_reinit(project_file: Path, run: Path, fix: Fix) -> str:
    from modstudio.engine.doctor.reinit import write_reinit_weights  # torch, in the background thread

    return write_reinit_weights(project_file, run, fix)


def _run_sequences(run: Path, catalog: Any) -> list[SequenceRouting]:
    from modstudio.engine.doctor.sequence_pass import run_sequences  # torch, in the background thread

    return run_sequences(run, catalog)
