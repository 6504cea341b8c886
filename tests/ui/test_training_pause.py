"""Pause and the dashboard's life in the editor, with a real worker: Pause pressed while the worker
starts pauses it as soon as it is up (and says so), Resume goes on; the last run's curves, warnings
and test accuracy go when a new run starts or another project is loaded."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from modstudio.blocks import default_catalog
from modstudio.engine.console import TrainConsole
from modstudio.engine.protocol import Epoch, Finished, Progress, message_from_dict
from modstudio.ui.files import default_project

from .test_training_gui import loop, moe_window, until  # noqa: F401 (loop is a fixture)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_pause_pressed_while_the_worker_starts_pauses_it_once_it_is_up(window, loop, tmp_path: Path) -> None:  # noqa: F811
    w = moe_window(window, tmp_path, epochs=1, samples=300)
    ui = w.training
    progress: list[Progress] = []
    ui.controller.message.connect(lambda m: isinstance(m, Progress) and progress.append(m))

    async def scenario() -> Finished | None:
        assert ui.train()
        assert ui.controller.state == "starting" and ui.pause_action.isEnabled()
        ui.pause_action.trigger()  # the worker is still importing torch
        assert ui.pause_action.text() == "Resume"
        assert ui.progress_label.text() == "pausing… (as soon as the training process is up)"
        await until(lambda: ui.controller.state == "paused")
        await asyncio.sleep(0.3)  # paused before its first step: no progress while paused
        assert progress == []
        ui.dashboard.refresh()
        assert ui.progress_label.text() == "Paused before the first step · F6 resumes"
        assert ui.dashboard.status.text().startswith("Paused")
        assert ui.pause_action.text() == "Resume" and ui.pause_action.isEnabled()
        ui.pause_action.trigger()
        await until(lambda: ui.controller.state == "running" or not ui.controller.busy)
        assert ui.pause_action.text() == "Pause"
        return await ui.controller.wait()

    finished = loop.run_until_complete(scenario())
    assert finished is not None and finished.status == "completed" and progress
    ui.dashboard.refresh()
    assert ui.dashboard.loss_points() > 0 and "test accuracy" in ui.progress_label.text()
    w.load(default_project(default_catalog(), "mlp_2d"))  # another project: nothing of that run is left
    assert ui.dashboard.loss_points() == 0 and ui.dashboard.layers() == [] and ui.dashboard.expert_bar_count() == 0
    assert ui.dashboard.decision_image() is None and ui.dashboard.warnings() == []
    assert ui.progress_label.text() == "" and ui.dashboard.status.text() == "No training yet"


def test_a_new_run_clears_the_last_runs_views_and_stop_works_while_it_starts(window, loop, tmp_path: Path) -> None:  # noqa: F811
    w = moe_window(window, tmp_path, epochs=50, samples=300)
    ui = w.training
    layout = {"moe": {"kind": "moe", "num_experts": 4, "gate": "topk"}}
    console = TrainConsole(out=io.StringIO(), err=io.StringIO(), bar=True)
    for record in (  # what the last run left on screen
        {"type": "started", "task": "classification", "probe_layout": layout, "device": "cpu", "parameters": 10,
         "run_folder": "runs/1", "epochs": 1},
        {"type": "progress", "epoch": 1, "step": 1, "steps": 1, "global_step": 1, "loss": 0.5, "accuracy": 0.8,
         "samples_per_second": 100.0},
        {"type": "epoch", "epoch": 1, "epochs": 1, "step": 1, "train_loss": 0.5, "val_loss": 0.4, "seconds": 0.1},
        {"type": "warning", "message": "expert 3 got no tokens", "path": "moe"},
        {"type": "finished", "status": "completed", "epochs": 1, "steps": 1, "test_accuracy": 0.9},
    ):  # fmt: skip
        message = message_from_dict(record)
        ui.on_message(message)
        console.handle(message)
        if isinstance(message, (Progress, Epoch, Finished)):  # the window says what `modstudio train` says
            ui.dashboard.refresh()
            assert ui.progress_label.text() == ui.dashboard.status.text() == message.describe()
            shown = console.bar.desc if isinstance(message, Progress) else console.out.getvalue().splitlines()[-1]
            assert message.describe() in shown
    assert ui.dashboard.loss_points() == 1 and ui.dashboard.warnings() and "0.9" in ui.progress_label.text()
    assert ui.train()
    assert ui.dashboard.loss_points() == 0 and ui.dashboard.warnings() == [] and ui.dashboard.layers() == []
    assert ui.progress_label.text() == "starting the training process…"
    assert ui.dashboard.status.text() == "Starting the training process…"
    ui.stop_action.trigger()  # pressed before the worker is up: it stops before its first step
    assert ui.progress_label.text() == "stopping after this step…" and not ui.pause_action.isEnabled()
    finished = loop.run_until_complete(ui.controller.wait())
    assert finished is not None and finished.status == "stopped" and finished.epochs < 50
    assert ui.train_action.isEnabled() and "stopped" in ui.progress_label.text()
