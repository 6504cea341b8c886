"""An import running in its own process: ``modstudio import … --progress`` under a QProcess.

The user's model code runs there, never in the editor: a model that crashes, hangs or eats
memory takes only that process down, and the editor never imports torch. The process writes
into a hidden folder beside the destination; only when it succeeds are its files moved into
place, so a cancelled or failed import leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, Signal

from .child_process import LineReader, child_environment, forget_quitting, stop_when_quitting, worker_command

STAGING_PREFIX = ".modstudio-import-"


@dataclass
class ImportOutcome:
    ok: bool
    text: str  # the summary line, or what went wrong in a sentence (unmapped ops listed)
    path: Path | None = None  # the project written
    cancelled: bool = False


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
        self._reader = LineReader()
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
        stop_when_quitting(self._quitting)  # the editor quitting mid-import: stop it and leave nothing behind
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
        for line in self._reader.feed(bytes(self.process.readAllStandardError().data())):
            self._line(line)

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
        for line in self._reader.rest():
            self._line(line)
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
        forget_quitting(self._quitting)
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None
        self.finished.emit(outcome)


def _with_details(sentence: str, details: str) -> str:
    lines = details.strip().splitlines()[-12:]  # the end of a traceback says what happened
    return sentence + ("\n\n" + "\n".join(lines) if lines else "")
