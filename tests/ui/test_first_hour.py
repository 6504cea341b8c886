"""A new user's first hour, through the real widgets (issue 15, points 1-3 and 5): train the default
project with Pause pressed while the worker starts, find the run in the Runs dock and its weights in
Export, double-click the MoE to open its expert (no false shape error there), come back through the
breadcrumb with the routing bars on, open another project, save the first one's runs beside it.
A second test drives the same path with a real mouse under X11 (xdotool), where that is installed."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QFileDialog

from modstudio.blocks import default_catalog
from modstudio.engine.protocol import Finished
from modstudio.graph.io import save_project
from modstudio.ui import menus
from modstudio.ui.export_dialog import show_export_dialog
from modstudio.ui.files import default_project
from modstudio.ui.main_window import MainWindow
from modstudio.ui.usage_overlay import bars_of

from .test_training_gui import loop, until  # noqa: F401 (loop is a fixture)
from .x11 import AVAILABLE, NOT_AVAILABLE, prelude, run_driver

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def small_default_project():
    project = default_project(default_catalog())  # what `modstudio` opens with no file
    project.training.epochs = 2
    project.data.options = {**project.data.options, "samples": 400}
    return project


def node_centre(w: MainWindow, name: str) -> QPoint:
    node = w.doc.project.modules[w.session.shown_module].node_named(name)
    item = w.scene.nodes[node.id]
    w.canvas.centerOn(item)
    return w.canvas.mapFromScene(item.sceneBoundingRect().center())


def breadcrumb_button(w: MainWindow, text: str):
    action = next(a for a in w.breadcrumb.actions() if a.text() == text)
    return w.breadcrumb.widgetForAction(action)


def test_first_hour_train_pause_runs_export_drill_in_and_back_open_another(
    window: MainWindow,
    loop,  # noqa: F811
    qtbot,
    tmp_path: Path,
    monkeypatch,
) -> None:
    w = window
    w.load(small_default_project())
    w.start_counting()  # as the app does once the window is on screen
    main = w.doc.project.main
    ui = w.training
    assert w.path is None and ui.dashboard.loss_points() == 0

    # 5. Pause pressed while the worker is still starting is kept, and said
    async def train_with_an_early_pause() -> Finished | None:
        ui.train_action.trigger()
        ui.pause_action.trigger()
        assert ui.pause_action.text() == "Resume"
        assert ui.progress_label.text().startswith("pausing")
        await until(lambda: ui.controller.state == "paused")
        assert ui.progress_label.text().startswith("Paused")
        ui.pause_action.trigger()
        return await ui.controller.wait()

    finished = loop.run_until_complete(train_with_an_early_pause())
    assert finished.status == "completed", finished
    ui.dashboard.refresh()
    assert ui.dashboard.loss_points() > 0 and "test accuracy" in ui.progress_label.text()

    # 2. the unsaved project's run is in the Runs dock, and Export offers its best weights
    ui.runs.refresh()
    assert len(ui.runs.records) == 1
    run = ui.runs.records[0].folder
    dialog = show_export_dialog(w)
    assert dialog.weights.text() == str(run / "best.safetensors")
    dialog.reject()

    # 1. double-click the MoE: its expert opens; back through the breadcrumb, bars and labels survive
    moe_bars = bars_of(w.scene.nodes[w.doc.project.modules[main].node_named("moe").id])
    assert moe_bars is not None and moe_bars.shares.size == 4  # routing drawn on the canvas while training
    qtbot.mouseDClick(w.canvas.viewport(), Qt.MouseButton.LeftButton, pos=node_centre(w, "moe"))
    expert = w.session.shown_module
    assert expert != main and w.module_path == [main, expert]

    # 3. inside the expert: its shapes as used by 'moe', no false error, a parameter count
    assert "has no shape" not in w.problem_label.text()
    qtbot.waitUntil(lambda: "shapes as used by 'moe' in main" in w.count_label.text(), timeout=30_000)
    assert "—" not in w.count_label.text()

    qtbot.mouseClick(breadcrumb_button(w, main), Qt.MouseButton.LeftButton)
    assert w.session.shown_module == main and w.module_path == [main]
    back = bars_of(w.scene.nodes[w.doc.project.modules[main].node_named("moe").id])
    assert back is not None and back.shares.size == 4
    labelled = [e for items in w.scene.edges.values() for e in items if getattr(e, "label", None) is not None]
    assert labelled, "wire labels came back with the canvas"

    # File > Open another project: everything follows it, nothing of the old one is left
    other = tmp_path / "other.msproj"
    mlp = default_project(default_catalog(), "mlp_2d")
    save_project(mlp, other)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(other), menus.FILTER))
    w.actions_by_name["open"].trigger()  # the unsaved project: the prompt answers Discard (conftest)
    assert w.path == other and other.name in w.windowTitle() and mlp.name in w.windowTitle()
    assert {item.title for item in w.scene.nodes.values()} == {n.name for n in mlp.main_module.nodes}
    mine = w.library.tree.topLevelItem(0)  # the Modules dock: "This project"
    assert {mine.child(i).text(0).split()[0] for i in range(mine.childCount())} == set(mlp.modules)
    assert ui.panel.doc is w.doc and ui.panel.isEnabled()  # the Training dock edits the new project
    assert ui.dashboard.loss_points() == 0 and ui.dashboard.status.text() == "No training yet"
    assert all(bars_of(item) is None for item in w.scene.nodes.values())
    assert w.reported == []


DRIVER = (
    prelude("moe_2d")
    + r"""
from modstudio.engine.protocol import message_from_dict
from modstudio.graph.io import save_project
from modstudio.ui.usage_overlay import bars_of

main = w.doc.project.main
moe = w.doc.project.modules[main].node_named("moe")
report = {"type": "routing", "kind": "train", "step": 5, "epoch": 1,
          "probes": {"moe": {"tokens_per_expert": [30, 10, 0, 20]}}}
w.training.on_message(message_from_dict(report))  # what the worker sends while training
item = w.scene.nodes[moe.id]
w.canvas.centerOn(item)
settle(0.3)
p = w.canvas.viewport().mapToGlobal(w.canvas.mapFromScene(item.sceneBoundingRect().center()))
xdotool(f"mousemove {p.x()} {p.y()} click --repeat 2 --delay 80 1")
print("shown", w.session.shown_module)
action = next(a for a in w.breadcrumb.actions() if a.text() == main)
button = w.breadcrumb.widgetForAction(action)
b = button.mapToGlobal(button.rect().center())
xdotool(f"mousemove {b.x()} {b.y()} click 1")
print("back", w.session.shown_module)
print("bars", bars_of(w.scene.nodes[moe.id]) is not None)
other = sys.argv[1]
save_project(default_project(catalog, "mlp_2d"), other)
print("opened", w.open_path(other), w.windowTitle())
w.session.mark_saved()
w.close()
"""
)


@pytest.mark.skipif(not AVAILABLE, reason=NOT_AVAILABLE)
def test_first_hour_with_a_real_mouse_under_x11(tmp_path: Path) -> None:
    result = run_driver(DRIVER, tmp_path, str(tmp_path / "other.msproj"))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "already deleted" not in result.stderr, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    assert lines["shown"] != "main" and lines["back"] == "main" and lines["bars"] == "True"
    assert lines["opened"].startswith("True") and "other.msproj" in lines["opened"]
