"""The main window's menus and shortcuts, a view of one session: rebuilt for each loaded project, they act on
its canvas and undo stack and ask the shell (:class:`~modstudio.ui.shell.Shell`) for files, dialogs and closing."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QMenuBar

from modstudio.graph.document import SetPositions
from modstudio.graph.io import PROJECT_SUFFIX
from modstudio.graph.layout import wrapped_positions

from .dialogs import start_folder
from .export_dialog import show_export_dialog
from .import_dialog import show_import_dialog
from .plugins_dialog import show_plugins_dialog
from .run_watch import open_run_dialog

if TYPE_CHECKING:
    from modstudio.editor.session import EditorSession

    from .canvas import Canvas
    from .commands import UndoStack
    from .shell import Shell

FILTER = f"ModStudio projects (*{PROJECT_SUFFIX})"


@dataclass
class Menus:
    actions_by_name: dict[str, QAction]  # every menu item by a short name ("save", "undo", "layout", …)
    recent_menu: QMenu  # File > Open Recent, filled each time it opens


def build_menus(
    shell: Shell,
    bar: QMenuBar,
    session: EditorSession,
    canvas: Canvas,
    stack: UndoStack,
    toggles: list[QAction],
    run_actions: list[QAction],
    open_graft: Callable[[], object],
) -> Menus:
    """Fill ``bar`` for ``session`` shown on ``canvas``; ``toggles`` (show/hide docks and toolbars) go in View,
    ``run_actions`` (Train, Pause, Stop) in Run; ``open_graft`` opens File > Graft's dialog."""
    bar.clear()
    actions: dict[str, QAction] = {}

    def act(menu, name: str, text: str, slot, shortcut=None, on_canvas: bool = False) -> QAction:  # type: ignore[no-untyped-def]
        action = QAction(text, bar)
        if shortcut is not None:
            action.setShortcuts(shortcut if isinstance(shortcut, list) else [QKeySequence(shortcut)])
        action.triggered.connect(lambda _=False: slot())
        if on_canvas:  # only while the canvas has focus, so typing in the inspector is safe
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            canvas.addAction(action)
        menu.addAction(action)
        actions[name] = action
        return action

    file = bar.addMenu("&File")
    act(file, "new", "&New from Template…", lambda: new_from_template(shell), QKeySequence.StandardKey.New)
    act(file, "open", "&Open…", lambda: open_dialog(shell), QKeySequence.StandardKey.Open)
    recent_menu = file.addMenu("Open &Recent")
    recent_menu.aboutToShow.connect(lambda: fill_recent(recent_menu, shell))
    fill_recent(recent_menu, shell)
    act(file, "import", "&Import PyTorch Model…", lambda: show_import_dialog(shell))
    act(file, "open_run", "Open R&un…", lambda: open_run_dialog(shell))
    file.addSeparator()
    act(file, "save", "&Save", lambda: save(shell), QKeySequence.StandardKey.Save)
    act(file, "save_as", "Save &As…", lambda: save_as(shell), QKeySequence("Ctrl+Shift+S"))
    act(file, "export", "&Export…", lambda: show_export_dialog(shell), QKeySequence("Ctrl+E"))
    act(file, "graft", "&Graft Module from a Run…", open_graft)
    file.addSeparator()
    act(file, "quit", "&Quit", shell.close, QKeySequence.StandardKey.Quit)

    edit = bar.addMenu("&Edit")
    undo = stack.createUndoAction(bar, "&Undo")
    undo.setShortcut(QKeySequence.StandardKey.Undo)
    redo = stack.createRedoAction(bar, "&Redo")
    redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    edit.addActions([undo, redo])
    actions.update(undo=undo, redo=redo)
    edit.addSeparator()
    act(edit, "copy", "&Copy", canvas.copy_selection, QKeySequence.StandardKey.Copy, on_canvas=True)
    act(edit, "paste", "&Paste", canvas.paste, QKeySequence.StandardKey.Paste, on_canvas=True)
    act(edit, "duplicate", "D&uplicate", canvas.duplicate, QKeySequence("Ctrl+D"), on_canvas=True)
    act(edit, "delete", "&Delete", canvas.delete_selection)
    act(
        edit,
        "select_all",
        "Select &All",
        lambda: select_all(canvas),
        QKeySequence.StandardKey.SelectAll,
        on_canvas=True,
    )

    module = bar.addMenu("&Module")
    act(module, "group", "&Group into Module", canvas.group_selection, QKeySequence("Ctrl+G"), on_canvas=True)
    act(module, "ungroup", "&Ungroup", canvas.ungroup_selection, QKeySequence("Ctrl+Shift+G"), on_canvas=True)
    act(module, "up", "Back to the &Enclosing Module", session.go_up, QKeySequence("Alt+Up"))
    act(module, "layout", "Auto-&Layout", lambda: auto_layout(session, canvas), QKeySequence("Ctrl+L"))

    view = bar.addMenu("&View")
    act(view, "frame", "&Frame All", canvas.frame_all, QKeySequence("F"), on_canvas=True)
    act(view, "zoom_in", "Zoom &In", lambda: canvas.scale(1.25, 1.25), QKeySequence.StandardKey.ZoomIn)
    act(view, "zoom_out", "Zoom &Out", lambda: canvas.scale(0.8, 0.8), QKeySequence.StandardKey.ZoomOut)
    view.addSeparator()
    view.addActions(toggles)

    run = bar.addMenu("&Run")
    run.addActions(run_actions)

    help_menu = bar.addMenu("&Help")
    act(help_menu, "plugins", "&Plugins…", lambda: show_plugins_dialog(shell.window()))
    return Menus(actions, recent_menu)


