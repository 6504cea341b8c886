"""A search running in its own process: ``modstudio search FILE …`` under a QProcess.

Trials train in that process's workers, never in the editor, so the editor never imports torch
and never waits for them. The study lives in its storage (SQLite beside the project by default),
so stopping the process loses nothing: the next search goes on where this one stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

from .child_process import LineReader, child_environment, forget_quitting, stop_when_quitting, worker_command

STOP_GRACE_MS = 15_000  # how long a stopped search's trials may take to stop and keep a checkpoint
KILL_GRACE_MS = 5000  # then asked again (its trials end at once), and after this killed


@dataclass(frozen=True)
class SearchOptions:
    """What the dock asks of ``modstudio search`` (None: the command's default)."""

    trials: int | None = None
    timeout_s: float | None = None
    objectives: tuple[str, ...] = ()
    jobs: int | None = None
    storage: str | None = None
    epochs: int | None = None  # per trial (None: the project's)

    def arguments(self) -> list[str]:
        args: list[str] = []
        if self.trials is not None:
            args += ["--trials", str(self.trials)]
        if self.timeout_s is not None:
            args += ["--timeout", f"{self.timeout_s:g}"]
        if self.objectives:
            args.append(f"--objectives={','.join(self.objectives)}")  # '=': a list may start with a minus
        if self.jobs is not None:
            args += ["--jobs", str(self.jobs)]
        if self.epochs is not None:
            args += ["--epochs", str(self.epochs)]
        if self.storage:
            args += ["--storage", self.storage]
        return args


@dataclass(frozen=True)
class SearchOutcome:
    ok: bool
    text: str  # the command's last words, or what went wrong in a sentence
    stopped: bool = False  # the person stopped it


class SearchRun(QObject):
    """One run of ``modstudio search FILE OPTIONS``: ``line(text)`` for each line it prints, then
    ``finished(SearchOutcome)`` once (also after ``stop``)."""

    line = Signal(str)
    finished = Signal(object)

    def __init__(self, project: Path, options: SearchOptions, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project, self.options = project, options
        self.stopped = False
        self._lines: list[str] = []
        self._reader = LineReader()
        self._done_once = False
        self.process = QProcess(self)
        self.process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        self.process.readyReadStandardOutput.connect(self._read)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._failed_to_start)
        self._asked = 0
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._ask_again)

    def command(self) -> tuple[str, list[str]]:
        program, lead = worker_command()
        return program, [*lead, "search", str(self.project), *self.options.arguments()]

    def start(self) -> None:
        program, args = self.command()
        self.process.setProcessEnvironment(child_environment())
        self.process.setWorkingDirectory(str(self.project.parent))
        stop_when_quitting(self._quitting)  # the editor quitting mid-search: stop it (the study keeps what was done)
        self.process.start(program, args)

    def running(self) -> bool:
        return self.process.state() != QProcess.ProcessState.NotRunning

    def stop(self) -> None:
        """Stop as Ctrl-C stops ``modstudio search``: the running trials stop and keep a checkpoint. A search
        that has not ended after a grace period is asked again (its trials end at once), then killed."""
        if self.running():
            self.stopped = True
            self._interrupt()
            self._kill_timer.start(STOP_GRACE_MS)

    def _interrupt(self) -> None:
        self._asked += 1
        pid = self.process.processId()
        if os.name == "posix" and pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
        else:  # Windows has no Ctrl-C for another process's console
            self.process.terminate()

    def _ask_again(self) -> None:
        if not self.running():
            return
        if self._asked < 2:
            self._interrupt()
            self._kill_timer.start(KILL_GRACE_MS)
        else:
            self.process.kill()

    def _quitting(self) -> None:
        """The editor quits: Ctrl-C twice (the search ends its trials' workers at once), then kill."""
        if self.running():
            self.stopped = True
            self._interrupt()
            self.process.waitForFinished(300)
            if self.running():
                self._interrupt()
            if not self.process.waitForFinished(5000):
                self.process.kill()
                self.process.waitForFinished(2000)

    def wait(self, milliseconds: int = 30_000) -> bool:
        """Block until the process ended (closing, tests); False on timeout."""
        return not self.running() or self.process.waitForFinished(milliseconds)

    def _read(self) -> None:
        for line in self._reader.feed(bytes(self.process.readAllStandardOutput().data())):
            self._take(line)

    def _take(self, text: str) -> None:
        text = text.strip("\r")
        if text:
            self._lines = [*self._lines[-40:], text]
            self.line.emit(text.split("\r")[-1])

    def _failed_to_start(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._done(
                SearchOutcome(False, f"Python could not be started for the search: {self.process.errorString()}")
            )

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._kill_timer.stop()
        self._read()
        for line in self._reader.rest():
            self._take(line)
        told = "\n".join(self._lines[-12:])
        errors = [line.removeprefix("error: ") for line in self._lines if line.startswith("error: ")]
        if self.stopped:
            outcome = SearchOutcome(False, "The search was stopped; the study keeps its trials.", stopped=True)
        elif status == QProcess.ExitStatus.CrashExit:
            outcome = SearchOutcome(False, f"The search stopped unexpectedly (the process crashed).\n\n{told}".strip())
        elif code == 0:
            outcome = SearchOutcome(True, self._lines[-1] if self._lines else "The search finished.")
        elif code == 1:
            outcome = SearchOutcome(False, f"No trial of the search completed.\n\n{told}".strip())
        elif code == 2:  # a named problem: the last lines say it
            outcome = SearchOutcome(
                False, "\n".join(errors) or told or "The search refused to start without saying why."
            )
        else:
            outcome = SearchOutcome(False, f"The search stopped with exit status {code}.\n\n{told}".strip())
        self._done(outcome)

    def _done(self, outcome: SearchOutcome) -> None:
        if self._done_once:
            return
        self._done_once = True
        forget_quitting(self._quitting)
        self.finished.emit(outcome)
