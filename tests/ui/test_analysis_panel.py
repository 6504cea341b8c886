"""The Analysis panel: costs at once, parameters and run analyses from a worker thread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from modstudio.blocks import default_catalog
from modstudio.compile.graphnet import GraphNet
from modstudio.engine.runs import RunFolder
from modstudio.library import load_template
from modstudio.ui.analysis_panel import AnalysisPanel
from modstudio.ui.app import create_app


@pytest.fixture
def panel(qtbot) -> Iterator[AnalysisPanel]:
    create_app()
    widget = AnalysisPanel(default_catalog())
    qtbot.addWidget(widget)
    widget.resize(700, 900)
    widget.show()
    yield widget
    QApplication.clipboard().clear()  # offscreen Qt crashes at exit when the process owns clipboard data


def column(panel: AnalysisPanel, index: int) -> list[str]:
    return [panel.table.item(row, index).text() for row in range(panel.table.rowCount())]


def test_show_project_fills_flops_at_once_and_parameters_from_a_worker(panel, qtbot) -> None:
    project = load_template("mlp_2d", default_catalog())
    with qtbot.waitSignal(panel.shown, timeout=30_000, check_params_cb=lambda kind: kind == "project") as shown:
        panel.show_project(project)
        assert column(panel, 0) == ["fc1", "relu1", "fc2", "relu2", "head"]
        assert column(panel, 4)[0] == "320"  # 2 * 2 * 64 + 64, before any thread has finished
        assert column(panel, 2) == [""] * 5
    assert shown.args == ["project"]
    qtbot.waitUntil(lambda: column(panel, 2)[0] == "192", timeout=30_000)
    assert "4,482 parameters" in panel.status.text()
    panel.table.sortItems(4, Qt.SortOrder.DescendingOrder)  # by FLOPs, numerically
    assert column(panel, 0)[0] == "fc2" and column(panel, 0)[-1] in ("relu1", "relu2")
    heights = panel.bars.opts["height"]
    assert len(heights) == 5 and sum(heights) == pytest.approx(100)


def test_show_run_computes_the_analysis_off_the_gui_thread_and_shows_q_and_nmi(panel, qtbot, tmp_path) -> None:
    catalog = default_catalog()
    project = load_template("moe_2d", catalog)
    folder = RunFolder.create(project, runs_root=tmp_path)
    folder.save_weights("best", GraphNet(project, catalog).state_dict())
    matrix = [[40, 0, 0, 0], [0, 30, 0, 0], [0, 0, 20, 0], [0, 0, 0, 10]]
    folder.append(
        "routing.jsonl", {"type": "routing", "kind": "test", "epoch": 1, "probes": {"moe": {"class_expert": matrix}}}
    )
    folder.close()
    with qtbot.waitSignal(panel.shown, timeout=60_000):
        panel.show_run(folder.path)
        assert "analysing" in panel.status.text()
    assert panel.modularity.text().startswith("Q = ") and "vs shuffled weights" in panel.modularity.text()
    assert panel.communities.count() >= 1
    assert "NMI(region; expert) = 1.000" in panel.nmi.text()
    assert panel.matrix.image.shape == (4, 4)
    assert column(panel, 0) == ["moe"] and column(panel, 2) == ["336"]
    assert (Path(folder.path) / "analysis.json").is_file()
    panel.show_project(project)  # then the saved file is shown without computing again
    panel.show_run(folder.path)
    assert panel.modularity.text().startswith("Q = ") and panel.analysis["run"] == str(folder.path)


def test_a_project_that_does_not_compile_is_named_not_raised(panel) -> None:
    project = load_template("mlp_2d", default_catalog())
    project.main_module.input_nodes[0].params["shape"] = [2, 2, 2]
    panel.show_project(project)
    assert "cannot be analysed" in panel.status.text()


def test_sections_sit_side_by_side_in_a_wide_dock_and_stack_in_a_tall_one(panel) -> None:
    panel.follow_dock_area(Qt.DockWidgetArea.BottomDockWidgetArea)
    assert panel.splitter.orientation() == Qt.Orientation.Horizontal
    panel.follow_dock_area(Qt.DockWidgetArea.RightDockWidgetArea)
    assert panel.splitter.orientation() == Qt.Orientation.Vertical


def test_the_analysis_dock_opens_at_a_third_of_the_window_and_leaves_the_canvas_room(window, qtbot) -> None:
    window.training.analysis_dock.show()
    qtbot.waitUntil(lambda: window.training.analysis_dock.height() > 100)
    qtbot.wait(100)
    share = window.training.analysis_dock.height() / window.height()
    assert 0.2 <= share <= 0.45, f"the Analysis dock takes {share:.0%} of the window height"
    assert window.canvas is not None and window.canvas.height() >= 0.3 * window.height()
    assert window.training.analysis.splitter.orientation() == Qt.Orientation.Horizontal
