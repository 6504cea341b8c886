"""The search GUI: marking a setting as a search dimension from the inspector and the training settings
(undoable), the Search dock showing a study's trials, applying a trial (undone exactly), no torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog

from modstudio.engine.search.study import default_storage, default_study_name
from modstudio.graph.io import project_to_dict
from modstudio.graph.model import SearchDimension
from modstudio.graph.search_ops import SetObjectives, SetSearchDimension
from modstudio.ui.search_dimension import DimensionDialog
from tests.environment import python_path

ROOT = Path(__file__).resolve().parents[2]
UNITS = "node:main/fc1.out_features"
LR = "training.learning_rate"


@pytest.fixture
def answer_dialog(monkeypatch):
    """The dimension editor answers as a person would: ``fields`` typed in, then "Search over it"."""
    typed: dict[str, str] = {}
    seen: list[DimensionDialog] = []

    def exec_(self: DimensionDialog) -> int:
        seen.append(self)
        for name, text in typed.items():
            getattr(self, name).setText(text)
        if self.ok.isEnabled():
            self.ok.click()
        return self.result() or QDialog.DialogCode.Rejected

    monkeypatch.setattr(DimensionDialog, "exec", exec_)
    return typed, seen


def select(window, name: str) -> None:
    node = window.scene.module.node_named(name)
    window.scene.clearSelection()
    window.scene.nodes[node.id].setSelected(True)
    window.inspector.rebuild()


def dims(window) -> dict[str, SearchDimension]:
    search = window.doc.project.search
    return {d.target: d for d in search.dimensions} if search is not None else {}


def test_a_dimension_marked_in_the_inspector_is_in_the_project_and_undo_removes_it(window, qtbot, answer_dialog):
    typed, seen = answer_dialog
    select(window, "fc1")
    toggle, label, _hint = window.inspector.marks.toggles[UNITS]
    assert not toggle.isChecked()
    typed.update(low="16", high="128", step="16")
    qtbot.mouseClick(toggle, Qt.MouseButton.LeftButton)
    assert dims(window)[UNITS] == SearchDimension(UNITS, "int", low=16, high=128, step=16)
    QApplication.processEvents()
    toggle, label, _hint = window.inspector.marks.toggles[UNITS]  # the inspector may have rebuilt
    assert toggle.isChecked() and "16 … 128, step 16" in toggle.toolTip()
    assert "f0c040" in label.styleSheet()  # the field's name turns yellow
    listed = [window.search.dimensions.item(i).text() for i in range(window.search.dimensions.count())]
    assert listed == [f"{UNITS}: 16 … 128, step 16"]
    assert seen[0].windowTitle() == f"Search over {UNITS}"

    window.stack.undo()
    QApplication.processEvents()
    assert window.doc.project.search is None
    toggle, label, _hint = window.inspector.marks.toggles[UNITS]
    assert not toggle.isChecked() and "f0c040" not in label.styleSheet()
    window.stack.redo()
    assert UNITS in dims(window)


def test_the_dimension_editor_refuses_a_range_the_project_refuses(window, qtbot, answer_dialog):
    typed, seen = answer_dialog
    select(window, "fc1")
    typed.update(low="64", high="8")
    qtbot.mouseClick(window.inspector.marks.toggles[UNITS][0], Qt.MouseButton.LeftButton)
    assert window.doc.project.search is None  # nothing was done
    assert "must be below high" in seen[0].problem.text() and not seen[0].ok.isEnabled()


def test_a_training_setting_is_marked_from_the_training_panel(window, qtbot, answer_dialog):
    _typed, seen = answer_dialog
    toggle = window.training.panel.marks.toggles[LR][0]
    qtbot.mouseClick(toggle, Qt.MouseButton.LeftButton)  # the editor's proposal: x0.1 .. x10, log scale
    assert dims(window)[LR] == SearchDimension(LR, "float", low=0.001, high=0.1, log=True)
    assert toggle.isChecked()
    window.stack.undo()
    assert window.doc.project.search is None and not toggle.isChecked()
    optimizer = window.training.panel.marks.toggles["training.optimizer"][0]
    qtbot.mouseClick(optimizer, Qt.MouseButton.LeftButton)  # a choice: every choice ticked
    assert dims(window)["training.optimizer"].choices == ["sgd", "adam", "adamw"]
    # the second time the editor shows the dimension and can remove it
    remove = []
    original = type(seen[0]).exec

    def stop(self):
        remove.append(self.remove_button is not None)
        self.remove_button.click()
        return self.result()

    type(seen[0]).exec = stop
    try:
        qtbot.mouseClick(optimizer, Qt.MouseButton.LeftButton)
    finally:
        type(seen[0]).exec = original
    assert remove == [True] and window.doc.project.search is None


def write_study(project_path: Path, trials: list[tuple[str, dict, list[float] | None]]) -> None:
    """A study as ``modstudio search`` leaves one: params named by target, run folders, the objectives."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=default_storage(project_path),
        study_name=default_study_name(project_path),
        directions=["maximize", "minimize"],
    )
    study.set_user_attr("objectives", ["accuracy", "-flops"])
    spaces = {
        UNITS: optuna.distributions.IntDistribution(16, 128, step=16),
        LR: optuna.distributions.FloatDistribution(1e-3, 1e-1, log=True),
    }
    for i, (state, params, values) in enumerate(trials):
        study.add_trial(
            optuna.trial.create_trial(
                state=getattr(optuna.trial.TrialState, state),
                params=params,
                distributions={k: spaces[k] for k in params},
                values=values,
                user_attrs={
                    "run_dir": f"p.runs/trial-{i}",
                    "params": PARAMS[i],
                    "flops": values[1] if values else None,
                },
            )
        )


