"""MainWindow: canvas with a breadcrumb, palette, module library and inspector docks, menus,
status bar (messages, shape problems, parameter count); its files (open, save, autosave and recovery)
are :class:`~modstudio.ui.window_files.WindowFiles`."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QMenu, QToolBar, QVBoxLayout, QWidget

from modstudio.blocks.catalog import Catalog
from modstudio.editor.session import EditorSession
from modstudio.graph.document import Document
from modstudio.graph.model import Project

from .canvas import Canvas
from .checking import CheckResult
from .commands import UndoStack
from .dialogs import (
    ask_with_a_dialog,
    choose_with_a_dialog,
    inform_with_a_dialog,
    warn_with_a_dialog,
)
from .expert_surgery import add_surgery_action
from .files import RecentFiles
from .graft_dialog import show_graft_dialog
from .gui_thread_gc import collect_in_gui_thread
from .inspector import Inspector
from .library_panel import ModuleLibraryPanel, library_import_ops
from .menus import build_menus
from .palette import Palette
from .param_count import ParamCounter
from .scene import ModuleScene
from .search_dock import SearchDock
from .views import Views, canvas_hooks, new_scratch_runs
from .window_files import WindowFiles

log = logging.getLogger(__name__)

AUTOSAVE_MS = 60_000


class MainWindow(WindowFiles, QMainWindow):
    """The shell and the view of one EditorSession at a time: ``load`` builds a new session and all its views,
    then swaps them in (the old project stays when that fails). Docks and dialogs use the shell's small
    interface (:class:`~modstudio.ui.shell.Shell`: add a dock, ask, choose, report, inform, status)."""

    def __init__(self, catalog: Catalog, settings: QSettings | None = None) -> None:
        super().__init__()
        collect_in_gui_thread(self)  # never in a worker thread while this window lives (gui_thread_gc.py)
        self.catalog = catalog
        self.settings = settings or QSettings("ModStudio", "ModStudio")
        self.recent = RecentFiles(self.settings)
        self.session: EditorSession | None = None
        self._views: Views | None = None
        # Questions and reports go through these, so tests can answer them.
        self.ask: Callable[[str, str], bool] = functools.partial(ask_with_a_dialog, self)
        self.choose: Callable[[str, str, list[str]], str] = functools.partial(choose_with_a_dialog, self)
        self.report: Callable[[str, str], None] = functools.partial(warn_with_a_dialog, self)
        self.inform: Callable[[str, str], None] = functools.partial(inform_with_a_dialog, self)
        self.resize(1400, 860)
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self.palette = Palette(catalog)
        self.palette.setMinimumWidth(200)
        self.palette_dock = self._dock("Blocks", self.palette, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.library_dock = self._dock("Modules", QWidget(), Qt.DockWidgetArea.LeftDockWidgetArea)
        self.inspector_dock = self._dock("Inspector", QWidget(), Qt.DockWidgetArea.RightDockWidgetArea)
        self.breadcrumb = QToolBar("Module path")
        self.breadcrumb.setMovable(False)
        self.central = QWidget()
        layout = QVBoxLayout(self.central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.breadcrumb)
        self.setCentralWidget(self.central)
        self.problem_label = QLabel()
        self.problem_label.setObjectName("error")
        self.count_label = QLabel("parameters: …")
        # A normal (not permanent) widget: Qt hides it while a message shows, so "Saved …" and the canvas hints
        # are readable (a stretched permanent widget left them no room), and it comes back after the message.
        self.statusBar().addWidget(self.problem_label, 1)
        self.statusBar().addPermanentWidget(self.count_label)
        self.counter = ParamCounter(catalog, self)
        self.counter.counted.connect(self.count_label.setText)
        self.counting_enabled = False  # switched on once the window is shown (torch loads late)
        self.autosave = QTimer(self)
        self.autosave.setInterval(AUTOSAVE_MS)
        self.autosave.timeout.connect(self.save_recovery)
        self.autosave.start()
        self.actions_by_name: dict[str, QAction] = {}
        self.open_graft_dialog: Callable[[], object] = lambda: None  # set for each project shown
        from .doctor_panel import DoctorUI
        from .training_ui import TrainingUI

        hooks = canvas_hooks(lambda: self._views)  # whichever project's canvas is shown when training asks
        self.training = TrainingUI(self, catalog, hooks, (self.inspector_dock, self.library_dock), parent=self)
        self.doctor = DoctorUI(self, self.training)  # the Doctor dock (ui/doctor_panel.py)
        from .evaluation_dock import attach_evaluation

        self.evaluation_dock = attach_evaluation(self, self.training)  # evaluates the run the Runs dock opens
        self.search = SearchDock(self)  # View > Search: a search's trials, its Pareto front, "apply this trial"
        self.search.open_run.connect(self.training.open_run)
        self.search.runs_changed.connect(self.training.runs.refresh)
        self.resizeDocks([self.palette_dock, self.inspector_dock], [220, 270], Qt.Orientation.Horizontal)
        self.resizeDocks([self.palette_dock, self.library_dock], [520, 260], Qt.Orientation.Vertical)
        self.recent_menu: QMenu | None = None

    def add_dock(
        self, title: str, widget: QWidget, area: Qt.DockWidgetArea, beside: QDockWidget | None = None
    ) -> QDockWidget:
        """The shell's one way to add a dock: in ``area``, or as a tab beside another dock."""
        dock = self._dock(title, widget, area)
        if beside is not None:
            self.tabifyDockWidget(beside, dock)
        return dock

    def add_toolbar(self, bar: QToolBar) -> None:
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)

    def add_status_widget(self, widget: QWidget) -> None:
        self.statusBar().addPermanentWidget(widget)

    def give_dock_room(self, dock: QDockWidget, size: int, orientation: Qt.Orientation) -> None:
        self.resizeDocks([dock], [size], orientation)

    def dock_area(self, dock: QDockWidget) -> Qt.DockWidgetArea:
        return self.dockWidgetArea(dock)

    def show_status(self, text: str, milliseconds: int = 8000) -> None:
        self.statusBar().showMessage(text, milliseconds)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(area, dock)
        return dock

    # the session and its views --------------------------------------------------------

    @property
    def doc(self) -> Document | None:
        return self.session.doc if self.session is not None else None

    @property
    def path(self) -> Path | None:
        return self.session.path if self.session is not None else None

    @property
    def module_path(self) -> list[str]:
        return self.session.module_path if self.session is not None else []

    @property
    def stack(self) -> UndoStack | None:
        return self._views.stack if self._views is not None else None

    @property
    def scene(self) -> ModuleScene | None:
        return self._views.scene if self._views is not None else None

    @property
    def canvas(self) -> Canvas | None:
        return self._views.canvas if self._views is not None else None

    @property
    def inspector(self) -> Inspector:
        assert self._views is not None
        return self._views.inspector

    @property
    def library(self) -> ModuleLibraryPanel:
        assert self._views is not None
        return self._views.library

    # loading a project: a transaction ------------------------------------------------------

    def load(self, project: Project, path: Path | None = None) -> bool:
        """Show ``project`` in a new session. The session and its views are built completely, then
        swapped in; if anything fails, the project shown before stays and ``report`` says why."""
        old = self._views
        try:
            views = self._build(EditorSession.of_project(project, self.catalog, path, new_scratch_runs()))
        except Exception as exc:  # a sentence for the person, the traceback for the log
            log.exception("building the views of %s failed", path or project.name)
            self.report("Cannot open the project", f"{path or project.name}: {type(exc).__name__}: {exc}")
            return False
        try:
            self._install(views)
        except Exception as exc:
            log.exception("showing %s failed", path or project.name)
            if old is not None:
                with contextlib.suppress(Exception):
                    self._install(old)
            views.discard()
            self.report(
                "Cannot open the project",
                f"{path or project.name}: {type(exc).__name__}: {exc}\n\nThe project shown before stays open.",
            )
            return False
        if old is not None:
            old.discard()
        return True

    def _build(self, session: EditorSession) -> Views:
        """Every view of ``session``, not shown yet (the window still shows the old project)."""
        stack = UndoStack(session, self)
        scene = ModuleScene(session, self.catalog, self)
        canvas = Canvas(stack, scene)
        canvas.resolve_library = lambda key: library_import_ops(session.doc, self.catalog, key)  # type: ignore[arg-type]
        canvas.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        canvas.drill_in.connect(self.drill_in)
        canvas.files_dropped.connect(self.open_dropped)
        scene.checked.connect(self._checked)
        scene.module_gone.connect(lambda: QTimer.singleShot(0, lambda: self.show_module([session.project.main])))
        inspector = Inspector(scene, self.catalog, canvas.perform)
        inspector.open_member = self.drill_in
        library = ModuleLibraryPanel(session.doc, self.catalog, canvas.perform)
        library.open_module.connect(self.open_module)
        return Views(session, stack, scene, canvas, inspector, library)

    def _install(self, views: Views) -> None:
        """Put ``views`` on screen and point the menus and training docks at their session."""
        if self._views is not None:
            self._views.disconnect()
            self.central.layout().removeWidget(self._views.canvas)
            self._views.canvas.hide()
        self._views, self.session = views, views.session
        self.central.layout().addWidget(views.canvas)
        views.canvas.show()
        self.inspector_dock.setWidget(views.inspector)
        self.library_dock.setWidget(views.library)
        session = views.session
        views.connect(
            session.dirty_changed.connect(self._dirty_changed),
            session.module_shown.connect(self._module_shown),
            session.path_changed.connect(lambda _path: self._update_title()),
        )
        self.count_label.setText("parameters: …")
        docks = (
            self.palette_dock,
            self.library_dock,
            self.inspector_dock,
            *self.training.docks(),
            self.doctor.dock,
            self.evaluation_dock,
            self.search.dock,
        )
        toolbar = self.training.toolbar.toggleViewAction()
        toolbar.setText("Training Toolbar")  # the dock is "Training" too: one name per entry of the View menu
        toggles = [*(dock.toggleViewAction() for dock in docks), toolbar]
        graft = functools.partial(show_graft_dialog, self, views.canvas.selected_node_ids, views.stack.perform)
        menus = build_menus(
            self, self.menuBar(), session, views.canvas, views.stack, toggles, self.training.actions(), graft
        )
        self.actions_by_name, self.recent_menu = menus.actions_by_name, menus.recent_menu
        self.open_graft_dialog = graft  # File > Graft Module from a Run…
        add_surgery_action(self.actions_by_name, self, views.canvas.selected_node_ids, views.stack.perform)
        self.training.attach(session)
        self.search.attach(session, views.canvas.perform)
        self._module_shown(session.module_path)
        self.setWindowModified(session.dirty)
        self._update_title()
        QTimer.singleShot(0, views.canvas.show_start)

    def _dirty_changed(self, dirty: bool) -> None:
        with contextlib.suppress(RuntimeError):  # the session outlives a window being destroyed
            self.setWindowModified(dirty)

    def _update_title(self) -> None:
        assert self.session is not None
        self.setWindowTitle(f"{self.session.title}[*] — ModStudio")

    # modules: drill in and breadcrumb ---------------------------------------------------

    def show_module(self, path: list[str]) -> None:
        assert self.session is not None
        self.session.show_module(path)

    def _module_shown(self, path: list[str]) -> None:
        """The session shows another module: the scene, the breadcrumb, the inspector and the overlay follow."""
        assert self.scene is not None and self.canvas is not None
        self.scene.show_module()  # it reads the module from the session
        self.breadcrumb.clear()
        for i, name in enumerate(path):
            if i:
                self.breadcrumb.addWidget(QLabel(" › "))
            action = self.breadcrumb.addAction(name)
            action.setEnabled(i < len(path) - 1)
            action.triggered.connect(lambda _=False, n=i: self.show_module(self.module_path[: n + 1]))
        self.inspector.node_id = None
        self.inspector.rebuild()
        self.training.refresh_overlay()
        QTimer.singleShot(0, self.canvas.show_start)

    def drill_in(self, module: str) -> None:
        assert self.session is not None
        self.session.drill_in(module)

    def open_module(self, module: str) -> None:
        assert self.session is not None
        self.session.open_module(module)

    def go_up(self) -> None:
        assert self.session is not None
        self.session.go_up()

    # live checking and the parameter count ------------------------------------------------

    def _checked(self, result: CheckResult) -> None:
        count = len(result.problems)
        self.problem_label.setText(
            "" if not count else f"⚠ {count} problem{'s' if count != 1 else ''}: {result.problems[0]}"
        )
        self.problem_label.setToolTip("\n".join(result.problems))
        if self.counting_enabled and self.doc is not None:
            self.counter.request(self.doc.project, result)

    def start_counting(self) -> None:
        """Called once the window is on screen: from now on torch may load (in a thread)."""
        self.counting_enabled = True
        if self.scene is not None and self.scene.last_check is not None:
            self._checked(self.scene.last_check)
