"""MainWindow: canvas with a breadcrumb, palette, module library and inspector docks, menus,
status bar (messages, shape problems, parameter count), files, autosave and recovery."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QMenu, QMessageBox, QToolBar, QVBoxLayout, QWidget

from modstudio.blocks.catalog import Catalog
from modstudio.graph.document import Document
from modstudio.graph.io import PROJECT_SUFFIX
from modstudio.graph.model import Project

from .canvas import Canvas
from .checking import CheckResult
from .commands import UndoStack
from .files import RecentFiles, clear_recovery, problems_left, write_recovery
from .inspector import Inspector
from .library_panel import ModuleLibraryPanel, library_import_ops
from .menus import build_menus
from .palette import Palette
from .param_count import ParamCounter
from .scene import ModuleScene

AUTOSAVE_MS = 60_000


class MainWindow(QMainWindow):
    """One project at a time; ``load`` swaps in a new Document with its own undo stack."""

    def __init__(self, catalog: Catalog, settings: QSettings | None = None) -> None:
        super().__init__()
        self.catalog = catalog
        self.recent = RecentFiles(settings)
        self.path: Path | None = None
        self.doc: Document | None = None
        self.module_path: list[str] = []
        # Questions and reports go through these two, so tests can answer them.
        self.ask: Callable[[str, str], bool] = self._ask
        self.report: Callable[[str, str], None] = self._report
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
        self.statusBar().addPermanentWidget(self.problem_label)  # no stretch: it left no room for messages
        self.statusBar().addPermanentWidget(self.count_label)
        self.counter = ParamCounter(catalog, self)
        self.counter.counted.connect(self.count_label.setText)
        self.counting_enabled = False  # switched on once the window is shown (torch loads late)
        self.autosave = QTimer(self)
        self.autosave.setInterval(AUTOSAVE_MS)
        self.autosave.timeout.connect(self.save_recovery)
        self.autosave.start()
        self.canvas: Canvas | None = None
        self.scene: ModuleScene | None = None
        self.stack: UndoStack | None = None
        self.actions_by_name: dict[str, QAction] = {}
        from .training_ui import TrainingUI

        self.training = TrainingUI(self)
        self.resizeDocks([self.palette_dock, self.inspector_dock], [220, 270], Qt.Orientation.Horizontal)
        self.resizeDocks([self.palette_dock, self.library_dock], [520, 260], Qt.Orientation.Vertical)
        self.recent_menu: QMenu | None = None

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(area, dock)
        return dock

    # loading a project ----------------------------------------------------------------

    def load(self, project: Project, path: Path | None = None) -> None:
        """Show ``project``: a fresh Document, undo stack, scene, canvas, inspector and library."""
        if self.scene is not None:
            self.scene.close()
        if isinstance(self.library_dock.widget(), ModuleLibraryPanel):
            self.library_dock.widget().close_document()
        old_canvas, old_stack = self.canvas, self.stack
        if old_stack is not None:
            old_stack.cleanChanged.disconnect(self._clean_changed)
            old_stack.deleteLater()
        self.doc = Document(project, self.catalog)
        self.stack = UndoStack(self.doc, self)
        self.scene = ModuleScene(self.doc, self.catalog, self)
        self.canvas = Canvas(self.stack, self.scene)
        self.canvas.resolve_library = lambda key: library_import_ops(self.doc, self.catalog, key)  # type: ignore[arg-type]
        self.canvas.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.canvas.drill_in.connect(self.drill_in)
        self.canvas.files_dropped.connect(self.open_dropped)
        self.scene.checked.connect(self._checked)
        self.scene.module_gone.connect(lambda: QTimer.singleShot(0, lambda: self.show_module([self.doc.project.main])))
        if old_canvas is not None:
            self.central.layout().removeWidget(old_canvas)
            old_canvas.deleteLater()
        self.central.layout().addWidget(self.canvas)
        self.inspector = Inspector(self.scene, self.catalog, self.canvas.perform)
        self.inspector.open_member = self.drill_in
        self.inspector_dock.setWidget(self.inspector)
        self.library = ModuleLibraryPanel(self.doc, self.catalog, self.canvas.perform)
        self.library.open_module.connect(self.open_module)
        self.library_dock.setWidget(self.library)
        self.stack.cleanChanged.connect(self._clean_changed)
        self.path = path
        self.count_label.setText("parameters: …")
        build_menus(self)
        self.training.attach()
        self.show_module([project.main])
        self.setWindowModified(False)
        self._update_title()
        QTimer.singleShot(0, self.canvas.show_start)

    def _clean_changed(self, clean: bool) -> None:
        with contextlib.suppress(RuntimeError):  # the undo stack outlives a window being destroyed
            self.setWindowModified(not clean)

    def _update_title(self) -> None:
        assert self.doc is not None
        where = f" — {self.path.name}" if self.path else ""
        self.setWindowTitle(f"{self.doc.project.name}{where}[*] — ModStudio")

    # modules: drill in and breadcrumb ---------------------------------------------------

    def show_module(self, path: list[str]) -> None:
        assert self.scene is not None and self.canvas is not None
        self.module_path = path
        self.scene.show_module(path[-1])
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
        self.show_module([*self.module_path, module])

    def open_module(self, module: str) -> None:
        assert self.doc is not None
        self.show_module(
            [self.doc.project.main] if module == self.doc.project.main else [self.doc.project.main, module]
        )

    def go_up(self) -> None:
        if len(self.module_path) > 1:
            self.show_module(self.module_path[:-1])

    # live checking and the parameter count ------------------------------------------------

    def _checked(self, result: CheckResult) -> None:
        count = len(result.problems)
        self.problem_label.setText(
            "" if not count else f"⚠ {count} shape problem{'s' if count != 1 else ''}: {result.problems[0]}"
        )
        self.problem_label.setToolTip("\n".join(result.problems))
        if self.counting_enabled and self.doc is not None:
            self.counter.request(self.doc.project, result)

    def start_counting(self) -> None:
        """Called once the window is on screen: from now on torch may load (in a thread)."""
        self.counting_enabled = True
        if self.scene is not None and self.scene.last_check is not None:
            self._checked(self.scene.last_check)

    # files ----------------------------------------------------------------------------

    def is_dirty(self) -> bool:
        return self.stack is not None and not self.stack.isClean()

    def confirm_discard(self) -> bool:
        if not self.is_dirty():
            return True
        return self.ask("Unsaved changes", "The project has unsaved changes. Discard them?")

    def open_path(self, path: str | Path) -> bool:
        from modstudio.graph.problems import ProjectError

        from .files import after_opening, open_project

        try:
            opened = open_project(path, self.catalog)
        except ProjectError as exc:
            self.report("Cannot open the project", exc.describe())
            return False
        self.load(opened.project, Path(path))
        self.recent.add(path)
        after_opening(opened, self.report, self.stack.resetClean)  # type: ignore[union-attr]
        return True

    def save_to(self, path: str | Path) -> bool:
        from modstudio.graph.io import save_project

        assert self.doc is not None and self.stack is not None
        path = Path(path)
        if path.suffix != PROJECT_SUFFIX:
            path = path.with_suffix(PROJECT_SUFFIX)
        try:
            save_project(self.doc.project, path)
        except OSError as exc:
            self.report("Cannot save", f"{path}: {exc.strerror}")
            return False
        if path != self.path:
            self.path = path
            self.training.runs.set_project_path(path)
            self.training.panel.set_project_path(path)
        self.stack.setClean()
        self.recent.add(path)
        clear_recovery()
        self._update_title()
        left = len(problems_left(self.doc.project, self.catalog))
        still = f"; it still has {left} problem{'s' if left != 1 else ''} (marked red)" if left else ""
        self.statusBar().showMessage(f"Saved {path}{still}", 8000 if left else 5000)
        return True

    def save_recovery(self) -> None:
        if self.is_dirty() and self.doc is not None:
            with contextlib.suppress(OSError):  # autosave must never interrupt the person
                write_recovery(self.doc.project)

    def open_dropped(self, paths: list[str]) -> None:
        projects = [p for p in paths if p.endswith(PROJECT_SUFFIX)]
        if projects and self.confirm_discard():
            self.open_path(projects[0])

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        self.open_dropped([u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()])

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.training.controller.busy:
            if not self.ask("Training is running", "A training run is going. Stop it and close?"):
                event.ignore()
                return
            self.training.controller.kill()
        if self.confirm_discard():
            clear_recovery()
            event.accept()
        else:
            event.ignore()

    # dialogs --------------------------------------------------------------------------

    def _ask(self, title: str, text: str) -> bool:
        buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
        return QMessageBox.question(self, title, text, buttons) == QMessageBox.StandardButton.Yes

    def _report(self, title: str, text: str) -> None:
        QMessageBox.warning(self, title, text)


__all__ = ["MainWindow"]
