"""Training in the main window: the Train / Pause / Stop toolbar, the dashboard, training settings,
runs and analysis docks, the routing bars on the canvas, and what the status bar says.

Everything the worker reports arrives through :class:`TrainingController`'s ``message``
signal; this class hands it to the views. Questions and error reports are deferred to the
next turn of the event loop, so no modal dialog ever runs inside the polling coroutine.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QDockWidget, QLabel, QStyle, QToolBar

from modstudio.engine.settings import TrainSettings

from .training_controller import IDLE, PAUSED, PAUSING, RUNNING, STARTING, STOPPING, TrainingController
from .usage_overlay import RoutingOverlay

if TYPE_CHECKING:
    from modstudio.editor.session import EditorSession

    from .items import NodeItem
    from .main_window import MainWindow

PAUSE_TIPS = {  # what the Pause / Resume button does in each state
    IDLE: "Pause training (nothing is training now)",
    STARTING: "Pause training (as soon as the training process is up)",
    RUNNING: "Pause training after the current step",
    PAUSING: "Pausing… press again to train on without pausing",
    PAUSED: "Resume training",
    STOPPING: "Stopping after the current step",
}


class TrainingUI(QObject):
    """Owns the training controller and the training views of one main window."""

    _run_text = ""  # the run's latest news for the status bar (what started, progress or finished said)
    _run_at = ""  # where the run stands ("epoch 2 · step 7/40"; empty before its first step)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        from .analysis_panel import AnalysisPanel
        from .dashboard import Dashboard
        from .runs_panel import RunsPanel
        from .training_panel import TrainingPanel

        self.w = window
        self.session: EditorSession | None = None
        self._session_links: list[Callable[[], None]] = []
        # What the GUI asks beyond the project's own training section: the worker leaves one core to the
        # interface, so plots and editing stay smooth while training runs on the CPU.
        self.settings = TrainSettings(threads=max(1, (os.cpu_count() or 2) - 1))
        self.controller = TrainingController(self)
        self.overlay = RoutingOverlay()
        self.dashboard = Dashboard()
        self.panel = TrainingPanel()
        self.runs = RunsPanel()
        self.analysis = AnalysisPanel(window.catalog)
        self.runs.setMinimumWidth(180)  # its table scrolls; the left column stays as narrow as the palette
        self.dashboard.setMinimumWidth(320)
        self.progress_label = QLabel("")
        self._analysed_run = False  # the Analysis dock shows a run's analysis, not the project's
        window.statusBar().addPermanentWidget(self.progress_label)
        self._build_toolbar()
        self._build_docks()
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
        bar = QToolBar("Training", self.w)
        bar.setObjectName("Training")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        icons = self.w.style()
        self._play = icons.standardIcon(QStyle.StandardPixmap.SP_MediaPlay)
        self._pause = icons.standardIcon(QStyle.StandardPixmap.SP_MediaPause)
        stop = icons.standardIcon(QStyle.StandardPixmap.SP_MediaStop)
        self.train_action = self._action(
            bar, self._play, "Train", self.train, "F5", "Train the network in the background"
        )
        self.pause_action = self._action(bar, self._pause, "Pause", self.toggle_pause, "F6", "Pause or resume training")
        self.stop_action = self._action(bar, stop, "Stop", self.controller.stop, "Shift+F5", "Stop after this step")
        self.w.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        self.toolbar = bar

    def _action(self, bar: QToolBar, icon: QIcon, text: str, slot: Any, shortcut: str, tip: str) -> QAction:
        action = QAction(icon, text, self.w)
        action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(f"{tip} ({shortcut})")
        action.triggered.connect(lambda _=False: slot())
        bar.addAction(action)
        return action

    def _build_docks(self) -> None:
        w = self.w
        bottom, right, left = (
            Qt.DockWidgetArea.BottomDockWidgetArea,
            Qt.DockWidgetArea.RightDockWidgetArea,
            Qt.DockWidgetArea.LeftDockWidgetArea,
        )
        self.panel_dock = w.add_dock("Training", self.panel, right, beside=w.inspector_dock)
        self.dashboard_dock = w.add_dock("Dashboard", self.dashboard, right, beside=self.panel_dock)
        w.inspector_dock.raise_()
        self.runs_dock = w.add_dock("Runs", self.runs, left, beside=w.library_dock)
        w.library_dock.raise_()
        self.analysis_dock = w.add_dock("Analysis", self.analysis, bottom)
        self.analysis_dock.hide()  # analysed when first shown (torch loads for it, in a thread)
        self.analysis_dock.visibilityChanged.connect(self._analysis_shown)
        self.analysis_dock.dockLocationChanged.connect(self.analysis.follow_dock_area)
        self._widened = False
        self._analysis_sized = False

    def _analysis_shown(self, visible: bool) -> None:
        if visible and not self._analysis_sized and not self.analysis_dock.isFloating():
            self._analysis_sized = True  # the first time: a third of the window, the canvas keeps the rest
            from .analysis_panel import WIDE_AREAS  # loaded with the panel in __init__

            if self.w.dockWidgetArea(self.analysis_dock) in WIDE_AREAS:
                self.w.resizeDocks([self.analysis_dock], [max(260, self.w.height() // 3)], Qt.Orientation.Vertical)
        if visible and self.w.doc is not None and not self._analysed_run:
            self.analysis.show_project(self.w.doc.project)

    def docks(self) -> list[QDockWidget]:
        return [self.dashboard_dock, self.panel_dock, self.runs_dock, self.analysis_dock]

    def attach(self, session: EditorSession) -> None:
        """A project was loaded: point the views at its session (and follow its path and runs)."""
        w = self.w
        assert w.canvas is not None
        for disconnect in self._session_links:
            disconnect()
        self.session = session
        self.panel.set_document(session.doc, w.canvas.perform, session.path)
        self._show_runs()
        self._session_links = [
            session.path_changed.connect(self._path_changed),
            session.runs_changed.connect(self._show_runs),
        ]
        self.overlay.clear(self._canvas_nodes())
        self._analysed_run = False
        self.reset()
        if self.analysis_dock.isVisible():
            self.analysis.show_project(w.doc.project)

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
                self.w.show_status(moved.text(), 12000)

    # training ---------------------------------------------------------------------------

    def train(self) -> bool:
        """Check the settings, then start; bad settings are refused with a message, nothing starts."""
        from modstudio.engine.precheck import training_problems

        w = self.w
        if self.controller.busy or w.doc is None:
            return False
        problems = training_problems(w.doc.project, self.settings, memory=True)  # refused before allocating
        if problems:
            w.report("Cannot train yet", "\n".join(f"• {p}" for p in problems))
            return False
        self.overlay.clear(self._canvas_nodes())
        self.reset("Starting the training process…")
        self.show_dashboard()
        settings = self.settings
        unsaved = self.session is not None and self.session.path is None and self.session.runs_root is not None
        if unsaved and settings.runs_root is None:  # into the session's own folder, not the shared user data one
            settings = dataclasses.replace(settings, runs_root=str(self.session.runs_root))
        self.controller.start(w.doc.project, w.path, settings)
        return True

    def show_dashboard(self) -> None:
        """Bring the dashboard to the front; the first time, give the right column room for its plots."""
        self.dashboard_dock.show()
        self.dashboard_dock.raise_()
        if not self._widened:
            self._widened = True
            wanted = max(560, min(720, self.w.width() // 2 - 120))
            if self.dashboard_dock.width() < wanted:
                self.w.resizeDocks([self.dashboard_dock], [wanted], Qt.Orientation.Horizontal)
                if self.w.canvas is not None:  # the canvas got narrower: keep the network in view
                    QTimer.singleShot(0, self.w.canvas.frame_all)

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

    def on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        self.dashboard.handle(message)
        if kind == "started" and self.session is not None:
            self.session.training_started(message.get("run_folder"))
        if kind == "started":  # the dashboard resets itself on it
            self._run_text = f"training on {message.get('device')} · {message.get('parameters', 0):,} parameters"
            self._run_at = ""
            self.progress_label.setText(self._progress_text())
        elif kind == "progress":
            self._run_at = f"epoch {message['epoch']} · step {message['step']}/{message['steps']}"
            self._run_text = (
                f"{self._run_at} · loss {message['loss']:.4f} · {message['samples_per_second']:,.0f} samples/s"
            )
            self.progress_label.setText(self._progress_text())
        elif kind == "routing" and message.get("kind") == "train":
            self.overlay.update(message.get("probes") or {})
            self.refresh_overlay()
        elif kind == "error":
            text = message.get("message", "training failed")
            self.w.show_status(f"Training failed: {text}", 15000)
            QTimer.singleShot(0, lambda: self.w.report("Training failed", text))
        elif kind == "finished":
            self._run_text = self._finished_text(message)
            self.progress_label.setText(self._progress_text())
            self.runs.refresh()

    @staticmethod
    def _finished_text(message: dict[str, Any]) -> str:
        status = message.get("status")
        if status == "failed":
            return "training failed"
        if message.get("test_accuracy") is not None:
            return f"training {status}: test accuracy {message['test_accuracy']:.4f}"
        if message.get("test_r2") is not None:
            return f"training {status}: test R² {message['test_r2']:.4f}"
        return f"training {status}"

    def _canvas_nodes(self) -> list[NodeItem]:
        """The node items on the canvas now (none while no project is shown)."""
        return [] if self.w.scene is None else list(self.w.scene.nodes.values())

    def refresh_overlay(self) -> None:
        scene = self.w.scene
        if scene is None:
            return
        by_name = {node.name: scene.nodes[node.id] for node in scene.module.nodes if node.id in scene.nodes}
        self.overlay.apply(by_name)

    # selecting, runs ----------------------------------------------------------------------

    def select_node(self, path: str) -> None:
        """Select the node a probe path or warning names (looking in the main module if needed)."""
        w = self.w
        if w.scene is None or w.doc is None or not path:
            return
        name = path.split(".")[0] if w.module_path == [w.doc.project.main] else path.rsplit(".", 1)[-1]
        node = next((n for n in w.scene.module.nodes if n.name == name), None)
        if node is None and w.module_path != [w.doc.project.main]:
            w.show_module([w.doc.project.main])
            name = path.split(".")[0]
            node = next((n for n in w.scene.module.nodes if n.name == name), None)
        if node is None or node.id not in w.scene.nodes:
            return
        w.scene.clearSelection()
        item = w.scene.nodes[node.id]
        item.setSelected(True)
        if w.canvas is not None:
            w.canvas.centerOn(item)

    def _gone(self, *folders: Path) -> bool:
        """A run folder moved or deleted since the list was read: say so and read the list again."""
        missing = [f for f in folders if not f.is_dir()]
        if missing:
            self.runs.refresh()
            self.w.report("Run not found", f"{missing[0]} is gone (moved or deleted); the Runs list was read again.")
        return bool(missing)

    def open_run(self, folder: Path) -> None:
        from modstudio.engine.run_history import read_metrics, read_routing

        if self._gone(folder):
            return
        self.dashboard.clear_comparison()
        self.dashboard.show_history(read_metrics(folder), read_routing(folder))
        self.show_dashboard()
        self._analysed_run = True
        self.analysis.show_run(folder)  # reads the run's analysis.json, or computes it in a thread
        self.analysis_dock.show()

    def compare_runs(self, first: Path, second: Path) -> None:
        from modstudio.engine.run_history import read_metrics, read_routing

        if self._gone(first, second):
            return
        self.dashboard.show_history(read_metrics(first), read_routing(first))
        self.dashboard.compare(second.name, read_metrics(second))
        self.show_dashboard()

    def load_weights(self, folder: Path) -> None:
        """The run's best weights become the project's starting weights (undoable)."""
        from modstudio.graph.graft import SetInitWeights

        w = self.w
        if self._gone(folder):
            return
        weights = folder / "best.safetensors"
        if not weights.exists():
            weights = folder / "last.safetensors"
        if not weights.exists() or w.canvas is None:
            w.report("No weights", f"{folder} holds no saved weights")
            return
        reference = str(weights)
        if w.path is not None:
            with contextlib.suppress(ValueError):
                reference = str(weights.relative_to(w.path.parent))
        w.canvas.perform(SetInitWeights(reference))
        w.show_status(f"The next training starts from {reference}", 8000)


__all__ = ["TrainingUI"]
