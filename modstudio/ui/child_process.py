"""What the editor's child processes share (an import, a search: ``import_process.py``,
``search_process.py``): the command that runs ``modstudio``, the environment it runs in, its output
read in whole lines, and stopping it when the editor quits.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QProcessEnvironment


def worker_command() -> tuple[str, list[str]]:
    """The program and leading arguments that run ``modstudio`` (the frozen app is that program itself)."""
    if getattr(sys, "frozen", False):
        return sys.executable, []
    return sys.executable, ["-m", "modstudio"]


def child_environment() -> QProcessEnvironment:
    """The editor's environment, with the folder this ``modstudio`` comes from first on the Python path:
    a child process (an import, a search) runs the same ModStudio as the editor (and the same plugins)."""
    env = QProcessEnvironment.systemEnvironment()
    if not getattr(sys, "frozen", False):
        here = str(Path(__file__).resolve().parents[2])
        rest = env.value("PYTHONPATH", "")
        env.insert("PYTHONPATH", os.pathsep.join([here, rest]) if rest else here)
    env.insert("PYTHONUNBUFFERED", "1")
    return env


class LineReader:
    """A process's output as it arrives, in whole lines: ``feed`` gives the lines a chunk completes,
    ``rest`` the last one that no newline ended (once the process has finished)."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> list[str]:
        self._pending += chunk
        *lines, self._pending = self._pending.split(b"\n")
        return [_text(raw) for raw in lines]

    def rest(self) -> list[str]:
        if not self._pending:
            return []
        line, self._pending = _text(self._pending), b""
        return [line]


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").rstrip()


def stop_when_quitting(slot: Callable[[], None]) -> None:
    """Call ``slot`` when the editor is about to quit (a child process to stop first)."""
    app = QCoreApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(slot)


def forget_quitting(slot: Callable[[], None]) -> None:
    """Undo :func:`stop_when_quitting` (the process has ended)."""
    app = QCoreApplication.instance()
    if app is not None:
        with contextlib.suppress(RuntimeError, TypeError):
            app.aboutToQuit.disconnect(slot)
