"""The Search dock: what a search varies and optimises, starting and stopping ``modstudio search`` in its
own process, its trials live (table, Pareto front, parallel coordinates, importances), the best trial,
and "Apply this trial" (one undoable edit setting the trial's values in the project).

The study is read in a background thread at most once a second while the search runs
(:mod:`~modstudio.ui.search_reader`); the editor never waits for it and never imports torch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from modstudio.graph.document import Change, ChangeKind, OperationError
from modstudio.graph.search_ops import ApplyTrial, SetObjectives, SetSearchDimension

from .search_dimension import describe
from .search_marks import edit_dimension
from .search_plots import ImportanceView, ParallelView, ParetoView, objective_word
from .search_process import SearchOptions, SearchOutcome, SearchRun
from .search_reader import StudyReader, StudyState, default_place
from .search_start import start_problem
from .search_table import TrialsTable, shown_value, state_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from modstudio.editor.session import EditorSession
    from modstudio.graph.document import Operation

    from .shell import Shell

OBJECTIVE_SETS = [["accuracy", "-flops"], ["accuracy", "-params"], ["accuracy"], ["loss"], ["loss", "-flops"]]


class SearchDock(QWidget):
    """The Search dock of one window; ``attach(session, perform)`` points it at the open project."""

    open_run = Signal(Path)  # show a trial's run (curves, analysis) as the Runs dock does
    runs_changed = Signal()  # a trial ended: its run folder is new in the project's runs

    def __init__(self, shell: Shell, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.shell = shell
        self.session: EditorSession | None = None
        self.perform: Callable[[Operation], Any] | None = None
        self.run: SearchRun | None = None
        self.state = StudyState()
        self._unsubscribe: Callable[[], None] | None = None
        self._links: list[Callable[[], None]] = []
        self.reader = StudyReader(self)
        self.reader.state_read.connect(self.show_state)
        self.reader.importances_read.connect(self._importances)
        self.reader.failed.connect(lambda text: self.status.setText(text))
        self._build()
        self.dock = shell.add_dock("Search", self, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.dock.hide()  # View > Search shows it
        self.dock.visibilityChanged.connect(self._dock_shown)
        self._sized = False

    # building ---------------------------------------------------------------------------

    def _build(self) -> None:
        left = QWidget()
        column = QVBoxLayout(left)
        column.setContentsMargins(4, 4, 4, 4)
        form = QFormLayout()
        self.objectives = QComboBox()
        for chosen in OBJECTIVE_SETS:
            self.objectives.addItem(" vs ".join(objective_word(o) for o in chosen), chosen)
        self.objectives.activated.connect(self._objectives_chosen)
        self.trials = QSpinBox()
        self.trials.setRange(1, 100_000)
        self.trials.setValue(20)
        self.timeout = QLineEdit()
        self.timeout.setPlaceholderText("none (minutes)")
        self.jobs = QSpinBox()
        self.jobs.setRange(1, max(os.cpu_count() or 1, 1))
        self.jobs.setValue(max(1, (os.cpu_count() or 2) // 2))
        self.jobs.setToolTip("Trials trained at once, each in its own process")
        self.epochs = QSpinBox()
        self.epochs.setRange(0, 100_000)
        self.epochs.setSpecialValueText("the project's")  # 0: as the project trains
        for label, widget in (("optimise", self.objectives), ("trials", self.trials), ("time limit", self.timeout),
                              ("at once", self.jobs), ("epochs", self.epochs)):  # fmt: skip
            form.addRow(label, widget)
        column.addLayout(form)
        self.start_button = QPushButton("Start search")
        self.start_button.clicked.connect(self.start_or_stop)
        column.addWidget(self.start_button)
        column.addWidget(QLabel("Searched over (double-click to edit):"))
        self.dimensions = QListWidget()
        self.dimensions.itemDoubleClicked.connect(self._edit_dimension)
        column.addWidget(self.dimensions, 1)
        self.remove_button = QPushButton("Stop searching the selected setting")
        self.remove_button.clicked.connect(self._remove_dimension)
        column.addWidget(self.remove_button)
        self.counts = QLabel()  # the study's trials by state
        self.status = QLabel()  # what the search process said last
        for label in (self.counts, self.status):
            label.setWordWrap(True)
            label.setObjectName("doc")
            column.addWidget(label)

        middle = QWidget()
        trials = QVBoxLayout(middle)
        trials.setContentsMargins(4, 4, 4, 4)
        self.table = TrialsTable()
        self.table.chosen.connect(self._chosen)
        trials.addWidget(self.table, 1)
        self.best = QLabel()
        self.best.setWordWrap(True)
        trials.addWidget(self.best)
        buttons = QHBoxLayout()
        self.apply_button = QPushButton("Apply this trial")
        self.apply_button.setToolTip("Set the trial's values in the project (one edit: Undo takes it back)")
        self.apply_button.clicked.connect(self.apply_chosen)
        self.open_button = QPushButton("Open its run")
        self.open_button.setToolTip("Show the trial's curves and analysis, as the Runs dock does")
        self.open_button.clicked.connect(self._open_chosen)
        buttons.addWidget(self.apply_button)
        buttons.addWidget(self.open_button)
        trials.addLayout(buttons)

        self.tabs = QTabWidget()
        self.pareto = ParetoView()
        self.parallel = ParallelView()
        self.importance = ImportanceView()
        self.tabs.addTab(self.pareto, "Pareto front")
        self.tabs.addTab(self.parallel, "Parallel coordinates")
        self.tabs.addTab(self.importance, "Importances")
        self.tabs.currentChanged.connect(lambda _i: self.reader.importances_wanted(self._importances_shown()))
        self.pareto.trial_clicked.connect(lambda number: self.table.choose(number))

        splitter = QSplitter(Qt.Orientation.Horizontal)
        for widget, stretch in ((left, 0), (middle, 1), (self.tabs, 1)):
            splitter.addWidget(widget)
            splitter.setStretchFactor(splitter.count() - 1, stretch)
        splitter.setSizes([270, 600, 540])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self._update_buttons()

    def _dock_shown(self, visible: bool) -> None:
        if visible and not self._sized and not self.dock.isFloating():
            self._sized = True  # the first time: a third of the window, the canvas keeps the rest
            self.shell.give_dock_room(self.dock, max(300, self.shell.height() // 3), Qt.Orientation.Vertical)
        self.reader.importances_wanted(self._importances_shown())
        if visible:
            self.reader.read()

    def _importances_shown(self) -> bool:
        return self.isVisible() and self.tabs.currentWidget() is self.importance

    # the project ------------------------------------------------------------------------

    def attach(self, session: EditorSession, perform: Callable[[Operation], Any]) -> None:
        """A project was loaded: follow its search section and read its study (if it has one)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.session, self.perform = session, perform
        self._unsubscribe = session.doc.subscribe(self._on_change)
        for disconnect in self._links:
            disconnect()
        self._links = [session.path_changed.connect(lambda _path: self._read_study())]
        self.show_section()
        self._read_study()

    def _on_change(self, change: Change) -> None:
        if change.kind == ChangeKind.SEARCH_CHANGED:
            try:
                self.show_section()
            except RuntimeError:  # deleted with its window while the document lives on
                if self._unsubscribe is not None:
                    self._unsubscribe()
                    self._unsubscribe = None

    def project_objectives(self) -> list[str]:
        search = self.session.project.search if self.session is not None else None
        return list(search.objectives) if search is not None else ["accuracy"]

    def show_section(self) -> None:
        """The project's dimensions and objectives."""
        search = self.session.project.search if self.session is not None else None
        self.dimensions.clear()
        for dim in search.dimensions if search is not None else ():
            item = QListWidgetItem(f"{dim.target}: {describe(dim)}")
            item.setData(Qt.ItemDataRole.UserRole, dim.target)
            item.setToolTip(dim.target)
            self.dimensions.addItem(item)
        if not self.dimensions.count():
            self.dimensions.addItem(QListWidgetItem("(none yet)"))
        objectives = self.project_objectives()
        index = self.objectives.findData(objectives)
        if index < 0:
            self.objectives.addItem(" vs ".join(objective_word(o) for o in objectives), objectives)
            index = self.objectives.count() - 1
        self.objectives.setCurrentIndex(index)
        self._update_buttons()

    def _objectives_chosen(self, index: int) -> None:
        chosen = list(self.objectives.itemData(index))
        if chosen != self.project_objectives() and self.perform is not None:
            self.perform(SetObjectives(chosen))

    def _edit_dimension(self, item: QListWidgetItem) -> None:
        target = item.data(Qt.ItemDataRole.UserRole)
        if target and self.session is not None and self.perform is not None:
            edit_dimension(self.session.doc, self.perform, target, self)

    def _remove_dimension(self) -> None:
        item = self.dimensions.currentItem()
        target = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if target and self.perform is not None:
            self.perform(SetSearchDimension(target, None))

    # the study ---------------------------------------------------------------------------

    def _read_study(self) -> None:
        path = self.session.path if self.session is not None else None
        self.reader.set_place(default_place(path) if path is not None else None, self.project_objectives())

    def show_state(self, state: StudyState) -> None:
        """Draw what the reader found."""
        ended = {r.number for r in state.rows if state_of(r) != "running"}
        if ended - {r.number for r in self.state.rows if state_of(r) != "running"}:
            self.runs_changed.emit()
        self.state = state
        search = self.session.project.search if self.session is not None else None
        dims = list(search.dimensions) if search is not None else []
        targets = list(dict.fromkeys([*(d.target for d in dims), *(t for r in state.rows for t in r.params)]))
        objectives = state.objectives or self.project_objectives()
        self.table.show_trials(state.rows, targets, objectives, set(state.front))
        self.pareto.show_trials(state.rows, objectives, state.front, state.points, state.cost_fronts)
        shown_dims = [d for d in dims if any(d.target in r.params for r in state.rows)]
        self.parallel.show_trials(state.rows, objectives, shown_dims)
        self.pareto.choose(self.table.chosen_number())
        self.parallel.choose(self.table.chosen_number())
        self.best.setText(self._best_text(objectives))
        self._update_buttons()

    def _best_text(self, objectives: list[str]) -> str:
        rows = {r.number: r for r in self.state.rows}
        front = [rows[n] for n in self.state.front if n in rows]
        if not front:
            return ""
        best = max(front, key=lambda r: r.values[0] if objectives[0] == "accuracy" else -r.values[0])
        values = ", ".join(f"{objective_word(o)} {shown_value(v)}" for o, v in zip(objectives, best.values or []))
        many = f" ({len(front)} trials on the Pareto front, marked ★)" if len(objectives) > 1 else ""
        return f"<b>Best: trial {best.number}</b>: {values}{many}"

    def _importances(self, values: dict[str, float] | None, why_not: str) -> None:
        self.importance.show_importances(values, why_not)

    def chosen_row(self) -> Any:
        number = self.table.chosen_number()
        return next((r for r in self.state.rows if r.number == number), None)

    def _chosen(self, number: int | None) -> None:
        self.pareto.choose(number)
        self.parallel.choose(number)
        self._update_buttons()

    def apply_chosen(self) -> bool:
        """The chosen trial's values into the project: one edit, undone as one."""
        row = self.chosen_row()
        if row is None or not row.params or self.perform is None:
            return False
        try:
            done = self.perform(ApplyTrial(dict(row.params), f"Apply search trial {row.number}"))
        except OperationError as exc:
            self.shell.report("Cannot apply the trial", str(exc))
            return False
        if done is not False:
            self.shell.show_status(f"Trial {row.number}'s values are in the project (Undo takes them back)")
        return done is not False

    def _open_chosen(self) -> None:
        row = self.chosen_row()
        if row is None or not row.run_dir:
            return
        folder = Path(row.run_dir)
        if not folder.is_absolute() and self.session is not None and self.session.path is not None:
            folder = self.session.path.parent / folder
        self.open_run.emit(folder)

    def _update_buttons(self) -> None:
        row = self.chosen_row()
        self.apply_button.setEnabled(row is not None and bool(row.params))
        self.open_button.setEnabled(row is not None and bool(row.run_dir))
        self.remove_button.setEnabled(self.dimensions.count() > 0 and self.session is not None)
        running = self.run is not None and self.run.running()
        self.start_button.setText("Stop search" if running else "Start search")
        counts: dict[str, int] = {}
        for r in self.state.rows:
            counts[state_of(r)] = counts.get(state_of(r), 0) + 1
        words = ", ".join(f"{n} {s if s != 'fail' else 'failed'}" for s, n in sorted(counts.items()))
        self.counts.setText(f"{len(self.state.rows)} trials: {words}" if self.state.rows else "No trials yet.")

    # running ----------------------------------------------------------------------------

    def options(self) -> SearchOptions:
        text = self.timeout.text().strip()
        minutes = float(text) if text else None
        return SearchOptions(
            trials=self.trials.value(),
            timeout_s=minutes * 60 if minutes else None,
            objectives=tuple(self.project_objectives()),
            jobs=self.jobs.value(),
            epochs=self.epochs.value() or None,
        )

    def start_or_stop(self) -> None:
        if self.run is not None and self.run.running():
            self.run.stop()
            self.status.setText("Stopping the search (the study keeps its finished trials)…")
        else:
            self.start()

    def start(self) -> bool:
        """Start ``modstudio search`` on the saved project; refused with a sentence when it cannot start."""
        session = self.session
        why = start_problem(self.shell, session, self.timeout.text())
        if why is not None:
            if why:
                self.shell.report("Cannot search yet", why)
            return False
        assert session is not None and session.path is not None
        self.run = SearchRun(session.path, self.options(), self)
        self.run.line.connect(self._news)
        self.run.finished.connect(self._finished)
        self.run.start()
        self.status.setText("Starting the search…")
        self.reader.set_place(default_place(session.path), self.project_objectives())
        self.reader.follow(True)
        self._update_buttons()
        return True

    def _news(self, line: str) -> None:
        """A line the search printed: its trial lines and summaries (not Optuna's tracebacks)."""
        if not line.startswith((" ", "[W", "Traceback", "  File")):
            self.status.setText(line if len(line) < 200 else line[:197] + "…")

    def _finished(self, outcome: SearchOutcome) -> None:
        self.reader.follow(False)
        self.reader.read()
        self.run = None
        self._update_buttons()
        self.status.setText(outcome.text.splitlines()[0] if outcome.text else "")
        if not outcome.ok and not outcome.stopped:
            self.shell.report("The search failed", outcome.text)
