"""The editor session without Qt: editing, undo/redo and the dirty flag, the shown module, saving, runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from modstudio.blocks import default_catalog
from modstudio.editor import EditorSession
from modstudio.graph.document import OperationError
from modstudio.graph.io import load_project
from modstudio.graph.ops import AddNode
from modstudio.library import load_template


@pytest.fixture
def session(tmp_path: Path) -> EditorSession:
    return EditorSession.of_project(
        load_template("moe_2d", default_catalog()), default_catalog(), None, tmp_path / "scratch.runs"
    )


def recorder(session: EditorSession) -> list[tuple]:
    seen: list[tuple] = []
    session.dirty_changed.connect(lambda dirty: seen.append(("dirty", dirty)))
    session.path_changed.connect(lambda path: seen.append(("path", path)))
    session.module_shown.connect(lambda path: seen.append(("module", path)))
    session.runs_changed.connect(lambda: seen.append(("runs",)))
    return seen


def fake_run(root: Path, name: str, status: str | None = "completed", weights: bool = True) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "metrics.jsonl").write_text("")
    if status is not None:
        (folder / "run.json").write_text(json.dumps({"status": status, "epochs": 2}))
    if weights:
        (folder / "best.safetensors").write_bytes(b"weights")
    return folder


def test_the_session_loads_neither_qt_nor_torch() -> None:
    code = (
        "import sys, modstudio.editor.session\n"
        "bad = sorted(m for m in ('PySide6', 'torch', 'shiboken6') if m in sys.modules)\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_edit_undo_redo_and_the_dirty_flag(session: EditorSession) -> None:
    seen = recorder(session)
    count = len(session.project.main_module.nodes)
    assert not session.dirty
    session.perform(AddNode("main", block="relu", name="extra"))
    assert session.dirty and len(session.project.main_module.nodes) == count + 1
    assert session.history.undo_text == "Add ReLU 'extra'"
    assert session.undo() == "Add ReLU 'extra'"
    assert not session.dirty and len(session.project.main_module.nodes) == count  # back at the opened state
    session.redo()
    assert session.dirty and len(session.project.main_module.nodes) == count + 1
    assert seen == [("dirty", True), ("dirty", False), ("dirty", True)]


def test_a_refused_edit_changes_nothing(session: EditorSession) -> None:
    with pytest.raises(OperationError, match="there is no block type 'nonsense'"):
        session.perform(AddNode("main", block="nonsense"))
    assert not session.dirty and session.history.undo_text is None


def test_the_saved_state_once_undone_and_replaced_cannot_come_back(session: EditorSession, tmp_path: Path) -> None:
    session.perform(AddNode("main", block="relu", name="a"))
    session.save(tmp_path / "p.msproj")
    session.undo()
    assert session.dirty
    session.perform(AddNode("main", block="relu", name="b"))  # the saved step is gone from redo
    session.undo()
    assert session.dirty  # as QUndoStack: the saved state is no longer reachable


def test_save_gives_the_suffix_writes_the_file_and_says_the_path(session: EditorSession, tmp_path: Path) -> None:
    seen = recorder(session)
    session.perform(AddNode("main", block="relu", name="extra"))
    path, moved = session.save(tmp_path / "net")
    assert path == tmp_path / "net.msproj" and session.path == path
    assert "extra" in [n.name for n in load_project(path, default_catalog()).main_module.nodes]
    assert not session.dirty and session.title.endswith("— net.msproj")
    assert ("path", path) in seen and seen[-1] != ("dirty", True)
    assert moved is None  # no runs were made before the save


def test_a_save_that_fails_keeps_the_session_unsaved(session: EditorSession, tmp_path: Path) -> None:
    session.perform(AddNode("main", block="relu", name="extra"))
    with pytest.raises(OSError):
        session.save(tmp_path / "no such folder" / "p.msproj")
    assert session.dirty and session.path is None


def test_the_shown_module_is_kept_once_and_unknown_modules_fall_back(session: EditorSession) -> None:
    seen = recorder(session)
    assert session.module_path == ["main"]
    session.drill_in("Expert")
    assert session.module_path == ["main", "Expert"] and session.shown_module == "Expert"
    session.go_up()
    session.go_up()  # at main: stays there
    session.open_module("Expert")
    session.show_module(["main", "gone"])
    assert seen == [
        ("module", ["main", "Expert"]),
        ("module", ["main"]),
        ("module", ["main", "Expert"]),
        ("module", ["main"]),
    ]


def test_runs_of_an_unsaved_project_move_beside_the_file_on_its_first_save(
    session: EditorSession, tmp_path: Path
) -> None:
    scratch = session.runs_root
    assert scratch == tmp_path / "scratch.runs" and session.runs() == []
    older = fake_run(scratch, "20260101-100000-aaaaaa")
    newer = fake_run(scratch, "20260101-110000-bbbbbb", weights=False)
    assert [r.folder for r in session.runs()] == [newer, older]
    assert session.latest_weights() == older / "best.safetensors"  # the newest run with weights
    seen = recorder(session)
    _, moved = session.save(tmp_path / "net.msproj")
    target = tmp_path / "net.runs"
    assert moved is not None and sorted(moved.moved) == [target / older.name, target / newer.name]
    assert moved.text() == f"Moved 2 runs to {target}"
    assert not older.exists() and session.runs_root == target
    assert [r.folder.name for r in session.runs()] == [newer.name, older.name]
    assert session.latest_weights() == target / older.name / "best.safetensors"
    assert ("runs",) in seen
    session.save(tmp_path / "copy.msproj")  # only the first save moves runs
    assert (target / older.name).is_dir()


def test_a_run_still_training_moves_once_it_has_ended(session: EditorSession, tmp_path: Path) -> None:
    going = fake_run(session.runs_root, "20260101-120000-cccccc", status=None, weights=False)
    session.training_started(going)
    _, moved = session.save(tmp_path / "net.msproj")
    assert moved is not None and moved.waiting == [going] and moved.moved == []
    assert moved.text() == "1 run still training there moves when it ends"
    assert going.is_dir()  # the worker keeps writing where it is
    done = session.training_ended()
    assert done is not None and done.moved == [tmp_path / "net.runs" / going.name]
    assert not going.exists() and session.current_run is None


def test_a_run_that_cannot_move_stays_and_says_why(session: EditorSession, tmp_path: Path) -> None:
    run = fake_run(session.runs_root, "20260101-100000-aaaaaa")
    (tmp_path / "net.runs" / run.name).mkdir(parents=True)  # the name is taken there
    _, moved = session.save(tmp_path / "net.msproj")
    assert moved is not None and moved.moved == [] and run.is_dir()
    assert moved.failed == [f"{run.name} stays in {run.parent}: {tmp_path / 'net.runs'} already has a run of that name"]


def test_a_missing_runs_folder_means_no_runs(tmp_path: Path) -> None:
    project = load_template("mlp_2d", default_catalog())
    session = EditorSession.of_project(project, default_catalog(), tmp_path / "gone.msproj")
    assert session.runs() == [] and session.latest_weights() is None
    unsaved = EditorSession.of_project(project, default_catalog())
    assert unsaved.runs_root is None and unsaved.runs() == []
    _, moved = unsaved.save(tmp_path / "x.msproj")
    assert moved is None


def test_a_failing_view_does_not_stop_the_session(session: EditorSession) -> None:
    def broken(_dirty: bool) -> None:
        raise RuntimeError("a view went away")

    seen = recorder(session)
    session.dirty_changed.connect(broken)
    session.perform(AddNode("main", block="relu"))
    assert session.dirty and seen == [("dirty", True)]


def test_a_run_whose_folder_appeared_after_the_save_moves_when_training_ends(
    session: EditorSession, tmp_path: Path
) -> None:
    session.save(tmp_path / "net.msproj")  # the worker had not made its folder yet
    late = fake_run(session.scratch_runs, "20260101-130000-dddddd")
    moved = session.training_ended()
    assert moved is not None and moved.moved == [tmp_path / "net.runs" / late.name] and not late.exists()


def test_starting_weights_from_a_run_that_moved_name_its_new_place(session: EditorSession, tmp_path: Path) -> None:
    from modstudio.graph.graft import SetInitWeights

    run = fake_run(session.runs_root, "20260101-100000-aaaaaa")
    session.perform(SetInitWeights(str(run / "best.safetensors")))  # what Load weights does while unsaved
    path, _ = session.save(tmp_path / "net.msproj")
    assert session.project.training.init_weights == f"net.runs/{run.name}/best.safetensors"
    saved = load_project(path, default_catalog())
    assert saved.training.init_weights == f"net.runs/{run.name}/best.safetensors"
    assert (tmp_path / saved.training.init_weights).is_file()