PARAMS = [100, 300, 200, 500, 150]  # the trials' parameter counts, as the search records them
TRIALS = [
    ("COMPLETE", {UNITS: 16, LR: 0.01}, [0.80, 1000.0]),
    ("COMPLETE", {UNITS: 64, LR: 0.003}, [0.90, 5000.0]),
    ("COMPLETE", {UNITS: 128, LR: 0.05}, [0.85, 9000.0]),  # beaten by trial 1 on both
    ("COMPLETE", {UNITS: 112, LR: 0.02}, [0.95, 8000.0]),
    ("FAIL", {UNITS: 32, LR: 0.08}, None),
]


@pytest.fixture
def searched(window, tmp_path):
    """The window's project saved with two dimensions, and a study of five trials beside it."""
    path = tmp_path / "p.msproj"
    window.stack.perform(SetSearchDimension(UNITS, SearchDimension(UNITS, "int", low=16, high=128, step=16)))
    window.stack.perform(SetSearchDimension(LR, SearchDimension(LR, "float", low=1e-3, high=0.1, log=True)))
    window.stack.perform(SetObjectives(["accuracy", "-flops"]))
    assert window.save_to(path)
    assert window.search.reader.wait(30)  # its read of the (not yet existing) study is over
    write_study(path, TRIALS)
    return path


def read_now(window, qtbot) -> None:
    window.search.dock.show()
    window.search.reader.read()
    assert window.search.reader.wait(30)
    QApplication.processEvents()


def test_the_dock_shows_the_trials_of_a_study(window, qtbot, searched):
    read_now(window, qtbot)
    dock = window.search
    table = dock.table
    assert table.rowCount() == 5
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers == ["#", "status", "accuracy", "FLOPs", "fc1.out_features", "learning_rate", "duration"]
    rows = {table.item(r, 0).text(): [table.item(r, c).text() for c in range(1, 6)] for r in range(5)}
    assert rows["0 ★"] == ["complete", "0.8", "1000", "16", "0.01"]
    assert rows["4"] == ["failed", "", "", "32", "0.08"]
    assert "2" in rows  # trial 2 is beaten: no star
    assert sorted(dock.state.front) == [0, 1, 3]
    assert sorted(dock.pareto.front) == [0, 1, 3] and len(dock.pareto.shown) == 4
    assert dock.pareto.against.currentData() == "-flops"  # the cost the study optimises, at first
    dock.pareto.against.setCurrentIndex(dock.pareto.against.findData("-params"))
    dock.pareto.against.activated.emit(dock.pareto.against.currentIndex())
    assert sorted(dock.pareto.front) == [0, 1, 2, 3]  # trial 2 has fewer parameters than trial 1
    assert dock.pareto.shown[2] == (200.0, 0.85)
    assert len(dock.parallel.lines) == 4
    assert dock.parallel.axes == ["out_features", "learning_rate", "accuracy", "FLOPs"]
    assert "Best: trial 3" in dock.best.text() and "accuracy 0.95" in dock.best.text()
    assert dock.counts.text() == "5 trials: 4 complete, 1 failed"
    dock.tabs.setCurrentWidget(dock.importance)  # importances are computed when shown
    qtbot.waitUntil(lambda: bool(dock.importance.values), timeout=30_000)
    assert set(dock.importance.values) == {UNITS, LR}


