"""Following a run folder live: the dashboard fills as the run appends lines, wherever it trains.

:class:`RunFollower` replays what the folder holds with the dashboard's own replay
(:meth:`Dashboard.show_history`, as the Runs dock does), then reads only the bytes appended since
(:class:`~modstudio.engine.records.run_tail.JsonTail`: offsets kept, a half-written last line waits
for its end) and hands the new messages to the dashboard. A QFileSystemWatcher on the folder and its
files says when to read (at most ten reads a second, the dashboard's own rate); a slow timer reads
too, for shared filesystems where watching does not fire. ``modstudio watch RUN_DIR`` shows the
dashboard alone in a window (:class:`WatchWindow`, opened by ``run_watch_cli``); File > Open Run… follows a folder in the editor's
dashboard (:func:`open_run_dialog`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer
from PySide6.QtWidgets import QFileDialog, QMainWindow, QWidget

from modstudio.engine.protocol import Finished, ProtocolError, Started, message_from_dict, messages_from_dicts
from modstudio.engine.records.run_files import RunFileError, read_json_object
from modstudio.engine.records.run_tail import JsonTail

from .dashboard.dashboard import REFRESH_MS, Dashboard

FILES = ("metrics.jsonl", "routing.jsonl", "statistics.jsonl")
FALLBACK_MS = 1000  # shared filesystems (NFS, SMB) where file watching does not fire: read this often anyway
log = logging.getLogger(__name__)


class RunFollower(QObject):
    """Keeps ``dashboard`` showing the run in ``folder`` as it is written; :meth:`stop` ends it."""

    def __init__(self, folder: Path, dashboard: Dashboard, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.folder = Path(folder)
        self.dashboard = dashboard
        self.tails = {name: JsonTail(self.folder / name) for name in FILES}
        self._info_stamp: tuple[int, int] | None = None
        self.reads = 0  # how many times the folder was read (tests, and the rate check)
        self.watcher = QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(lambda _path: self._soon())
        self.watcher.fileChanged.connect(lambda _path: self._soon())
        self._pending = QTimer(self)  # coalesces a burst of change signals into one read
        self._pending.setSingleShot(True)
        self._pending.setInterval(REFRESH_MS)
        self._pending.timeout.connect(self.read)
        self.fallback = QTimer(self)
        self.fallback.setInterval(FALLBACK_MS)
        self.fallback.timeout.connect(self.read)

    def start(self) -> None:
        """Replay what is there, then follow."""
        records = {name: tail.read()[0] for name, tail in self.tails.items()}
        self.dashboard.clear_comparison()
        self.dashboard.show_history(records["metrics.jsonl"], records["routing.jsonl"], records["statistics.jsonl"])
        if not any(records.values()):
            self.dashboard.status.setText(f"Waiting for {self.folder.name} to write its first lines…")
        self._watch()
        self._read_info()
        self.fallback.start()

    def stop(self) -> None:
        self.fallback.stop()
        self._pending.stop()
        paths = self.watcher.files() + self.watcher.directories()
        if paths:
            self.watcher.removePaths(paths)

    def read(self) -> None:
        """Hand the lines written since the last read to the dashboard."""
        self.reads += 1
        self._watch()  # files that appeared since, or were replaced (a replaced file leaves the watcher)
        fresh: list[dict[str, Any]] = []
        for tail in self.tails.values():
            records, restarted = tail.read()
            if restarted:  # the run started over in this folder: replay it whole
                self._restart()
                return
            fresh += records
        messages, skipped = messages_from_dicts(fresh)
        for reason in skipped:
            log.info("following %s: %s", self.folder, reason)
        for message in messages:
            if not isinstance(message, Started):  # a Started would clear the views
                self.dashboard.handle(message)
        self._read_info()

    def _restart(self) -> None:
        for name in FILES:
            self.tails[name] = JsonTail(self.folder / name)
        self._info_stamp = None
        self.start()

    def _soon(self) -> None:
        if not self._pending.isActive():
            self._pending.start()

    def _watch(self) -> None:
        wanted = [str(self.folder)] + [str(self.folder / n) for n in (*FILES, "run.json") if (self.folder / n).exists()]
        watched = set(self.watcher.files()) | set(self.watcher.directories())
        missing = [p for p in wanted if p not in watched]
        if missing and self.folder.is_dir():
            self.watcher.addPaths(missing)

    def _read_info(self) -> None:
        """``run.json``'s final status, once it has one (the status line says how the run ended)."""
        try:
            stat = (self.folder / "run.json").stat()
        except OSError:
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._info_stamp:
            return
        self._info_stamp = stamp
        try:
            info = read_json_object(self.folder / "run.json")
            if info.get("status"):
                message = message_from_dict({**info, "type": "finished"})
                if isinstance(message, Finished):
                    self.dashboard.handle(message)
        except (RunFileError, ProtocolError) as exc:
            log.info("following %s: run.json: %s", self.folder, exc)


class WatchWindow(QMainWindow):
    """The dashboard alone, following one run folder (``modstudio watch RUN_DIR``)."""

    def __init__(self, folder: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{Path(folder).name} — ModStudio")
        self.dashboard = Dashboard()
        self.setCentralWidget(self.dashboard)
        self.statusBar().showMessage(f"Following {folder}")
        self.follower = RunFollower(Path(folder), self.dashboard, self)
        self.resize(900, 700)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self.follower.fallback.isActive():
            self.follower.start()


def follow_in_editor(window: Any, folder: Path) -> RunFollower | None:
    """Follow ``folder`` in the editor's dashboard (the run before it stops being followed; a training
    started in the editor stops it too)."""
    training = window.training
    if training.controller.busy:
        window.report("Open Run", "A training is running in the editor: stop it first, then open the run to follow.")
        return None
    old = getattr(window, "_run_follower", None)
    if old is not None:
        old.stop()
    follower = RunFollower(Path(folder), training.dashboard, window)
    window._run_follower = follower
    training.controller.message.connect(lambda message: follower.stop() if isinstance(message, Started) else None)
    follower.start()
    training.show_dashboard()
    window.show_status(f"Following {folder}", 8000)
    return follower


def open_run_dialog(window: Any) -> None:
    """File > Open Run…: choose a run folder (one being written anywhere) and follow it."""
    start = str(window.settings.value("open_run/folder", "") or Path.home())
    chosen = QFileDialog.getExistingDirectory(window.window(), "Open a run folder to follow", start)
    if chosen:
        window.settings.setValue("open_run/folder", str(Path(chosen).parent))
        follow_in_editor(window, Path(chosen))
