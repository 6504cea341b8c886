"""The main window's menus and shortcuts (rebuilt for each loaded project's undo stack)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog

from modstudio.graph.document import SetPositions
from modstudio.graph.io import PROJECT_SUFFIX
from modstudio.graph.layout import layered_positions

from .dialogs import start_folder
from .export_dialog import show_export_dialog
from .graft_dialog import show_graft_dialog
from .plugins_dialog import show_plugins_dialog

if TYPE_CHECKING:
    from .main_window import MainWindow

FILTER = f"ModStudio projects (*{PROJECT_SUFFIX})"


def build_menus(w: MainWindow) -> None:
    assert w.canvas is not None and w.stack is not None
    canvas, stack = w.canvas, w.stack
    bar = w.menuBar()
    bar.clear()
    w.actions_by_name = {}

    def act(menu, name: str, text: str, slot, shortcut=None, on_canvas: bool = False) -> QAction:  # type: ignore[no-untyped-def]
        action = QAction(text, w)
        if shortcut is not None:
            action.setShortcuts(shortcut if isinstance(shortcut, list) else [QKeySequence(shortcut)])
        action.triggered.connect(lambda _=False: slot())
        if on_canvas:  # only while the canvas has focus, so typing in the inspector is safe
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            canvas.addAction(action)
        menu.addAction(action)
        w.actions_by_name[name] = action
        return action

    file = bar.addMenu("&File")
    act(file, "new", "&New from Template…", lambda: new_from_template(w), QKeySequence.StandardKey.New)
    act(file, "open", "&Open…", lambda: open_dialog(w), QKeySequence.StandardKey.Open)
    w.recent_menu = file.addMenu("Open &Recent")
    w.recent_menu.aboutToShow.connect(lambda: fill_recent(w))
    fill_recent(w)
    file.addSeparator()
    act(file, "save", "&Save", lambda: save(w), QKeySequence.StandardKey.Save)
    act(file, "save_as", "Save &As…", lambda: save_as(w), QKeySequence("Ctrl+Shift+S"))
    act(file, "export", "&Export…", lambda: show_export_dialog(w), QKeySequence("Ctrl+E"))
    act(file, "graft", "&Graft Module from a Run…", lambda: show_graft_dialog(w))
    file.addSeparator()
    act(file, "quit", "&Quit", w.close, QKeySequence.StandardKey.Quit)

    edit = bar.addMenu("&Edit")
    undo = stack.createUndoAction(w, "&Undo")
    undo.setShortcut(QKeySequence.StandardKey.Undo)
    redo = stack.createRedoAction(w, "&Redo")
    redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    edit.addActions([undo, redo])
    w.actions_by_name.update(undo=undo, redo=redo)
    edit.addSeparator()
    act(edit, "copy", "&Copy", canvas.copy_selection, QKeySequence.StandardKey.Copy, on_canvas=True)
    act(edit, "paste", "&Paste", canvas.paste, QKeySequence.StandardKey.Paste, on_canvas=True)
    act(edit, "duplicate", "D&uplicate", canvas.duplicate, QKeySequence("Ctrl+D"), on_canvas=True)
    act(edit, "delete", "&Delete", canvas.delete_selection)
    act(edit, "select_all", "Select &All", select_all(w), QKeySequence.StandardKey.SelectAll, on_canvas=True)

    module = bar.addMenu("&Module")
    act(module, "group", "&Group into Module", canvas.group_selection, QKeySequence("Ctrl+G"), on_canvas=True)
    act(module, "ungroup", "&Ungroup", canvas.ungroup_selection, QKeySequence("Ctrl+Shift+G"), on_canvas=True)
    act(module, "up", "Back to the &Enclosing Module", w.go_up, QKeySequence("Alt+Up"))
    act(module, "layout", "Auto-&Layout", lambda: auto_layout(w), QKeySequence("Ctrl+L"))

    view = bar.addMenu("&View")
    act(view, "frame", "&Frame All", canvas.frame_all, QKeySequence("F"), on_canvas=True)
    act(view, "zoom_in", "Zoom &In", lambda: canvas.scale(1.25, 1.25), QKeySequence.StandardKey.ZoomIn)
    act(view, "zoom_out", "Zoom &Out", lambda: canvas.scale(0.8, 0.8), QKeySequence.StandardKey.ZoomOut)
    view.addSeparator()
    for dock in (w.palette_dock, w.library_dock, w.inspector_dock, *w.training.docks()):
        view.addAction(dock.toggleViewAction())
    view.addAction(w.training.toolbar.toggleViewAction())

    run = bar.addMenu("&Run")
    for action in (w.training.train_action, w.training.pause_action, w.training.stop_action):
        run.addAction(action)

    help_menu = bar.addMenu("&Help")
    act(help_menu, "plugins", "&Plugins…", lambda: show_plugins_dialog(w))


def fill_recent(w: MainWindow) -> None:
    menu = w.recent_menu
    menu.clear()
    for path in w.recent.paths():
        action = menu.addAction(path)
        action.triggered.connect(lambda _=False, p=path: w.confirm_discard() and w.open_path(p))
    menu.setEnabled(bool(w.recent.paths()))


def select_all(w: MainWindow):  # type: ignore[no-untyped-def]
    def run() -> None:
        assert w.scene is not None
        for item in w.scene.nodes.values():
            item.setSelected(True)

    return run


def auto_layout(w: MainWindow) -> None:
    assert w.scene is not None and w.canvas is not None
    positions = layered_positions(w.scene.module)
    w.canvas.perform(SetPositions(w.session.shown_module, positions, "Auto-layout"))
    w.canvas.frame_all()


def new_from_template(w: MainWindow) -> None:
    from .dialogs import TemplateGallery
    from .files import default_project

    if not w.confirm_discard():
        return
    gallery = TemplateGallery(w)
    if gallery.exec() and gallery.chosen():
        w.load(default_project(w.catalog, gallery.chosen() or ""), None)


def open_dialog(w: MainWindow) -> None:
    if not w.confirm_discard():
        return
    folder = start_folder(w.settings, w.path)
    path, _ = QFileDialog.getOpenFileName(w, "Open project", str(folder), FILTER)
    if path:
        w.open_path(path)


def save(w: MainWindow) -> bool:
    return w.save_to(w.path) if w.path is not None else save_as(w)


def save_as(w: MainWindow) -> bool:
    path, _ = QFileDialog.getSaveFileName(w, "Save project as", str(suggested_save_path(w)), FILTER)
    return bool(path) and w.save_to(path)


def suggested_save_path(w: MainWindow) -> Path:
    """Save As starts on the project's own file, or for an unsaved project in the last folder used
    (never the process's current folder), named after the project."""
    if w.path is not None:
        return w.path
    assert w.doc is not None
    stem = re.sub(r"[^\w-]+", "_", w.doc.project.name).strip("_") or "untitled"
    return start_folder(w.settings, None) / f"{stem}{PROJECT_SUFFIX}"


__all__ = ["build_menus"]
