"""Project files for the editor: opening (with auto-layout of unplaced nodes), recent files,
and the recovery file written by autosave."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths

from modstudio.blocks.catalog import Catalog
from modstudio.graph.io import load_project, save_project
from modstudio.graph.layout import layered_positions, missing_positions
from modstudio.graph.model import Project

DEFAULT_TEMPLATE = "moe_2d"  # what `modstudio` opens when started without a file
MAX_RECENT = 8
RECOVERY_NAME = "recovery.msproj"


def place_unplaced_nodes(project: Project) -> None:
    """Give every node without a stored position one from the layered auto-layout.

    Part of opening a file (templates and imported graphs carry no positions); not an edit.
    """
    for name, module in project.modules.items():
        table = project.ui.positions.get(name)
        if missing_positions(table, module):
            layout = layered_positions(module)
            merged = {**layout, **(table or {})}
            project.ui.positions[name] = {n.id: merged[n.id] for n in module.nodes}


def open_project(path: str | os.PathLike[str], catalog: Catalog) -> Project:
    """Load and validate (raises ProjectError with named problems), then place unplaced nodes."""
    project = load_project(path, catalog)
    place_unplaced_nodes(project)
    return project


def default_project(catalog: Catalog, template: str = DEFAULT_TEMPLATE) -> Project:
    from modstudio.library import load_template

    project = load_template(template, catalog)
    place_unplaced_nodes(project)
    return project


def state_dir() -> Path:
    """Where the recovery file lives (honours QStandardPaths test mode)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    path = Path(base or Path.home() / ".modstudio")
    path.mkdir(parents=True, exist_ok=True)
    return path


def recovery_path() -> Path:
    return state_dir() / RECOVERY_NAME


def write_recovery(project: Project) -> Path:
    path = recovery_path()
    save_project(project, path)
    return path


def clear_recovery() -> None:
    with contextlib.suppress(FileNotFoundError):
        recovery_path().unlink()


class RecentFiles:
    """The most recently opened or saved projects, newest first, kept in QSettings."""

    KEY = "recent_files"

    def __init__(self, settings: QSettings | None = None) -> None:
        self.settings = settings or QSettings("ModStudio", "ModStudio")

    def paths(self) -> list[str]:
        value = self.settings.value(self.KEY, [])
        items = [value] if isinstance(value, str) else list(value or [])
        return [p for p in items if isinstance(p, str)]

    def add(self, path: str | os.PathLike[str]) -> None:
        full = str(Path(path).resolve())
        items = [full, *[p for p in self.paths() if p != full]][:MAX_RECENT]
        self.settings.setValue(self.KEY, items)
