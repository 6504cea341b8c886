"""The runs list: real run folders listed newest first, compare two, a corrupt one listed as unreadable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from modstudio.ui.app import create_app
from modstudio.ui.runs_panel import COLUMNS, RunsPanel

from ..engine.run_helpers import make_runs


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    folder = tmp_path_factory.mktemp("work")
    path = folder / "spirals.msproj"
    runs = make_runs(folder / "spirals.runs")
    return path, runs


@pytest.fixture
def panel(qtbot, project) -> Iterator[RunsPanel]:
    create_app()
    asked: list[str] = []
    widget = RunsPanel(ask=lambda title, text: asked.append(text) or True)
    widget.asked = asked  # type: ignore[attr-defined]
    qtbot.addWidget(widget)
    widget.set_project_path(project[0])
    widget.resize(760, 300)
    widget.show()
    yield widget
    QApplication.clipboard().clear()


def rows(panel: RunsPanel) -> list[dict[str, str]]:
    tree = panel.tree
    return [
        {name: tree.topLevelItem(r).text(c) for c, name in enumerate(COLUMNS)} for r in range(tree.topLevelItemCount())
    ]


def select(panel: RunsPanel, *names: str, runs: dict[str, Path]) -> None:
    panel.tree.clearSelection()
    wanted = {str(runs[n]) for n in names}
    for r in range(panel.tree.topLevelItemCount()):
        item = panel.tree.topLevelItem(r)
        item.setSelected(item.data(0, Qt.ItemDataRole.UserRole) in wanted)


def test_both_real_runs_are_listed_with_status_and_result(panel, project) -> None:
    table = rows(panel)
    assert [row["started"] for row in table] == [f"2026-01-0{d} 10:00:00" for d in (5, 4, 3, 2, 1)]
    assert [row["status"] for row in table] == ["running…", "unreadable", "failed", "completed", "completed"]
    classes, values = table[4], table[3]
    assert classes["epochs"] == "2" and classes["dataset"] == "moons"
    assert classes["test result"].endswith("% accuracy") and 60 <= float(classes["test result"].split("%")[0]) <= 100
    assert values["test result"].startswith("R² ") and values["dataset"] == "regimes"
    assert classes["duration"].endswith(" s")
    assert table[0]["epochs"] == "2/10" and table[2]["test result"] == "—"
    assert panel.where.text() == f"5 runs in {project[0].parent / 'spirals.runs'}"


def test_select_two_and_compare(panel, project, qtbot) -> None:
    runs = project[1]
    select(panel, "classes", "values", runs=runs)
    assert panel.compare_button.isEnabled() and not panel.show_button.isEnabled()
    with qtbot.waitSignal(panel.compare_runs) as blocker:
        QTest.mouseClick(panel.compare_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [runs["classes"], runs["values"]]  # older first


def test_show_curves_and_load_weights_of_one_run(panel, project, qtbot) -> None:
    runs = project[1]
    select(panel, "values", runs=runs)
    with qtbot.waitSignal(panel.open_run) as shown:
        QTest.mouseClick(panel.show_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(panel.load_weights) as loaded:
        QTest.mouseClick(panel.load_button, Qt.MouseButton.LeftButton)
    assert shown.args == [runs["values"]] and loaded.args == [runs["values"]]
    select(panel, "failed", runs=runs)
    assert panel.show_button.isEnabled() and not panel.load_button.isEnabled()  # it left no weights


def test_double_click_opens_a_run(panel, project, qtbot) -> None:
    item = panel.tree.topLevelItem(4)
    with qtbot.waitSignal(panel.open_run) as blocker:
        panel.tree.itemDoubleClicked.emit(item, 0)
    assert blocker.args == [project[1]["classes"]]


def test_a_corrupt_run_is_listed_as_unreadable_and_cannot_be_opened(panel, project, qtbot) -> None:
    runs = project[1]
    select(panel, "corrupt", runs=runs)
    assert not panel.show_button.isEnabled() and not panel.compare_button.isEnabled()
    item = panel.tree.topLevelItem(1)
    assert "run.json: not valid JSON" in item.toolTip(1)
    with qtbot.assertNotEmitted(panel.open_run):
        panel.tree.itemDoubleClicked.emit(item, 0)


def test_delete_asks_first_and_removes_the_folder(qtbot, tmp_path: Path) -> None:
    create_app()
    runs = make_runs(tmp_path / "p.runs")
    answers = [False, True]
    asked: list[str] = []
    widget = RunsPanel(ask=lambda title, text: asked.append(text) or answers.pop(0))
    qtbot.addWidget(widget)
    widget.set_project_path(tmp_path / "p.msproj")
    select(widget, "failed", runs=runs)
    widget.delete()
    assert runs["failed"].exists() and len(widget.records) == 5
    with qtbot.waitSignal(widget.run_deleted) as blocker:
        widget.delete()
    assert blocker.args == [runs["failed"]] and not runs["failed"].exists()
    assert asked[1] == f"Delete this run and its weights from disk?\n\n{runs['failed'].name}"
    assert len(widget.records) == 4
    select(widget, "going", runs=runs)
    assert not widget.delete_button.isEnabled()  # a run that is still going is not deleted under it
    QApplication.clipboard().clear()


def test_an_unsaved_project_has_no_runs_list(qtbot) -> None:
    create_app()
    widget = RunsPanel()
    qtbot.addWidget(widget)
    widget.set_project_path(None)
    assert widget.tree.topLevelItemCount() == 0
    assert widget.where.text().startswith("Runs are kept beside the saved project")
    QApplication.clipboard().clear()


def test_right_click_offers_the_buttons_actions_enabled_as_they_are(panel, project, qtbot) -> None:
    runs = project[1]
    select(panel, "values", runs=runs)
    actions = {a.text(): a for a in panel.context_actions()}
    assert list(actions) == ["Show curves", "Compare", "Load weights", "Delete…"]
    assert actions["Show curves"].isEnabled() and not actions["Compare"].isEnabled()
    with qtbot.waitSignal(panel.open_run) as shown:
        actions["Show curves"].trigger()
    assert shown.args == [runs["values"]]


def test_every_button_shows_its_whole_label_in_a_narrow_dock(panel) -> None:
    assert panel.minimumSizeHint().width() <= 220  # the left dock column at the window's default size
    panel.resize(220, 400)
    panel.show()
    panel.layout().activate()
    assert panel.width() == 220
    for button in (panel.show_button, panel.compare_button, panel.load_button, panel.delete_button):
        needed = button.fontMetrics().horizontalAdvance(button.text())
        assert button.width() >= needed, f"'{button.text()}' needs {needed} px but has {button.width()}"


def test_damaged_runs_are_listed_as_unreadable_with_the_damaged_file_named(qtbot, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    from ..engine.run_helpers import epoch_line, hand_made

    create_app()
    root = tmp_path / "p.runs"
    hand_made(root, "20260201-100000-0000aa", None, [epoch_line(1, 3), "[1, 2]", epoch_line(2, 3), ""])
    weights = hand_made(root, "20260202-100000-0000bb", {"status": "completed", "epochs": 3}, [epoch_line(3, 3)])
    save_file({"w": torch.zeros(50_000)}, str(weights / "best.safetensors"))
    (weights / "best.safetensors").write_bytes((weights / "best.safetensors").read_bytes()[:50_000])
    deep = hand_made(root, "20260203-100000-0000cc", None, [epoch_line(1, 3)])
    (deep / "project.msproj").write_text("[" * 100_000 + "]" * 100_000)
    widget = RunsPanel(ask=lambda title, text: True)
    qtbot.addWidget(widget)
    widget.set_project_path(tmp_path / "p.msproj")
    table = rows(widget)
    assert [row["status"] for row in table] == ["unreadable"] * 3
    assert [row["epochs"] for row in table] == ["1", "3", "2"]  # what can still be read is shown
    tips = [widget.tree.topLevelItem(r).toolTip(1) for r in range(3)]
    assert "project.msproj (the run's snapshot): nested deeper than" in tips[0]
    assert "best.safetensors: truncated (its header says 200.1 KB, the file holds 50.0 KB)" in tips[1]
    assert "metrics.jsonl line 2: not a JSON object (found a list)" in tips[2]
    widget.tree.topLevelItem(1).setSelected(True)
    assert widget.where.text().startswith(f"{weights.name} is unreadable: best.safetensors: truncated")
    assert not widget.show_button.isEnabled() and not widget.load_button.isEnabled()
