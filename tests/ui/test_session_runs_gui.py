"""A real run of an unsaved project: listed in the Runs dock, saved mid-run, moved beside the file when it ends,
and offered by Export. Spawns a real worker."""

from __future__ import annotations

import pytest

from modstudio.blocks import default_catalog
from modstudio.engine.protocol import Finished
from modstudio.ui.export_dialog import show_export_dialog
from modstudio.ui.files import default_project

from .test_training_gui import loop, until  # noqa: F401 (the fixture)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_a_run_of_an_unsaved_project_follows_it_to_its_file(window, loop, tmp_path) -> None:  # noqa: F811
    project = default_project(default_catalog(), "moe_2d")
    project.training.epochs = 2
    project.data.options = {**project.data.options, "samples": 600}
    window.load(project)
    ui, session = window.training, window.session
    scratch = session.runs_root
    assert window.path is None and scratch is not None and ui.settings.runs_root is None

    async def scenario() -> Finished | None:
        assert ui.train()
        await until(lambda: session.current_run is not None)
        assert session.current_run.parent == scratch  # the session's own folder, not the shared one
        ui.runs.refresh()
        assert [r.folder for r in ui.runs.records] == [session.current_run]
        assert window.save_to(tmp_path / "net.msproj")  # while it trains
        assert "1 run still training there moves when it ends" in window.statusBar().currentMessage()
        return await ui.controller.wait()

    finished = loop.run_until_complete(scenario())
    assert finished is not None and finished.status == "completed", finished
    loop.run_until_complete(until(lambda: not list(scratch.iterdir())))
    target = tmp_path / "net.runs"
    moved = list(target.iterdir())
    assert len(moved) == 1 and (moved[0] / "best.safetensors").is_file()
    assert f"Moved 1 run to {target}" in window.statusBar().currentMessage()
    assert [r.folder for r in ui.runs.records] == moved
    dialog = show_export_dialog(window)
    assert dialog.weights.text() == str(moved[0] / "best.safetensors")
    dialog.reject()
