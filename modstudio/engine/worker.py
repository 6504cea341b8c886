"""TrainWorker: the spawned process that trains, streaming messages over a pipe and obeying commands.

Messages (plain dicts, numpy arrays inside ``routing`` and ``regions``), in order: ``started``,
then any of ``progress`` (<= ~20/s), ``epoch``, ``usage``, ``routing``, ``gradients`` and
``regions`` (the live views of engine/live.py), ``checkpoint``, ``warning``, ``paused``/``resumed``; at the end ``error`` (if something went wrong) and always one
``finished`` (status completed, early_stopped, stopped or failed). Commands sent back:
``pause``, ``resume``, ``stop``.
"""

from __future__ import annotations

import contextlib
import signal
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from modstudio.engine.errors import EngineError
from modstudio.engine.protocol import Error, Finished, Message
from modstudio.engine.threads import prepare_worker

COMMANDS = frozenset({"pause", "resume", "stop"})


class PipeCommands:
    """Commands from the client, read without blocking between steps."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _read(self) -> str | None:
        try:
            command = self.conn.recv()
        except (EOFError, OSError):
            return "stop"  # the client is gone: stop cleanly, keeping a checkpoint
        return command if command in COMMANDS else None

    def poll(self) -> str | None:
        try:
            waiting = self.conn.poll()
        except (EOFError, OSError):
            return "stop"
        return self._read() if waiting else None

    def wait(self, timeout: float) -> str | None:
        try:
            waiting = self.conn.poll(timeout)
        except (EOFError, OSError):
            return "stop"
        return self._read() if waiting else None


def send(conn: Connection, message: Message) -> None:
    """The message's JSON form goes through the pipe (the client turns it back into the message)."""
    with contextlib.suppress(BrokenPipeError, EOFError, OSError):  # nobody listens: the run folder still has it all
        conn.send(message.to_dict())


def worker_main(
    conn: Connection, project_data: dict[str, Any], settings_data: dict[str, Any], project_path: str | None
) -> None:
    """Entry point of the spawned process: build, train, report; never raises."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the client, which sends stop
    settings_data = prepare_worker(settings_data)  # threads decided, OpenMP/MKL told, before torch is imported
    run_training(conn, project_data, settings_data, project_path)
    conn.close()


def run_training(
    conn: Connection, project_data: dict[str, Any], settings_data: dict[str, Any], project_path: str | None
) -> None:
    from modstudio.engine.settings import TrainSettings

    commands = PipeCommands(conn)
    settings = TrainSettings.from_dict(settings_data)
    trainer = None
    try:
        import torch

        from modstudio.blocks import default_catalog
        from modstudio.engine.session import prepare
        from modstudio.engine.train import Trainer
        from modstudio.graph.io import project_from_dict
        from modstudio.graph.problems import ProjectError

        try:
            project = project_from_dict(project_data, default_catalog(), project_path or "")
        except ProjectError as exc:
            raise EngineError(exc.describe(), "settings") from None
        session = prepare(project, settings, Path(project_path) if project_path else None)
        trainer = Trainer(session, lambda message: send(conn, message), commands)
        trainer.run()
    except EngineError as exc:
        _fail(conn, exc.kind, exc.message, trainer, step=getattr(exc, "step", None))
    except MemoryError:
        _fail(conn, "oom", "out of memory: lower the batch size or use a smaller network or dataset", trainer)
    except RuntimeError as exc:
        if isinstance(exc, getattr(torch, "OutOfMemoryError", ())) or "out of memory" in str(exc).lower():
            where = str(trainer.s.device) if trainer is not None else "the device"
            _fail(conn, "oom", f"out of memory on {where}: lower the batch size or use a smaller network", trainer)
        else:
            _fail(conn, "crash", f"training failed: {exc}", trainer, traceback.format_exc())
    except Exception as exc:  # a bug: report it rather than die silently
        _fail(conn, "crash", f"training failed: {type(exc).__name__}: {exc}", trainer, traceback.format_exc())


def _fail(conn: Connection, kind: str, message: str, trainer: Any, detail: str = "", step: int | None = None) -> None:
    """Send ``error`` (``step``: the failing step, else the steps done) and ``finished`` with status failed."""
    if step is None and trainer is not None:
        step = trainer.s.step
    folder = str(trainer.s.folder.path) if trainer is not None else None
    if trainer is not None and kind != "nan":  # the NaN path wrote run.json itself
        info = trainer.s.folder.read_info()
        trainer.s.folder.write_info(
            {**info, "status": "failed", "error": message, "epochs": trainer.s.epoch, "steps": step}
        )
    send(conn, Error(kind=kind, message=message, step=step, detail=detail))
    send(conn, Finished.failed(message, kind, run_folder=folder, steps=step))
