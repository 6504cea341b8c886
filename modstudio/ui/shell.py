"""What a view may ask of the window it lives in: the shell. Views take a Shell, not the MainWindow,
so they can be built, tested and replaced without the rest of the window."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtWidgets import QDockWidget, QWidget

    from modstudio.editor.session import EditorSession


class Shell(Protocol):
    settings: QSettings  # where dialogs remember their folders
    session: EditorSession | None  # the open project

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
