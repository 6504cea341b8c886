"""``modstudio search`` on tiny moons: it finishes, resumes where it stopped, records each trial as a run
folder, names a failed trial's reason and goes on, and refuses bad input with named problems."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modstudio.cli import main
from modstudio.engine.search.study import default_storage, read_trials
from modstudio.graph.io import load_project
from modstudio.graph.model import SearchDimension
from modstudio.graph.search_space import read_value

from .conftest import moons_project


def test_a_search_finishes_then_resumes_where_it_stopped(moons: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", str(moons), "--trials", "3", "--jobs", "2", "--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert "3 trials, 0 already done" in first and "best trial:" in first
    assert main(["search", str(moons), "--trials", "6", "--jobs", "2", "--seed", "2"]) == 0
    second = capsys.readouterr().out
    assert "6 trials, 3 already done" in second and "6 trials in the study (6 complete)" in second
    rows = read_trials(default_storage(moons), "moons")
    assert [r.number for r in rows] == [0, 1, 2, 3, 4, 5]
    assert all(r.state == "COMPLETE" for r in rows)
    for row in rows:  # each trial is a normal run folder of the project, trained with the trial's values
        assert f"trial {row.number}  COMPLETE" in (first if row.number < 3 else second)
        assert row.run_dir is not None and Path(row.run_dir).parent == moons.with_name("moons.runs")
        trained = load_project(Path(row.run_dir) / "project.msproj")
        assert {t: read_value(trained, t) for t in row.params} == row.params
        assert json.loads((Path(row.run_dir) / "run.json").read_text())["status"] == "completed"
        assert 0.0 <= (row.values or [-1])[0] <= 1.0
        width = row.params["node:main/fc1.out_features"]
        assert row.param_count == (2 * width + width) + (width * 64 + 64) + (64 * 2 + 2)  # fc1, fc2, head
        assert row.flops is not None and row.flops > 0 and row.test_accuracy is not None
    assert load_project(moons).training.learning_rate == 0.01  # the project itself is left as it was


def test_failed_trials_are_named_and_the_search_goes_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = moons_project(tmp_path, SearchDimension("data.batch_size", "choice", choices=[4096, 8192]))
    assert main(["search", str(path), "--trials", "3", "--jobs", "1"]) == 1  # no trial completed
    out = capsys.readouterr().out
    rows = read_trials(default_storage(path), "moons")
    assert [(r.number, r.state) for r in rows] == [(0, "FAIL"), (1, "FAIL"), (2, "FAIL")]
    assert all("batch" in (r.error or "") for r in rows)
    assert out.count("FAIL") == 3 and "no trial completed" in out


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--trials", "0"], "--trials must be at least 1, not 0"),
        (["--objectives", "accuracy,speed"], "unknown objective 'speed'"),
        (["--storage", "nosuchdb://x"], "cannot open the storage nosuchdb://x"),
    ],
)
def test_bad_options_are_named(moons: Path, args: list[str], problem: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", str(moons), *args]) == 2
    assert problem in capsys.readouterr().err


def test_a_project_without_dimensions_or_with_a_broken_one_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = moons_project(tmp_path)
    data = json.loads(path.read_text())
    del data["search"]
    path.write_text(json.dumps(data))
    assert main(["search", str(path)]) == 2
    assert "has no search dimensions" in capsys.readouterr().err
    data["search"] = {"dimensions": [{"target": "node:main/fc9.out_features", "kind": "int", "low": 2, "high": 4}]}
    path.write_text(json.dumps(data))
    assert main(["search", str(path)]) == 2
    assert (
        "search.dimensions[0]: node:main/fc9.out_features: module 'main' has no node named 'fc9'"
        in capsys.readouterr().err
    )


def test_a_study_of_other_objectives_is_not_mixed_in(moons: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import optuna

    study = optuna.create_study(study_name="moons", storage=default_storage(moons), directions=["minimize"])
    study.set_user_attr("objectives", ["loss"])
    assert main(["search", str(moons), "--trials", "1"]) == 2
    assert "optimises loss, not accuracy" in capsys.readouterr().err


def test_validate_warns_of_a_dimension_that_cannot_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = moons_project(tmp_path)
    data = json.loads(path.read_text())
    data["search"]["dimensions"][1]["target"] = "node:main/fc9.out_features"
    path.write_text(json.dumps(data))
    assert main(["validate", str(path)]) == 0  # the project itself trains
    assert "warning: search.dimensions[1]: node:main/fc9.out_features: module 'main' has no node named 'fc9'" in (
        capsys.readouterr().err
    )
