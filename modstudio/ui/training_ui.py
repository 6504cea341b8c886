"""Training in the main window: the Train / Pause / Stop toolbar, the dashboard, training settings,
runs and analysis docks, the routing bars on the canvas, and what the status bar says.

Everything the worker reports arrives through :class:`TrainingController`'s ``message``
signal; this class hands it to the views. Questions and error reports are deferred to the
next turn of the event loop, so no modal dialog ever runs inside the polling coroutine.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QDockWidget, QLabel, QStyle, QToolBar

from modstudio.blocks.catalog import Catalog
from modstudio.engine.protocol import Epoch, Error, Finished, Message, Progress, Routing, Started
from modstudio.engine.settings import TrainSettings
from modstudio.engine.threads import interface_cores

from .training_controller import IDLE, PAUSED, PAUSING, RUNNING, STARTING, STOPPING, TrainingController
from .usage_overlay import RoutingOverlay

if TYPE_CHECKING:
    from modstudio.editor.session import EditorSession
    from modstudio.graph.document import Operation
    from modstudio.graph.model import Node

    from .items import NodeItem
    from .shell import Shell

PAUSE_TIPS = {  # what the Pause / Resume button does in each state
    IDLE: "Pause training (nothing is training now)",
    STARTING: "Pause training (as soon as the training process is up)",
    RUNNING: "Pause training after the current step",
    PAUSING: "Pausing… press again to train on without pausing",
    PAUSED: "Resume training",
    STOPPING: "Stopping after the current step",
}


@dataclass
class CanvasHooks:
    """What training needs of the canvas shown now (the window provides it; each project gets a new canvas)."""

    node_items: Callable[[], dict[str, NodeItem]]  # the node items on the canvas now, by node id (none: no project)
    perform: Callable[[Operation], bool]  # an undoable edit of the open project
    focus: Callable[[NodeItem], None]  # select only this item and bring it into view
    frame_all: Callable[[], None]


class TrainingUI(QObject):
    """Owns the training controller and the training views of one window: a view of the open session that asks
    the shell for docks, a toolbar, status and reports, and draws on the canvas through :class:`CanvasHooks`."""

    _run_text = ""  # the run's latest news for the status bar (what started, progress or finished said)
    _run_at = ""  # where the run stands ("epoch 2 · step 7/40"; empty before its first step)

    def __init__(
        self,
        shell: Shell,
        catalog: Catalog,
        canvas: CanvasHooks,
        beside: tuple[QDockWidget, QDockWidget],
        parent: QObject | None = None,
    ) -> None:
        """``beside``: the docks (right, left) whose tabs the training and runs docks join."""
        super().__init__(parent)
        from .analysis_panel import AnalysisPanel
        from .dashboard import Dashboard
        from .runs_panel import RunsPanel
        from .training_panel import TrainingPanel

        self.shell = shell
        self.canvas = canvas
        self.session: EditorSession | None = None
        self._session_links: list[Callable[[], None]] = []
        # What the GUI asks beyond the project's own training section: the worker leaves one core to the
        # interface, so plots and editing stay smooth while training runs on the CPU.
        self.settings = TrainSettings(keep_cores_free=interface_cores())
        self.controller = TrainingController(self)
        self.overlay = RoutingOverlay()
        self.dashboard = Dashboard()
        self.panel = TrainingPanel()
        self.runs = RunsPanel()
        self.analysis = AnalysisPanel(catalog)
        self.runs.setMinimumWidth(180)  # its table scrolls; the left column stays as narrow as the palette
        self.dashboard.setMinimumWidth(320)
        self.progress_label = QLabel("")
        self._analysed_run = False  # the Analysis dock shows a run's analysis, not the project's
        shell.add_status_widget(self.progress_label)
        self._build_toolbar()
        self._build_docks(*beside)
        self.controller.message.connect(self.on_message)
        self.controller.state_changed.connect(self._state_changed)
        self.controller.state_changed.connect(self._training_state)
        self.dashboard.node_selected.connect(self.select_node)
        self.runs.open_run.connect(self.open_run)
        self.runs.compare_runs.connect(self.compare_runs)
        self.runs.load_weights.connect(self.load_weights)
        self._state_changed(IDLE)

    # building ---------------------------------------------------------------------------

    def _build_toolbar(self) -> None:
        bar = QToolBar("Training")
        bar.setObjectName("Training")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        icons = bar.style()
        self._play = icons.standardIcon(QStyle.StandardPixmap.SP_MediaPlay)
        self._pause = icons.standardIcon(QStyle.StandardPixmap.SP_MediaPause)
        stop = icons.standardIcon(QStyle.StandardPixmap.SP_MediaStop)
        self.train_action = self._action(
            bar, self._play, "Train", self.train, "F5", "Train the network in the background"
        )
        self.pause_action = self._action(bar, self._pause, "Pause", self.toggle_pause, "F6", "Pause or resume training")
        self.stop_action = self._action(bar, stop, "Stop", self.controller.stop, "Shift+F5", "Stop after this step")
        self.shell.add_toolbar(bar)
        self.toolbar = bar

    def actions(self) -> list[QAction]:
        """Train, Pause and Stop, for the Run menu."""
        return [self.train_action, self.pause_action, self.stop_action]

    def _action(self, bar: QToolBar, icon: QIcon, text: str, slot: Any, shortcut: str, tip: str) -> QAction:
        action = QAction(icon, text, self)
        action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(f"{tip} ({shortcut})")
        action.triggered.connect(lambda _=False: slot())
        bar.addAction(action)
        return action

    def _build_docks(self, right_dock: QDockWidget, left_dock: QDockWidget) -> None:
        shell = self.shell
        bottom, right, left = (
            Qt.DockWidgetArea.BottomDockWidgetArea,
            Qt.DockWidgetArea.RightDockWidgetArea,
            Qt.DockWidgetArea.LeftDockWidgetArea,
        )
        self.panel_dock = shell.add_dock("Training", self.panel, right, beside=right_dock)
        self.dashboard_dock = shell.add_dock("Dashboard", self.dashboard, right, beside=self.panel_dock)
        right_dock.raise_()
        self.runs_dock = shell.add_dock("Runs", self.runs, left, beside=left_dock)
        left_dock.raise_()
        self.analysis_dock = shell.add_dock("Analysis", self.analysis, bottom)
        self.analysis_dock.hide()  # analysed when first shown (torch loads for it, in a thread)
        self.analysis_dock.visibilityChanged.connect(self._analysis_shown)
        self.analysis_dock.dockLocationChanged.connect(self.analysis.follow_dock_area)
        self._widened = False
        self._analysis_sized = False

    def _analysis_shown(self, visible: bool) -> None:
        if visible and not self._analysis_sized and not self.analysis_dock.isFloating():
            self._analysis_sized = True  # the first time: a third of the window, the canvas keeps the rest
            from .analysis_panel import WIDE_AREAS  # loaded with the panel in __init__

            if self.shell.dock_area(self.analysis_dock) in WIDE_AREAS:
                height = max(260, self.shell.height() // 3)
                self.shell.give_dock_room(self.analysis_dock, height, Qt.Orientation.Vertical)
        if visible and self.session is not None and not self._analysed_run:
            self.analysis.show_project(self.session.project)

    def docks(self) -> list[QDockWidget]:
        return [self.dashboard_dock, self.panel_dock, self.runs_dock, self.analysis_dock]

    def attach(self, session: EditorSession) -> None:
        """A project was loaded: point the views at its session (and follow its path and runs)."""
        for disconnect in self._session_links:
            disconnect()
        self.session = session
        self.panel.set_document(session.doc, self.canvas.perform, session.path)
        self._show_runs()
        self._session_links = [
            session.path_changed.connect(self._path_changed),
            session.runs_changed.connect(self._show_runs),
        ]
        self.overlay.clear(self._canvas_nodes())
        self._analysed_run = False
        self.reset()
        if self.analysis_dock.isVisible():
            self.analysis.show_project(session.project)

    def _path_changed(self, path: Path) -> None:
        self.panel.set_project_path(path)
        self._show_runs()

    def _show_runs(self) -> None:
        if self.session is not None:
            self.runs.set_project_path(self.session.path, self.session.runs_root)

    def _training_state(self, state: str) -> None:
        """The training process is gone: a run that waited to move beside the saved file moves now."""
        if state == IDLE and self.session is not None:
            moved = self.session.training_ended()
            if moved is not None and moved.text():
                self.shell.show_status(moved.text(), 12000)

    # training ---------------------------------------------------------------------------

    def train(self) -> bool:
        """Check the settings, then start; bad settings are refused with a message, nothing starts."""
        from modstudio.engine.precheck import training_problems

        session = self.session
        if self.controller.busy or session is None:
            return False
        problems = training_problems(
            session.project, self.settings, session.path, memory=True
        )  # refused before allocating
        if problems:
            self.shell.report("Cannot train yet", "\n".join(f"• {p}" for p in problems))
            return False
        self.overlay.clear(self._canvas_nodes())
        self.reset("Starting the training process…")
        self.show_dashboard()
        settings = self.settings
        unsaved = session.path is None and session.runs_root is not None
        if unsaved and settings.runs_root is None:  # into the session's own folder, not the shared user data one
            settings = dataclasses.replace(settings, runs_root=str(session.runs_root))
        self.controller.start(session.project, session.path, settings)
        return True

    def show_dashboard(self) -> None:
        """Bring the dashboard to the front; the first time, give the right column room for its plots."""
        self.dashboard_dock.show()
        self.dashboard_dock.raise_()
        if not self._widened:
            self._widened = True
            wanted = max(560, min(720, self.shell.width() // 2 - 120))
            if self.dashboard_dock.width() < wanted:
                self.shell.give_dock_room(self.dashboard_dock, wanted, Qt.Orientation.Horizontal)
                QTimer.singleShot(0, self.canvas.frame_all)  # the canvas got narrower: keep the network in view

    def reset(self, status: str = "No training yet") -> None:
        """The last run's curves, routing, warnings and test accuracy go (a live run keeps its views)."""
        if self.controller.busy:
            return
        self.dashboard.clear(status)
        self._run_text = self._run_at = ""
        self.progress_label.setText("")

    def toggle_pause(self) -> None:
        if self.controller.state in (PAUSED, PAUSING):
            self.controller.resume()
        else:
            self.controller.pause()

    def _state_changed(self, state: str) -> None:
        held = state in (PAUSED, PAUSING)
        self.train_action.setEnabled(state == IDLE)
        self.pause_action.setEnabled(state in (STARTING, RUNNING, PAUSING, PAUSED))
        self.pause_action.setText("Resume" if held else "Pause")
        self.pause_action.setIcon(self._play if held else self._pause)
        self.pause_action.setToolTip(f"{PAUSE_TIPS.get(state, 'Pause or resume training')} (F6)")
        self.stop_action.setEnabled(state not in (IDLE, STOPPING))
        self.panel.setEnabled(state == IDLE)
        self.progress_label.setText(self._progress_text())

    def _progress_text(self) -> str:
        """The status bar's training text: the run's latest news, or what the run is waiting for."""
        state, news = self.controller.state, self._run_text
        if state == STARTING:
            return "starting the training process…"
        if state == PAUSING and self.controller.pause_waiting:
            return "pausing… (as soon as the training process is up)"
        if state == PAUSING:
            return "pausing after this step…"
        if state == PAUSED:
            where = f"at {self._run_at}" if self._run_at else "before the first step"
            return f"Paused {where} · F6 resumes"
        if state == STOPPING:
            return "stopping after this step…"
        return news

    def on_message(self, message: Message) -> None:
        """Every worker message: the dashboard stores it; the status bar shows its ``describe()`` text."""
        self.dashboard.handle(message)
        match message:
            case Started(run_folder=folder):  # the dashboard resets itself on it
                if self.session is not None:
                    self.session.training_started(folder)
                self._news(message.describe(), "")
            case Progress():
                self._news(message.describe(), message.at)
            case Epoch():
                self._news(message.describe(), self._run_at)
            case Routing(kind="train", probes=probes):
                self.overlay.update(probes)
                self.refresh_overlay()
            case Error():
                text = message.describe() or "training failed"
                self.shell.show_status(f"Training failed: {text}", 15000)
                QTimer.singleShot(0, lambda: self.shell.report("Training failed", text))
            case Finished():
                self._news(message.describe(), self._run_at)
                self.runs.refresh()

    def _news(self, text: str, at: str) -> None:
        self._run_text, self._run_at = text, at
        self.progress_label.setText(self._progress_text())

    def _canvas_nodes(self) -> list[NodeItem]:
        """The node items on the canvas now (none while no project is shown)."""
        return list(self.canvas.node_items().values())

    def _shown_nodes(self) -> list[Node]:
        """The nodes of the module the session shows (none before a project is attached)."""
        if self.session is None:
            return []
        module = self.session.project.modules.get(self.session.shown_module)
        return list(module.nodes) if module is not None else []

    def refresh_overlay(self) -> None:
        items = self.canvas.node_items()
        self.overlay.apply({node.name: items[node.id] for node in self._shown_nodes() if node.id in items})

    # selecting, runs ----------------------------------------------------------------------

    def select_node(self, path: str) -> None:
        """Select the node a probe path or warning names (looking in the main module if needed)."""
        session = self.session
        if session is None or not path:
            return
        main = [session.project.main]
        name = path.split(".")[0] if session.module_path == main else path.rsplit(".", 1)[-1]
        node = next((n for n in self._shown_nodes() if n.name == name), None)
        if node is None and session.module_path != main:
            session.show_module(main)  # the canvas follows the session's event
            name = path.split(".")[0]
            node = next((n for n in self._shown_nodes() if n.name == name), None)
        items = self.canvas.node_items()
        if node is not None and node.id in items:
            self.canvas.focus(items[node.id])

    def _gone(self, *folders: Path) -> bool:
        """A run folder moved or deleted since the list was read: say so and read the list again."""
        missing = [f for f in folders if not f.is_dir()]
        if missing:
            self.runs.refresh()
            self.shell.report(
                "Run not found", f"{missing[0]} is gone (moved or deleted); the Runs list was read again."
            )
        return bool(missing)

    def open_run(self, folder: Path) -> None:
        from modstudio.engine.records.run_history import read_metrics, read_routing, read_statistics

        if self._gone(folder):
            return
        self.dashboard.clear_comparison()
        self.dashboard.show_history(read_metrics(folder), read_routing(folder), read_statistics(folder))
        self.show_dashboard()
        self._analysed_run = True
        self.analysis.show_run(folder)  # reads the run's analysis.json, or computes it in a thread
        self.analysis_dock.show()

    def compare_runs(self, first: Path, second: Path) -> None:
        from modstudio.engine.records.run_history import read_metrics, read_routing, read_statistics

        if self._gone(first, second):
            return
        self.dashboard.show_history(read_metrics(first), read_routing(first), read_statistics(first))
        self.dashboard.compare(second.name, read_metrics(second))
        self.show_dashboard()

    def load_weights(self, folder: Path) -> None:
        """The run's best weights become the project's starting weights (undoable)."""
        from modstudio.engine.records.run_history import weights_of
        from modstudio.graph.graft import SetInitWeights

        if self._gone(folder) or self.session is None:
            return
        weights = weights_of(folder)
        if weights is None:
            self.shell.report("No weights", f"{folder} holds no saved weights")
            return
        reference = str(weights)
        path = self.session.path
        if path is not None:
            with contextlib.suppress(ValueError):
                reference = str(weights.relative_to(path.parent))
        self.canvas.perform(SetInitWeights(reference))
        self.shell.show_status(f"The next training starts from {reference}", 8000)


__all__ = ["CanvasHooks", "TrainingUI"]