def test_applying_a_trial_is_one_edit_and_undo_restores_the_project_exactly(window, qtbot, searched):
    read_now(window, qtbot)
    dock = window.search
    before = json.dumps(project_to_dict(window.doc.project), sort_keys=True)
    dock.table.choose(3)
    assert dock.apply_button.isEnabled()
    qtbot.mouseClick(dock.apply_button, Qt.MouseButton.LeftButton)
    project = window.doc.project
    assert project.main_module.node_named("fc1").params["out_features"] == 112
    assert project.training.learning_rate == 0.02
    assert window.stack.undoText() == "Apply search trial 3"
    window.stack.undo()
    assert json.dumps(project_to_dict(window.doc.project), sort_keys=True) == before
    opened = []
    dock.open_run.connect(opened.append)
    dock.table.choose(1)
    qtbot.mouseClick(dock.open_button, Qt.MouseButton.LeftButton)
    assert opened == [searched.parent / "p.runs" / "trial-1"]


def test_a_search_needs_a_dimension_before_it_starts(window):
    window.search.dock.show()
    assert not window.search.start()
    assert "Nothing to search yet" in window.reported[-1]
    assert window.search.run is None


GUI_THREAD = """
import sys, threading

tried = []  # the threads that tried to import torch
optuna_on = []  # the thread that imported optuna first


class NoTorch:  # torch cannot be imported at all here: whatever needs it fails, and says where it ran
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            tried.append(threading.current_thread().name)
            raise ModuleNotFoundError("no torch in this test")
        if name == "optuna" and not optuna_on:
            optuna_on.append(threading.current_thread().name)
        return None


sys.meta_path.insert(0, NoTorch())
from PySide6.QtCore import QSettings
from modstudio.blocks import default_catalog
from modstudio.ui.app import create_app
from modstudio.ui.main_window import MainWindow

app = create_app([])
window = MainWindow(default_catalog(), QSettings(sys.argv[2], QSettings.Format.IniFormat))
window.report = lambda title, text: print("reported:", text)
assert window.open_path(sys.argv[1])
window.show()
node = window.scene.module.node_named("fc1")
window.scene.nodes[node.id].setSelected(True)
window.inspector.rebuild()
assert window.inspector.marks.toggles["node:main/fc1.out_features"][0].isChecked()
dock = window.search
dock.dock.show()
dock.tabs.setCurrentWidget(dock.importance)
for _ in range(2):  # the trials, then the importances they call for
    dock.reader.read()
    assert dock.reader.wait(60)
    app.processEvents()
assert dock.table.rowCount() == 5, dock.table.rowCount()
assert dock.importance.values, "no importances"
dock.table.choose(1)
assert dock.apply_chosen()
assert window.doc.project.main_module.node_named("fc1").params["out_features"] == 64
window.stack.setClean()
print("torch tried on:", sorted(set(tried)))
print("optuna first imported on:", optuna_on)
"""


