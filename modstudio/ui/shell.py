"""What a view may ask of the window it lives in: the shell. Views take a Shell, not the MainWindow,
so they can be built, tested and replaced without the rest of the window."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtWidgets import QDockWidget, QToolBar, QWidget

    from modstudio.blocks.catalog import Catalog
    from modstudio.editor.session import EditorSession
    from modstudio.graph.model import Project


class Shell(Protocol):
    settings: QSettings  # where dialogs remember their folders
    session: EditorSession | None  # the open project
    catalog: Catalog  # the blocks new projects are made of

    def ask(self, title: str, text: str) -> bool: ...

    def choose(self, title: str, text: str, options: list[str]) -> str: ...

    def report(self, title: str, text: str) -> None:
        """Something went wrong: a warning."""

    def inform(self, title: str, text: str) -> None:
        """Something worked: not a warning."""

    def show_status(self, text: str, milliseconds: int = 8000) -> None: ...

    def add_dock(
        self, title: str, widget: QWidget, area: Qt.DockWidgetArea, beside: QDockWidget | None = None
    ) -> QDockWidget: ...

    def add_toolbar(self, bar: QToolBar) -> None:
        """A toolbar along the top of the window."""

    def add_status_widget(self, widget: QWidget) -> None:
        """A widget kept at the right of the status bar."""

    def give_dock_room(self, dock: QDockWidget, size: int, orientation: Qt.Orientation) -> None:
        """Make ``dock`` ``size`` pixels wide (Horizontal) or tall (Vertical), the canvas keeping the rest."""

    def dock_area(self, dock: QDockWidget) -> Qt.DockWidgetArea: ...

    def width(self) -> int: ...

    def window(self) -> QWidget:
        """The top-level widget: the parent of the dialogs a view opens."""

    def height(self) -> int: ...

    # files: what the menus ask for ----------------------------------------------------

    def confirm_discard(self) -> bool:
        """Before the project is replaced or closed: True when it may go (saved, discarded or unchanged)."""

    def load(self, project: Project, path: Path | None = None) -> bool:
        """Show ``project`` in a new session (False, with a report, when it cannot be shown)."""

    def open_path(self, path: str | Path) -> bool: ...

    def save_to(self, path: str | Path) -> bool: ...

    def recent_paths(self) -> list[str]:
        """The projects opened or saved lately, newest first."""

    def close(self) -> bool:
        """Close the window (asking first about a running training and unsaved changes)."""
