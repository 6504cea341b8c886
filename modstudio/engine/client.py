"""TrainClient: starts a TrainWorker in a spawned process and talks to it (used by the GUI and the CLI)."""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from modstudio.engine.protocol import Error, Finished, Message, ProtocolError, Warning, message_from_dict
from modstudio.engine.settings import TrainSettings
from modstudio.graph.io import project_to_dict
from modstudio.graph.model import Project


class TrainClient:
    """One training run in a background process. ``poll()`` never blocks; a dead worker becomes an ``error``.

    Messages come out typed (:mod:`modstudio.engine.protocol`); one the client cannot read becomes a warning."""

    def __init__(self, wait_on_finish: bool = True) -> None:
        # After ``finished`` the worker still has to exit (a fraction of a second: torch tears down).
        # True: ``poll`` waits for that; False: it returns at once and the caller waits (``exited``).
        self.wait_on_finish = wait_on_finish
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._finished = False

    def start(
        self, project: Project, settings: TrainSettings | None = None, project_path: str | Path | None = None
    ) -> None:
        if self.is_alive():
            raise RuntimeError("a training run is already going; stop it first")
        from modstudio.engine.worker import worker_main

        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe(duplex=True)
        args = (
            child,
            project_to_dict(project),
            (settings or TrainSettings()).to_dict(),
            str(project_path) if project_path else None,
        )
        self._process = context.Process(target=worker_main, args=args, name="modstudio-train", daemon=True)
        self._process.start()
        child.close()
        self._conn = parent
        self._finished = False

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def finished(self) -> bool:
        """True once the ``finished`` message has been handed out."""
        return self._finished

    def is_alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def poll(self, timeout: float = 0.0) -> list[Message]:
        """Every message that has arrived (waiting up to ``timeout`` seconds for the first)."""
        if self._conn is None or self._finished:
            return []
        out: list[Message] = []
        gone = False  # the worker's end of the pipe is closed: it has exited, or is exiting
        try:
            ready = self._conn.poll(timeout)
            while ready:
                message = _typed(self._conn.recv())
                out.append(message)
                if isinstance(message, Finished):
                    self._finished = True
                    break
                ready = self._conn.poll()
        except (EOFError, OSError):
            gone = True
        if not self._finished and (gone or not self.is_alive()):
            out.extend(self._drain())
        if not self._finished and (gone or not self.is_alive()):
            out.extend(self._died())
        if self._finished:
            self._close()
        return out

    def _drain(self) -> list[Message]:
        """What a worker that has exited still left in the pipe."""
        out: list[Message] = []
        try:
            while self._conn is not None and self._conn.poll():
                out.append(_typed(self._conn.recv()))
                if isinstance(out[-1], Finished):
                    self._finished = True
                    break
        except (EOFError, OSError):
            pass
        return out

    def _died(self) -> list[Message]:
        assert self._process is not None
        self._process.join(timeout=5.0)
        code = self._process.exitcode
        message = f"the training process stopped unexpectedly (exit code {code})"
        self._finished = True
        return [Error(kind="crash", message=message), Finished.failed(message, "crash")]

    def _send(self, command: str) -> None:
        if self._conn is not None and not self._conn.closed:
            with contextlib.suppress(BrokenPipeError, OSError):
                self._conn.send(command)

    def pause(self) -> None:
        self._send("pause")

    def resume(self) -> None:
        self._send("resume")

    def stop(self) -> None:
        """Ask the worker to stop after the current step (it saves a checkpoint and sends ``finished``)."""
        self._send("stop")

    def kill(self) -> None:
        """End the worker at once, without a checkpoint (when it does not answer ``stop``)."""
        if self._process is not None and self._process.is_alive():
            self._process.kill()

    def wait(self, timeout: float | None = None) -> list[Message]:
        """Collect messages until ``finished`` (or ``timeout`` seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        out: list[Message] = []
        while not self._finished and (deadline is None or time.monotonic() < deadline):
            out.extend(self.poll(0.1))
        return out

    def exited(self) -> bool:
        """True once the worker process is gone (reaped); never blocks."""
        return self._process is None or not self._process.is_alive()

    def _close(self) -> None:
        if self._process is not None and self.wait_on_finish:
            self._process.join(timeout=5.0)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(timeout=5.0)
        if self._conn is not None:
            self._conn.close()


def _typed(data: Any) -> Message:
    """The message the worker sent; one that is not a message (a worker of another version) becomes a warning."""
    try:
        return message_from_dict(data)
    except ProtocolError as exc:
        return Warning(kind="protocol", message=f"a message from the training process was not understood: {exc}")
