"""The window's files: open, save, the recent list, the recovery autosave, files dropped on the
window, and the questions before a project is replaced or the window closes.

:class:`WindowFiles` is a part of :class:`~modstudio.ui.main_window.MainWindow` (it inherits it);
the menus reach these methods through the shell (:class:`~modstudio.ui.shell.Shell`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent

from modstudio.graph.io import PROJECT_SUFFIX
from modstudio.graph.validate import check_project

from .dialogs import remember_folder
from .files import clear_recovery, write_recovery
from .gui_thread_gc import release

if TYPE_CHECKING:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QStatusBar

    from modstudio.blocks.catalog import Catalog
    from modstudio.editor.session import EditorSession
    from modstudio.graph.document import Document
    from modstudio.graph.model import Project

    from .commands import UndoStack
    from .files import RecentFiles
    from .training_ui import TrainingUI


class WindowFiles:
    """Opening and saving the window's project; mixed into the main window, whose state it uses."""

    catalog: Catalog
    settings: QSettings
    recent: RecentFiles
    session: EditorSession | None
    training: TrainingUI
    ask: Callable[[str, str], bool]
    choose: Callable[[str, str, list[str]], str]
    report: Callable[[str, str], None]

    if TYPE_CHECKING:  # the main window's

        @property
        def doc(self) -> Document | None: ...

        @property
        def stack(self) -> UndoStack | None: ...

        def load(self, project: Project, path: Path | None = None) -> bool: ...

        def _update_title(self) -> None: ...

        def statusBar(self) -> QStatusBar: ...

        def isVisible(self) -> bool: ...

    def recent_paths(self) -> list[str]:
        return self.recent.paths()

    def is_dirty(self) -> bool:
        return self.session is not None and self.session.dirty

    def confirm_discard(self) -> bool:
        """Before the project is replaced or closed: Save (then go on), Discard, or Cancel (stay)."""
        if not self.is_dirty():
            return True
        answer = self.choose("Unsaved changes", "The project has unsaved changes.", ["Save", "Discard", "Cancel"])
        if answer == "Save":
            from .menus import save

            return save(self)
        return answer == "Discard"

    def open_path(self, path: str | Path) -> bool:
        from modstudio.graph.problems import ProjectError

        from .files import after_opening, open_project

        try:
            opened = open_project(path, self.catalog)
        except ProjectError as exc:
            self.report("Cannot open the project", exc.describe())
            return False
        if not self.load(opened.project, Path(path)):
            return False
        self.recent.add(path)
        remember_folder(self.settings, Path(path).parent)
        after_opening(opened, self.report, self.session.mark_modified, shown=self.isVisible())  # type: ignore[union-attr]
        return True

    def save_to(self, path: str | Path) -> bool:
        assert self.session is not None and self.stack is not None
        try:
            path, moved = self.session.save(path)
        except OSError as exc:
            self.report("Cannot save", f"{exc.filename or path}: {exc.strerror or exc}")
            return False
        self.stack.setClean()
        self.recent.add(path)
        remember_folder(self.settings, path.parent)
        clear_recovery()
        self._update_title()
        left = len(check_project(self.doc.project, self.catalog))  # what the strict load would still refuse
        still = f"; it still has {left} problem{'s' if left != 1 else ''} (marked red)" if left else ""
        moved_text = moved.text() if moved is not None else ""
        self.statusBar().showMessage(f"Saved {path}{still}" + (f". {moved_text}" if moved_text else ""), 12000)
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
            release(self)  # its garbage may be collected anywhere again
            event.accept()
        else:
            event.ignore()