def test_the_search_gui_needs_no_torch_on_the_gui_thread(window, searched, tmp_path):
    """With torch impossible to import: the marks, reading the study (optuna in a thread), importances and
    applying a trial all work, and nothing on the GUI thread even tried to import torch (the dataset
    preview's thread may)."""
    window.stack.setClean()
    result = subprocess.run(
        [sys.executable, "-c", GUI_THREAD, str(searched), str(tmp_path / "s.ini")],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": python_path(ROOT)},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    tried = next(line for line in result.stdout.splitlines() if line.startswith("torch tried on:"))
    assert "MainThread" not in tried, result.stdout
    assert "optuna first imported on: ['study-reader-worker']" in result.stdout  # not on the GUI thread


def test_a_search_the_command_refuses_comes_back_as_its_sentence(window, qtbot, tmp_path):
    """The real ``modstudio search`` in its QProcess: a project without a search section is refused (exit 2)
    and the dock's run reports the command's own sentence."""
    from modstudio.ui.search_process import SearchOptions, SearchRun

    path = tmp_path / "plain.msproj"
    assert window.save_to(path)
    run = SearchRun(path, SearchOptions(trials=2, objectives=("accuracy", "-flops"), jobs=1, epochs=1))
    options = ["--trials", "2", "--objectives=accuracy,-flops", "--jobs", "1", "--epochs", "1"]
    assert run.command()[1][-9:] == ["search", str(path), *options]
    outcomes = []
    run.finished.connect(outcomes.append)
    run.start()
    qtbot.waitUntil(lambda: bool(outcomes), timeout=60_000)
    assert not outcomes[0].ok and not outcomes[0].stopped
    assert "has no search dimensions" in outcomes[0].text
    assert not (tmp_path / "plain.search.db").exists()


def test_the_study_is_read_in_a_thread_one_read_at_a_time(qtbot, monkeypatch, tmp_path):
    """Reads asked for while one is going are folded into one more read after it: a slow disk makes the
    table lag, never piles up threads; the GUI thread never waits for a read."""
    import threading
    import time

    from modstudio.ui import search_reader

    calls: list[str] = []
    release = threading.Event()

    def slow_read(place, objectives):
        calls.append(threading.current_thread().name)
        release.wait(10)
        return search_reader.StudyState(objectives=list(objectives))

    monkeypatch.setattr(search_reader, "read_state", slow_read)
    reader = search_reader.StudyReader()
    states = []
    reader.state_read.connect(states.append)
    started = time.monotonic()
    reader.set_place(search_reader.StudyPlace("sqlite:///nowhere.db", "p"), ["accuracy"])
    for _ in range(5):
        reader.read()
    assert time.monotonic() - started < 1.0  # nothing waited for the read
    qtbot.waitUntil(lambda: len(calls) == 1)
    release.set()
    assert reader.wait(10)
    qtbot.waitUntil(lambda: len(states) == 2)
    assert reader.wait(10)
    assert len(calls) == 2 and "MainThread" not in calls


def test_module_parameters_are_marked_on_the_module_page_and_on_each_use(window, qtbot, answer_dialog):
    """A ModuleDef's parameter (its default, ``module:``) and one use's value (``node:``) are two targets."""
    from modstudio.blocks import default_catalog
    from modstudio.ui.files import default_project

    typed, _seen = answer_dialog
    window.load(default_project(default_catalog(), "switch_transformer"))
    select(window, "encoder1")
    typed.update(low="2", high="8", step="2")
    qtbot.mouseClick(window.inspector.marks.toggles["node:main/encoder1.experts"][0], Qt.MouseButton.LeftButton)
    window.drill_in("SwitchEncoder")
    window.inspector.rebuild()
    typed.update(low="16", high="64", step="16")
    qtbot.mouseClick(window.inspector.marks.toggles["module:SwitchEncoder.dim"][0], Qt.MouseButton.LeftButton)
    assert dims(window) == {
        "node:main/encoder1.experts": SearchDimension("node:main/encoder1.experts", "int", low=2, high=8, step=2),
        "module:SwitchEncoder.dim": SearchDimension("module:SwitchEncoder.dim", "int", low=16, high=64, step=16),
    }
    assert window.inspector.marks.toggles["module:SwitchEncoder.dim"][0].isChecked()
    assert not window.inspector.marks.toggles["module:SwitchEncoder.heads"][0].isChecked()
