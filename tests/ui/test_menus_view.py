"""The menus are a view of a session: built against any shell (here not a window), they act on the session and
its canvas and ask the shell for files and closing."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenuBar, QWidget

from modstudio.blocks import default_catalog
from modstudio.editor.session import EditorSession
from modstudio.library import load_template
from modstudio.ui.app import create_app
from modstudio.ui.canvas import Canvas
from modstudio.ui.commands import UndoStack
from modstudio.ui.menus import build_menus, fill_recent
from modstudio.ui.scene import ModuleScene


class RecordingShell:
    """Only what the Shell protocol offers; every request is written down."""

    def __init__(self, session: EditorSession, settings: QSettings) -> None:
        self.session = session
        self.settings = settings
        self.catalog = session.catalog
        self.requests: list[tuple[str, object]] = []
        self.parent = QWidget()

    def window(self) -> QWidget:
        return self.parent

    def recent_paths(self) -> list[str]:
        return ["/projects/a.msproj", "/projects/b.msproj"]

    def confirm_discard(self) -> bool:
        self.requests.append(("confirm_discard", None))
        return True

    def open_path(self, path: str | Path) -> bool:
        self.requests.append(("open_path", path))
        return True

    def save_to(self, path: str | Path) -> bool:
        self.requests.append(("save_to", path))
        return True

    def close(self) -> bool:
        self.requests.append(("close", None))
        return True


def test_menus_built_on_a_shell_act_on_the_session_and_ask_the_shell(qtbot, tmp_path) -> None:
    create_app()
    catalog = default_catalog()
    session = EditorSession.of_project(load_template("moe_2d", catalog), catalog, tmp_path / "moe.msproj")
    stack = UndoStack(session)
    scene = ModuleScene(session, catalog)
    canvas = Canvas(stack, scene)
    qtbot.addWidget(canvas)
    try:
        check_menus(session, stack, scene, canvas, tmp_path)
    finally:
        scene.close()  # the document lets go of the scene: no cycle for a later garbage collection (any thread)


def check_menus(session: EditorSession, stack: UndoStack, scene: ModuleScene, canvas: Canvas, tmp_path: Path) -> None:
    shell = RecordingShell(session, QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    bar = QMenuBar()
    menus = build_menus(shell, bar, session, canvas, stack, [], [], lambda: None)  # type: ignore[arg-type]
    actions = menus.actions_by_name

    fill_recent(menus.recent_menu, shell)  # type: ignore[arg-type]
    assert [a.text() for a in menus.recent_menu.actions()] == shell.recent_paths()
    menus.recent_menu.actions()[1].trigger()
    actions["save"].trigger()  # the project has a file: saved there, no dialog
    actions["quit"].trigger()
    assert shell.requests == [
        ("confirm_discard", None),
        ("open_path", "/projects/b.msproj"),
        ("save_to", tmp_path / "moe.msproj"),
        ("close", None),
    ]

    session.drill_in("Expert")
    scene.show_module()
    assert scene.module_name == canvas.module_name == "Expert"
    actions["layout"].trigger()  # lays out the module the session shows, undoably
    assert stack.undoText() == "Auto-layout" and session.dirty
    assert set(session.project.ui.positions["Expert"]) == {n.id for n in session.project.modules["Expert"].nodes}
    actions["up"].trigger()
    assert session.module_path == ["main"] and scene.module_name == "main"
    actions["undo"].trigger()
    assert not session.dirty
