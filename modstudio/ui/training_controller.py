"""TrainingController: runs one training at a time in the engine's worker process, from the GUI.

The worker is a spawned process (modstudio.engine.client.TrainClient). A coroutine on the
qasync loop polls its pipe without blocking and hands every message on through the
``message`` signal; the window, the dashboard and the canvas listen. A worker that dies is
reported within one poll period (the client turns a dead process into ``error`` +
``finished``), and the controller is ready to train again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from modstudio.engine.client import TrainClient
from modstudio.engine.protocol import Error, Finished, Message, Paused, Resumed, Started
from modstudio.engine.settings import TrainSettings
from modstudio.graph.model import Project

POLL_SECONDS = 0.02  # how often the pipe is read: messages reach the UI within this
STOP_GRACE_MS = 8000
EXIT_GRACE_SECONDS = 5.0  # a worker still there this long after ``finished`` is killed

IDLE, STARTING, RUNNING, PAUSED, STOPPING = "idle", "starting", "running", "paused", "stopping"
PAUSING = "pausing"  # Pause was pressed: the worker pauses after its current step, or as soon as it is up


class TrainingController(QObject):
    """Start / pause / resume / stop / kill one run; every worker message comes out of ``message``."""

    message = Signal(object)  # a modstudio.engine.protocol message
    state_changed = Signal(str)

    def __init__(
        self, parent: QObject | None = None, client_factory: Callable[[], TrainClient] = lambda: TrainClient(False)
    ) -> None:
        super().__init__(parent)
        self._client_factory = client_factory
        self.client: TrainClient | None = None
        self.state = IDLE
        self.pause_waiting = False  # Pause pressed before the worker was up: sent with its ``started``
        self.last_finished: Finished | None = None
        self._task: asyncio.Task[Finished | None] | None = None
        self._stop_timer = QTimer(self)
        self._stop_timer.setSingleShot(True)
        self._stop_timer.timeout.connect(self.kill)

    @property
    def busy(self) -> bool:
        return self.state != IDLE

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

    # starting -----------------------------------------------------------------------------

    def start(
        self, project: Project, path: Path | None = None, settings: TrainSettings | None = None
    ) -> asyncio.Task[Finished | None]:
        """Schedule a run on the asyncio (qasync) loop; the task's result is the ``finished`` message."""
        if self.busy:
            raise RuntimeError("a training run is already going; stop it first")
        self.client = None  # the last run's client must not receive this run's commands
        self.pause_waiting = False
        self._set_state(STARTING)
        self._task = asyncio.ensure_future(self.run(project, path, settings))
        self._task.add_done_callback(self._task_done)
        return self._task

    def _task_done(self, task: asyncio.Task[Finished | None]) -> None:
        """A polling task that broke (a bug, or a loop shut down under it) must not leave the UI 'running'."""
        if task.cancelled() or task.exception() is None:
            return
        self.kill()
        self._stop_timer.stop()
        text = f"lost contact with the training process: {task.exception()}"
        self.last_finished = Finished.failed(text, "crash")
        self._set_state(IDLE)
        self.message.emit(Error(kind="crash", message=text))
        self.message.emit(self.last_finished)

    async def run(
        self, project: Project, path: Path | None = None, settings: TrainSettings | None = None
    ) -> Finished | None:
        """Train ``project`` to the end (or until stopped) while the UI keeps running."""
        if self.state == IDLE:  # called directly; start() set the state (a Pause or Stop may have come since)
            self._set_state(STARTING)
        self.last_finished = None
        client = self.client = self._client_factory()
        try:
            client.start(project, settings or TrainSettings(), path)
            if self.state == STOPPING:  # Stop pressed before the process existed: it stops before its first step
                client.stop()
            elif self.pause_waiting:  # Pause pressed while starting: the pipe holds it until the worker's first
                self.pause_waiting = False  # look between steps, so it pauses before its first step
                client.pause()
        except Exception as exc:  # the process could not be started (no resources, frozen-app problem)
            self._set_state(IDLE)
            failed = Finished.failed(f"could not start training: {exc}", "start")
            self.message.emit(Error(kind="start", message=failed.error))
            self.message.emit(failed)
            self.last_finished = failed
            return failed
        while True:
            for message in client.poll(0.0):
                self._dispatch(message)
            if client.finished:
                break
            await asyncio.sleep(POLL_SECONDS)
        self._stop_timer.stop()
        self.pause_waiting = False
        exit_by = time.monotonic() + EXIT_GRACE_SECONDS
        while not client.exited():  # the worker exits after ``finished``: wait without blocking the UI
            if time.monotonic() > exit_by:
                client.kill()
            await asyncio.sleep(POLL_SECONDS)
        self._set_state(IDLE)
        return self.last_finished

    def _dispatch(self, message: Message) -> None:
        stopping = self.state == STOPPING  # the run's start, pause and resume no longer change the state
        match message:
            case Started() if stopping:  # Stop came before the worker was up: its grace starts now
                self._stop_timer.start(STOP_GRACE_MS)
            case Started() if self.pause_waiting and self.client is not None:  # the worker is up: the pause goes now
                self.pause_waiting = False
                self.client.pause()
            case Started() if self.state != PAUSING:  # PAUSING: the pause went with the start and is on its way
                self._set_state(RUNNING)
            case Paused() if not stopping:
                self._set_state(PAUSED)
            case Resumed() if not stopping and self.state != PAUSING:  # PAUSING: Pause was pressed again since
                self._set_state(RUNNING)
            case Finished():
                self.last_finished = message
        self.message.emit(message)

    # commands -----------------------------------------------------------------------------

    def pause(self) -> None:
        """Pause after the current step. Pressed while the worker starts, it goes into the worker's command pipe
        (which holds it until the worker's first look between steps) or, before the process exists, waits for it."""
        if self.state == STARTING and self.client is None:
            self.pause_waiting = True
            self._set_state(PAUSING)
        elif self.client is not None and self.state in (STARTING, RUNNING):
            self.client.pause()
            self._set_state(PAUSING)

    def resume(self) -> None:
        """Go on training; while a pause is only waiting or on its way, this takes it back."""
        if self.state == PAUSING and self.pause_waiting:  # the worker never heard of it
            self.pause_waiting = False
            self._set_state(STARTING)
        elif self.client is not None and self.state in (PAUSED, PAUSING):
            self.client.resume()  # after a pause on its way the worker reports paused, then resumed

    def stop(self) -> None:
        """Ask the worker to stop after its current step (it keeps a checkpoint); kill it if it does not."""
        if self.busy and self.state != STOPPING:
            self.pause_waiting = False
            if self.client is not None:  # none yet: run() sends it once the process exists
                self.client.stop()
            self._set_state(STOPPING)
            self._stop_timer.start(STOP_GRACE_MS)

    def kill(self) -> None:
        """End the worker at once; the poll loop reports it like any other dead worker."""
        if self.client is not None:
            with contextlib.suppress(OSError):
                self.client.kill()

    async def wait(self) -> Finished | None:
        """The ``finished`` message of the current run (None when nothing runs)."""
        if self._task is None:
            return self.last_finished
        return await self._task


__all__ = ["IDLE", "PAUSED", "PAUSING", "RUNNING", "STARTING", "STOPPING", "TrainingController"]
