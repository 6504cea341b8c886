"""Training from the editor: Train on the 2-D MoE template, watch the dashboard and the canvas,
stop mid-run, survive a killed worker, refuse bad settings. Each test spawns a real worker."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import qasync
from PySide6.QtWidgets import QApplication

from modstudio.blocks import default_catalog
from modstudio.engine.protocol import Finished, Progress
from modstudio.ui.files import default_project
from modstudio.ui.main_window import MainWindow

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def loop(window: MainWindow) -> Iterator[qasync.QEventLoop]:
    loop = qasync.QEventLoop(QApplication.instance(), already_running=False)
    asyncio.set_event_loop(loop)
    yield loop
    controller = window.training.controller
    if controller.busy:  # never leave a worker behind
        controller.kill()
        loop.run_until_complete(controller.wait())
    asyncio.set_event_loop(None)
    loop.close()


def moe_window(window: MainWindow, tmp_path: Path, epochs: int, samples: int = 1200) -> MainWindow:
    project = default_project(default_catalog(), "moe_2d")
    project.training.epochs = epochs
    project.data.options = {**project.data.options, "samples": samples}
    window.load(project)
    window.training.settings.runs_root = str(tmp_path / "runs")
    window.training.settings.routing_period = 0.2
    return window


async def until(condition: Callable[[], object], timeout: float = 60.0) -> float:
    """Let the Qt + asyncio loop run until ``condition()`` holds; the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError("the condition did not come true in time")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


def test_train_from_the_gui_fills_dashboard_canvas_and_runs(window, loop, qtbot, tmp_path: Path) -> None:
    w = moe_window(window, tmp_path, epochs=2)
    ui = w.training
    assert ui.train()
    assert not ui.train_action.isEnabled() and ui.stop_action.isEnabled()
    finished = loop.run_until_complete(ui.controller.wait())
    assert finished is not None and finished.status == "completed", finished
    ui.dashboard.refresh()
    assert ui.dashboard.loss_points() > 0
    experts = w.doc.project.modules[w.doc.project.main].node_named("moe").params["num_experts"]
    assert ui.dashboard.expert_bar_count() == experts
    image = ui.dashboard.decision_image()
    assert image is not None and image.ndim == 3 and image.shape[0] > 1
    bars = ui.overlay.apply({n.name: w.scene.nodes[n.id] for n in w.scene.module.nodes})
    assert set(bars) == {"moe"} and bars["moe"].shares.size == experts
    assert abs(bars["moe"].shares.sum() - 1.0) < 1e-6
    assert ui.train_action.isEnabled() and not ui.stop_action.isEnabled()
    assert "test accuracy" in ui.progress_label.text()
    # the run is listed; its curves reopen, compare, and its weights load back into the project
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1
    ui.dashboard.clear_comparison()
    ui.open_run(runs[0])
    ui.dashboard.refresh()
    assert ui.dashboard.loss_points() > 0
    assert ui.analysis_dock.isVisible()  # the run's analysis is computed off the GUI thread and shown there
    with qtbot.waitSignal(ui.analysis.shown, timeout=60_000):
        pass
    assert (runs[0] / "analysis.json").exists()
    ui.compare_runs(runs[0], runs[0])
    ui.load_weights(runs[0])
    assert w.doc.project.training.init_weights == str(runs[0] / "best.safetensors")
    w.stack.undo()
    assert w.doc.project.training.init_weights is None


def test_stop_mid_run_keeps_a_checkpoint(window, loop, tmp_path: Path) -> None:
    w = moe_window(window, tmp_path, epochs=200)
    ui = w.training
    progress: list[Progress] = []
    ui.controller.message.connect(lambda m: isinstance(m, Progress) and progress.append(m))

    async def scenario() -> Finished | None:
        assert ui.train()
        await until(lambda: len(progress) >= 3)
        ui.stop_action.trigger()
        return await ui.controller.wait()

    finished = loop.run_until_complete(scenario())
    assert finished is not None and finished.status == "stopped"
    assert finished.epochs < 200
    assert (Path(finished.run_folder) / "last.safetensors").exists()
    assert ui.train_action.isEnabled()


def test_killed_worker_is_reported_with_its_exit_code_and_training_works_again(window, loop, tmp_path: Path) -> None:
    w = moe_window(window, tmp_path, epochs=200)
    ui = w.training

    async def scenario() -> None:
        assert ui.train()
        await until(lambda: ui.controller.state == "running")
        os.kill(ui.controller.client.pid, signal.SIGKILL)
        await until(lambda: w.reported, timeout=30)

    loop.run_until_complete(scenario())
    # Found from the closed pipe and the process's own exit status (-9: killed), not by a timeout.
    assert "stopped unexpectedly (exit code -9)" in w.reported[-1]
    assert "failed" in ui.progress_label.text()
    assert ui.controller.state == "idle" and ui.train_action.isEnabled()
    ui.dashboard.refresh()
    assert any("stopped unexpectedly" in text for text in ui.dashboard.warnings())
    w.doc.project.training.epochs = 1  # a short run afterwards works
    assert ui.train()
    assert loop.run_until_complete(ui.controller.wait()).status == "completed"


def test_bad_settings_are_refused_before_starting(window, loop, tmp_path: Path) -> None:
    w = moe_window(window, tmp_path, epochs=1, samples=100)
    w.doc.project.data.batch_size = 5000  # more than the whole training split
    assert not w.training.train()
    assert w.reported and "batch" in w.reported[-1].lower()
    assert w.training.controller.state == "idle"
    assert not (tmp_path / "runs").exists()


def test_a_saved_project_with_starting_weights_beside_it_trains(window, loop, tmp_path: Path) -> None:
    """As an import, the doctor or expert surgery leave it: ``init_weights`` names a file beside the project."""
    from safetensors.torch import save_file

    from modstudio.compile.graphnet import GraphNet

    w = moe_window(window, tmp_path, epochs=1, samples=100)
    project = w.doc.project
    save_file(GraphNet(project, w.catalog).state_dict(), str(tmp_path / "net.init.safetensors"))
    project.training.init_weights = "net.init.safetensors"
    assert w.save_to(tmp_path / "net.msproj")
    assert w.open_path(tmp_path / "net.msproj")
    w.training.settings.runs_root = str(tmp_path / "runs")
    assert w.training.train(), w.reported  # not "the project is not saved yet"
    assert loop.run_until_complete(w.training.controller.wait()).status == "completed"
    (tmp_path / "net.init.safetensors").unlink()
    assert not w.training.train()
    assert f"file {tmp_path / 'net.init.safetensors'} does not exist" in w.reported[-1]
