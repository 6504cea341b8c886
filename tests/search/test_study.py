"""Reading a search study as the editor does: trials, Pareto front, importances, the default storage."""

from __future__ import annotations

from pathlib import Path

import optuna

from modstudio.engine.search.study import TrialRow, default_storage, importances, pareto_front, read_trials


def _study(tmp_path: Path) -> tuple[str, str]:
    storage = default_storage(tmp_path / "moe.msproj")
    study = optuna.create_study(study_name="moe", storage=storage, directions=["maximize", "minimize"])
    study.set_user_attr("objectives", ["accuracy", "-flops"])
    for experts, accuracy, flops in [(2, 0.80, 100.0), (4, 0.90, 200.0), (6, 0.85, 300.0), (8, 0.95, 400.0)]:
        trial = optuna.trial.create_trial(
            params={"node:main/moe.num_experts": experts},
            distributions={"node:main/moe.num_experts": optuna.distributions.IntDistribution(2, 8, step=2)},
            values=[accuracy, flops],
            user_attrs={"run_dir": f"/runs/{experts}"},
        )
        study.add_trial(trial)
    study.enqueue_trial({"node:main/moe.num_experts": 4})  # a trial waiting to run
    return storage, "moe"


def test_default_storage_is_sqlite_beside_the_project(tmp_path: Path) -> None:
    assert (
        default_storage(tmp_path / "a" / "net.msproj") == f"sqlite:///{(tmp_path / 'a' / 'net.search.db').as_posix()}"
    )


def test_reading_a_study_that_does_not_exist_creates_nothing(tmp_path: Path) -> None:
    storage = default_storage(tmp_path / "net.msproj")
    assert read_trials(storage, "net") == []
    assert importances(storage, "net") == {}
    assert list(tmp_path.iterdir()) == []


def test_trials_front_and_importances(tmp_path: Path) -> None:
    storage, name = _study(tmp_path)
    rows = read_trials(storage, name)
    assert [r.number for r in rows] == [0, 1, 2, 3, 4]
    assert rows[1].params == {"node:main/moe.num_experts": 4} and rows[1].values == [0.90, 200.0]
    assert rows[1].run_dir == "/runs/4" and rows[1].state == "COMPLETE"
    assert rows[4].state == "WAITING" and rows[4].values is None
    front = pareto_front(rows, ["accuracy", "-flops"])
    assert [r.number for r in front] == [0, 1, 3]  # 6 experts: less accurate and costlier than 4
    assert [r.number for r in pareto_front(rows, ["accuracy"])] == []  # values do not fit the objectives
    found = importances(storage, name)
    assert set(found) == {"accuracy", "-flops"}
    assert set(found["-flops"]) == {"node:main/moe.num_experts"}
    assert abs(sum(found["-flops"].values()) - 1.0) < 1e-9


def test_pareto_of_one_objective_is_the_best() -> None:
    rows = [TrialRow(0, "COMPLETE", values=[0.7]), TrialRow(1, "COMPLETE", values=[0.9]), TrialRow(2, "FAIL")]
    assert [r.number for r in pareto_front(rows, ["accuracy"])] == [1]
    assert [r.number for r in pareto_front(rows, ["loss"])] == [0]