def fill_recent(menu: QMenu, shell: Shell) -> None:
    menu.clear()
    paths = shell.recent_paths()
    for path in paths:
        action = menu.addAction(path)
        action.triggered.connect(lambda _=False, p=path: shell.confirm_discard() and shell.open_path(p))
    menu.setEnabled(bool(paths))


def select_all(canvas: Canvas) -> None:
    for item in canvas.module_scene.nodes.values():
        item.setSelected(True)


def auto_layout(session: EditorSession, canvas: Canvas) -> None:
    """Left to right; a module too long for the canvas at a readable zoom wraps into bands, as imports do."""
    from .canvas import readable_zoom

    size, zoom = canvas.viewport().size(), readable_zoom()
    view = (size.width() / zoom, size.height() / zoom)
    positions = wrapped_positions(session.project.modules[session.shown_module], view)
    canvas.perform(SetPositions(session.shown_module, positions, "Auto-layout"))
    canvas.frame_all()


def new_from_template(shell: Shell) -> None:
    from .dialogs import TemplateGallery
    from .files import default_project

    if not shell.confirm_discard():
        return
    gallery = TemplateGallery(shell.window())
    if gallery.exec() and gallery.chosen():
        shell.load(default_project(shell.catalog, gallery.chosen() or ""), None)


def _path(shell: Shell) -> Path | None:
    return shell.session.path if shell.session is not None else None


def open_dialog(shell: Shell) -> None:
    if not shell.confirm_discard():
        return
    folder = start_folder(shell.settings, _path(shell))
    path, _ = QFileDialog.getOpenFileName(shell.window(), "Open project", str(folder), FILTER)
    if path:
        shell.open_path(path)


def save(shell: Shell) -> bool:
    path = _path(shell)
    return shell.save_to(path) if path is not None else save_as(shell)


def save_as(shell: Shell) -> bool:
    path, _ = QFileDialog.getSaveFileName(shell.window(), "Save project as", str(suggested_save_path(shell)), FILTER)
    return bool(path) and shell.save_to(path)


def suggested_save_path(shell: Shell) -> Path:
    """Save As starts on the project's own file, or for an unsaved project in the last folder used
    (never the process's current folder), named after the project."""
    path = _path(shell)
    if path is not None:
        return path
    assert shell.session is not None
    stem = re.sub(r"[^\w-]+", "_", shell.session.project.name).strip("_") or "untitled"
    return start_folder(shell.settings, None) / f"{stem}{PROJECT_SUFFIX}"


__all__ = ["FILTER", "Menus", "build_menus"]
