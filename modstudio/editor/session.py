"""EditorSession: the state of one open project, without Qt or torch.

The document, its undo history (with the saved point, so the dirty flag is known), the file it
was read from or saved to, the module on the canvas (one list, main module first: the breadcrumb),
and the project's training runs (where they go, the one going now, the latest one). Views
subscribe to the :class:`~modstudio.editor.events.Event` attributes; nothing here knows a widget.

Runs of an unsaved project go to a folder of the session's own (``scratch_runs``), so the Runs
dock lists them; the first save moves the finished ones beside the file (``<stem>.runs/``). A run
still training keeps writing where it is and moves once it has ended (:meth:`training_ended`).
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from modstudio.engine.records.run_history import RunRecord, is_run_folder, list_runs, read_run, runs_root_of
from modstudio.graph.document import Change, ChangeKind, Document, History, Operation
from modstudio.graph.io import PROJECT_SUFFIX, save_project
from modstudio.graph.model import Project
from modstudio.graph.schema import BlockCatalog

from .events import Event


class SessionHistory(History):
    """The headless undo history, with its position (``index``) and the saved point."""

    @property
    def index(self) -> int:
        """How many steps can be undone."""
        return len(self._undo)

    @property
    def count(self) -> int:
        return len(self._undo) + len(self._redo)


@dataclass
class RunMove:
    """What the first save did with the runs made before it."""

    target: Path
    moved: list[Path] = field(default_factory=list)  # their new folders
    waiting: list[Path] = field(default_factory=list)  # still training: they move when they end
    failed: list[str] = field(default_factory=list)  # a sentence each

    def text(self) -> str:
        """A line for the status bar ("" when there was nothing to move)."""
        parts = []
        if self.moved:
            parts.append(f"moved {_runs(len(self.moved))} to {self.target}")
        if self.waiting:
            parts.append(f"{_runs(len(self.waiting))} still training there moves when it ends")
        parts.extend(self.failed)
        text = "; ".join(parts)
        return text[:1].upper() + text[1:]


def _runs(count: int) -> str:
    return f"{count} run{'s' if count != 1 else ''}"


class EditorSession:
    """One open project: document, history, path, shown module, dirty flag and runs, with events.

    Events (plain callbacks): ``history_changed()`` after every do/undo/redo, ``dirty_changed(bool)``,
    ``path_changed(path)``, ``module_shown(module_path)``, ``runs_changed()``.
    """

    def __init__(self, doc: Document, path: Path | None = None, scratch_runs: Path | None = None) -> None:
        self.doc = doc
        self.catalog = doc.catalog
        self.history = SessionHistory(self.doc)
        self._path = Path(path) if path is not None else None
        self.scratch_runs = scratch_runs  # where the runs of the project go while it is unsaved
        self._module_path = [doc.project.main]
        self._clean_index: int | None = 0  # None: the saved state cannot be reached by undo/redo any more
        self._dirty = False
        self.current_run: Path | None = None  # the run training now (its folder, once the worker named it)
        self.history_changed = Event("history_changed")
        self.dirty_changed = Event("dirty_changed")
        self.path_changed = Event("path_changed")
        self.module_shown = Event("module_shown")
        self.runs_changed = Event("runs_changed")

    @classmethod
    def of_project(
        cls, project: Project, catalog: BlockCatalog, path: Path | None = None, scratch_runs: Path | None = None
    ) -> EditorSession:
        return cls(Document(project, catalog), path, scratch_runs)

    @property
    def project(self) -> Project:
        return self.doc.project

    # editing ----------------------------------------------------------------------------

    def perform(self, op: Operation) -> Operation:
        """Apply ``op`` (OperationError when refused, nothing changed) and make it undoable."""
        before = self.history.index
        inverse = self.history.do(op)
        if self._clean_index is not None and before < self._clean_index:
            self._clean_index = None  # the saved state was undone and then replaced
        self._changed()
        return inverse

    def undo(self) -> str | None:
        text = self.history.undo()
        self._changed()
        return text

    def redo(self) -> str | None:
        text = self.history.redo()
        self._changed()
        return text

    @property
    def dirty(self) -> bool:
        """Whether the project differs from what was last saved (or opened)."""
        return self.history.index != self._clean_index

    def mark_saved(self) -> None:
        self._clean_index = self.history.index
        self._changed()

    def _changed(self) -> None:
        self.history_changed.emit()
        if self.dirty != self._dirty:
            self._dirty = self.dirty
            self.dirty_changed.emit(self._dirty)

    # the file ---------------------------------------------------------------------------

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def title(self) -> str:
        where = f" — {self._path.name}" if self._path else ""
        return f"{self.project.name}{where}"

    def save(self, path: str | Path) -> tuple[Path, RunMove | None]:
        """Write the project to ``path`` (given the project suffix); OSError when it cannot be written.

        The first save of an unsaved project moves its finished runs beside the file; what moved,
        and what waits, is in the returned :class:`RunMove` (None when there was no first save)."""
        path = Path(path)
        if path.suffix != PROJECT_SUFFIX:
            path = path.with_suffix(PROJECT_SUFFIX)
        save_project(self.project, path)
        first = self._path is None
        changed = path != self._path
        self._path = path
        self.mark_saved()
        moved = self._move_runs_made_before_saving() if first else None
        if changed:
            self.path_changed.emit(path)
        if moved is not None and (moved.moved or moved.waiting or moved.failed):
            self.runs_changed.emit()
        return path, moved

    def mark_modified(self) -> None:
        """The project differs from its file although nothing was undone or done: the loader repaired it."""
        self._clean_index = None
        self._changed()

    def forget_file(self) -> None:
        """Work recovered after a crash: unsaved, with no file of its own (Save asks where)."""
        self._path = None
        self._clean_index = None
        self.path_changed.emit(None)
        self._changed()

    # the shown module --------------------------------------------------------------------

    @property
    def module_path(self) -> list[str]:
        """The modules from main to the one on the canvas (the breadcrumb); the last one is shown."""
        return list(self._module_path)

    @property
    def shown_module(self) -> str:
        return self._module_path[-1]

    def show_module(self, path: list[str]) -> None:
        """Show the last module of ``path``; unknown modules are dropped (back to main if none is left)."""
        known = [name for name in path if name in self.project.modules]
        self._module_path = known or [self.project.main]
        self.module_shown.emit(self.module_path)

    def drill_in(self, module: str) -> None:
        self.show_module([*self._module_path, module])

    def open_module(self, module: str) -> None:
        main = self.project.main
        self.show_module([main] if module == main else [main, module])

    def go_up(self) -> None:
        if len(self._module_path) > 1:
            self.show_module(self._module_path[:-1])

    # runs -------------------------------------------------------------------------------

    @property
    def runs_root(self) -> Path | None:
        """Where this project's runs go: beside the file, or the session's own folder while unsaved."""
        return runs_root_of(self._path) if self._path is not None else self.scratch_runs

    def runs(self) -> list[RunRecord]:
        """This project's runs, newest first."""
        return list_runs(self.runs_root)

    def latest_weights(self) -> Path | None:
        """The best (else last) weights of the newest run that saved any; None when no run did."""
        return next((record.weights_file for record in self.runs() if record.weights_file is not None), None)

    def training_started(self, folder: str | Path | None) -> None:
        self.current_run = Path(folder) if folder else None
        self.runs_changed.emit()

    def training_ended(self) -> RunMove | None:
        """The training process has exited. If the project was saved meanwhile, the runs still in the
        session's own folder move beside the file now: the one that was training, and one whose folder
        the worker made only after the save (nothing else writes to that folder)."""
        self.current_run = None
        moved = None
        if self._path is not None and self.scratch_runs is not None and self.scratch_runs.is_dir():
            with contextlib.suppress(OSError):
                left = sorted(p for p in self.scratch_runs.iterdir() if is_run_folder(p))
                moved = self._move(left, runs_root_of(self._path)) if left else None
        self.runs_changed.emit()
        return moved

    def _move_runs_made_before_saving(self) -> RunMove | None:
        source, target = self.scratch_runs, runs_root_of(self._path)
        if source is None or not source.is_dir():
            return None
        try:
            folders = sorted(p for p in source.iterdir() if is_run_folder(p))
        except OSError as exc:
            return RunMove(target, failed=[f"could not read the runs in {source}: {exc.strerror}"])
        going = [f for f in folders if f == self.current_run or read_run(f).status == "running"]
        move = self._move([f for f in folders if f not in going], target)
        move.waiting = list(going)
        return move

    def _move(self, folders: list[Path], target: Path) -> RunMove:
        move = RunMove(target)
        for folder in folders:
            destination = target / folder.name
            if destination.exists():
                move.failed.append(f"{folder.name} stays in {folder.parent}: {target} already has a run of that name")
                continue
            try:
                target.mkdir(parents=True, exist_ok=True)
                shutil.move(str(folder), str(destination))
            except OSError as exc:
                move.failed.append(f"{folder.name} stays in {folder.parent}: {exc.strerror or exc}")
                continue
            move.moved.append(destination)
        self._repoint_initial_weights(move)
        return move

    def _repoint_initial_weights(self, move: RunMove) -> None:
        """Starting weights taken from a run that just moved now name its new place, relative to the project's
        folder, in the document and in the file (not an edit to undo: the file moved, not the choice)."""
        chosen = self.project.training.init_weights
        if not chosen or self.scratch_runs is None or self._path is None:
            return
        for destination in move.moved:
            old = self.scratch_runs / destination.name
            if Path(chosen).is_relative_to(old):
                new = destination.relative_to(self._path.parent) / Path(chosen).relative_to(old)
                self.project.training.init_weights = new.as_posix()
                self.doc.emit(Change(ChangeKind.TRAINING_CHANGED, self.project.main))
                with contextlib.suppress(OSError):  # the file keeps the old name; the next save writes the new
                    save_project(self.project, self._path)
                return


__all__ = ["EditorSession", "RunMove", "SessionHistory"]
