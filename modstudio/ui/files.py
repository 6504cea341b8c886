"""Project files for the editor: opening (leniently, so that a file with errors can be repaired;
with auto-layout of unplaced nodes), recent files, and the recovery file written by autosave."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths, QTimer

from modstudio.blocks.catalog import Catalog
from modstudio.graph.io import save_project
from modstudio.graph.layout import layered_positions, missing_positions
from modstudio.graph.model import Project
from modstudio.graph.repair import LenientLoad, load_leniently

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


def open_project(path: str | os.PathLike[str], catalog: Catalog) -> LenientLoad:
    """Load for editing, keeping what can be kept (see graph/repair.py), then place unplaced nodes.

    Raises ProjectError with named problems only where the file cannot be represented at all.
    """
    opened = load_leniently(path, catalog)
    place_unplaced_nodes(opened.project)
    return opened


MAX_SHOWN = 12  # problems listed per part of the report after opening


def opened_report(opened: LenientLoad) -> str | None:
    """What the person is told after opening a file with problems; None for a file without.

    Nodes of block types nobody here provides are marked on their node and not reported again.
    """
    if not opened.problems and not opened.repairs:
        return None
    count = len(opened.problems)
    lines = [
        f"This file has {count} problem{'s' if count != 1 else ''}. It is open so that you can repair it: "
        "nodes with a problem are marked red (hover one or select it to read why); "
        "save once they are fixed."
    ]
    parts = [("Problems:", opened.problems)]
    if opened.repairs:
        parts.append(
            ("Changed so that it could be shown (the file itself is untouched until you save):", opened.repairs)
        )
    for title, problems in parts:
        lines += ["", title, *(f"  • {p}" for p in problems[:MAX_SHOWN])]
        if len(problems) > MAX_SHOWN:
            lines.append(f"  … and {len(problems) - MAX_SHOWN} more")
    return "\n".join(lines)


def after_opening(
    opened: LenientLoad, report: Callable[[str, str], None], mark_modified: Callable[[], None], *, shown: bool
) -> None:
    """Say what is wrong with a file just opened, and mark it modified where the loader changed it.

    `shown`: whether the window is on screen. The window says so itself: walking QApplication.topLevelWidgets()
    here met, once in a CI run, a widget another test had just destroyed, and Python died in isVisible()."""
    if opened.changed:
        mark_modified()
    text = opened_report(opened)
    if not text:
        return
    if shown:
        report("Opened with problems", text)
    else:  # opened at start-up: say it over the window, once it is on screen
        QTimer.singleShot(0, lambda: report("Opened with problems", text))


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
