"""An import running in its own process: ``modstudio import … --progress`` under a QProcess.

The user's model code runs there, never in the editor: a model that crashes, hangs or eats
memory takes only that process down, and the editor never imports torch. The process writes
into a hidden folder beside the destination; only when it succeeds are its files moved into
place, so a cancelled or failed import leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, QProcess, QProcessEnvironment, Signal

STAGING_PREFIX = ".modstudio-import-"


@dataclass
class ImportOutcome:
    ok: bool
    text: str  # the summary line, or what went wrong in a sentence (unmapped ops listed)
    path: Path | None = None  # the project written
    cancelled: bool = False


def worker_command() -> tuple[str, list[str]]:
    """The program and leading arguments that run ``modstudio`` (the frozen app is that program itself)."""
    if getattr(sys, "frozen", False):
        return sys.executable, []
    return sys.executable, ["-m", "modstudio"]


class ImportRun(QObject):
    """One run of ``modstudio import SOURCE -o OUT OPTIONS``: ``progress(text, fraction)`` while it
    works, then ``finished(ImportOutcome)`` once (also after ``cancel``)."""

    progress = Signal(str, float)
    finished = Signal(object)

    def __init__(self, source: str, out: Path, options: list[str], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.source, self.out, self.options = source, out, options
        self.cancelled = False
        self.staging: Path | None = None
        self._errors: list[str] = []
        self._pending = b""
        self.process = QProcess(self)
        self.process.readyReadStandardError.connect(self._read_errors)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._failed_to_start)

    def start(self) -> None:
        self.staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.out.parent))
        program, lead = worker_command()
        args = [*lead, "import", self.source, "-o", str(self.staging / self.out.name), "--progress", *self.options]
        self.process.setProcessEnvironment(child_environment())
        self.progress.emit("starting Python", 0.0)
        app = QCoreApplication.instance()
        if app is not None:  # the editor quitting mid-import: stop it and leave nothing behind
            app.aboutToQuit.connect(self._quitting)
        self.process.start(program, args)

    def running(self) -> bool:
        return self.process.state() != QProcess.ProcessState.NotRunning

    def cancel(self) -> None:
        """Stop the process; ``finished`` follows with ``cancelled`` set and nothing written."""
        if self.running():
            self.cancelled = True
            self.process.kill()

    def _quitting(self) -> None:
        self.cancel()
        self.wait(5000)

    def wait(self, milliseconds: int = 30_000) -> bool:
        """Block until the process ended (closing, tests); False on timeout."""
        return not self.running() or self.process.waitForFinished(milliseconds)

    # reading the process ----------------------------------------------------------------

    def _read_errors(self) -> None:
        self._pending += bytes(self.process.readAllStandardError().data())
        *lines, self._pending = self._pending.split(b"\n")
        for raw in lines:
            self._line(raw.decode("utf-8", "replace").rstrip())

    def _line(self, line: str) -> None:
        if line.startswith("{"):
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                message = None
            if isinstance(message, dict) and "progress" in message:
                self.progress.emit(str(message.get("text", "")), float(message["progress"]))
                return
        if line:
            self._errors.append(line.removeprefix("error: "))

    def _failed_to_start(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._done(
                ImportOutcome(False, f"Python could not be started for the import: {self.process.errorString()}")
            )

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._read_errors()
        if self._pending:
            self._line(self._pending.decode("utf-8", "replace").rstrip())
            self._pending = b""
        told = "\n".join(self._errors)
        if self.cancelled:
            outcome = ImportOutcome(False, "The import was cancelled; nothing was written.", cancelled=True)
        elif status == QProcess.ExitStatus.CrashExit:
            outcome = ImportOutcome(
                False, _with_details("The import stopped unexpectedly (the process crashed).", told)
            )
        elif code == 0:
            outcome = self._move_into_place()
        elif code == 2:
            outcome = ImportOutcome(False, told or "The import failed without saying why.")
        else:
            outcome = ImportOutcome(False, _with_details(f"The import stopped with exit status {code}.", told))
        self._done(outcome)

    def _move_into_place(self) -> ImportOutcome:
        """The project and its weights, from the staging folder to their folder (both, or neither)."""
        assert self.staging is not None
        summary = bytes(self.process.readAllStandardOutput().data()).decode("utf-8", "replace").strip()
        files = sorted(self.staging.iterdir())
        moved: list[Path] = []
        try:
            for path in files:
                target = self.out.parent / path.name
                os.replace(path, target)
                moved.append(target)
        except OSError as exc:
            for target in moved:
                target.unlink(missing_ok=True)
            return ImportOutcome(False, f"Cannot write {self.out}: {exc.strerror or exc}")
        summary = summary.replace(str(self.staging / self.out.name), str(self.out))
        return ImportOutcome(True, summary, self.out)

    def _done(self, outcome: ImportOutcome) -> None:
        app = QCoreApplication.instance()
        if app is not None:
            with contextlib.suppress(RuntimeError, TypeError):
                app.aboutToQuit.disconnect(self._quitting)
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None
        self.finished.emit(outcome)


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


def _with_details(sentence: str, details: str) -> str:
    lines = details.strip().splitlines()[-12:]  # the end of a traceback says what happened
    return sentence + ("\n\n" + "\n".join(lines) if lines else "")
