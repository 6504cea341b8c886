"""A project's search study as the editor and the command line read it: torch-free, optuna imported lazily.

The study lives in an Optuna RDB storage, by default SQLite beside the project
(``sqlite:///<folder>/<stem>.search.db``), named after the project's stem. Its trials' params are
named by their targets (``node:main/moe.num_experts``), ``trial.user_attrs["run_dir"]`` is the
trial's run folder and ``study.user_attrs["objectives"]`` the objectives it optimises.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import optuna

DB_SUFFIX = ".search.db"
T = TypeVar("T")
OPEN_ATTEMPTS = 5  # a new SQLite study opened by several processes at once (see opened)
# objective name -> the direction optuna optimises it in
DIRECTIONS = {"accuracy": "maximize", "loss": "minimize", "-params": "minimize", "-flops": "minimize"}


@dataclass(frozen=True)
class TrialRow:
    """One trial as the trials table shows it."""

    number: int
    state: str  # RUNNING, COMPLETE, PRUNED, FAIL, WAITING
    params: dict[str, Any] = field(default_factory=dict)
    values: list[float] | None = None  # one per objective, in the study's order (complete trials)
    duration_s: float | None = None
    run_dir: str | None = None
    # the last value reported (validation accuracy or loss per epoch), for pruned and running trials
    intermediate: dict[int, float] = field(default_factory=dict)
    error: str | None = None  # why a failed trial failed
    param_count: int | None = None  # the trial's network: parameters and FLOPs per sample (whatever the objectives)
    flops: int | None = None
    test_accuracy: float | None = None


def default_storage(project_path: str | os.PathLike[str]) -> str:
    """``sqlite:///<folder>/<stem>.search.db``: the study beside the project file."""
    path = Path(project_path).resolve()
    return f"sqlite:///{path.with_name(path.stem + DB_SUFFIX).as_posix()}"


def default_study_name(project_path: str | os.PathLike[str]) -> str:
    return Path(project_path).stem


def storage_exists(storage_url: str) -> bool:
    """False for a SQLite file that is not there yet (reading must not create it); True otherwise."""
    prefix = "sqlite:///"
    if storage_url.startswith(prefix):
        return Path(storage_url[len(prefix) :]).is_file()
    return True


def load_study(storage_url: str, study_name: str) -> optuna.Study | None:
    """The study, or None when the storage or the study does not exist yet."""
    if not storage_exists(storage_url):
        return None
    import optuna

    try:
        return opened(storage_url, lambda: optuna.load_study(study_name=study_name, storage=storage_url))
    except KeyError:  # no study of that name in the storage
        return None


def opened(storage_url: str, open_it: Callable[[], T]) -> T:
    """``open_it()``, tried again while another process creates a new SQLite file's tables (two searches,
    or a search and a reader, opening one study at once: "table alembic_version already exists")."""
    from sqlalchemy.exc import SQLAlchemyError

    for attempt in range(OPEN_ATTEMPTS):
        try:
            return open_it()
        except SQLAlchemyError:
            if not storage_url.startswith("sqlite") or attempt + 1 == OPEN_ATTEMPTS:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable: the last attempt returns or raises")


def read_trials(storage_url: str, study_name: str) -> list[TrialRow]:
    """Every trial of the study in number order ([] when there is no study yet)."""
    study = load_study(storage_url, study_name)
    if study is None:
        return []
    return [trial_row(t) for t in study.get_trials(deepcopy=False)]


def study_objectives(storage_url: str, study_name: str) -> list[str]:
    study = load_study(storage_url, study_name)
    return list(study.user_attrs.get("objectives", [])) if study is not None else []


def trial_row(trial: optuna.trial.FrozenTrial) -> TrialRow:
    duration = trial.duration.total_seconds() if trial.duration is not None else None
    return TrialRow(
        number=trial.number,
        state=trial.state.name,
        params=dict(trial.params),
        values=list(trial.values) if trial.values is not None else None,
        duration_s=duration,
        run_dir=trial.user_attrs.get("run_dir"),
        intermediate=dict(trial.intermediate_values),
        error=trial.user_attrs.get("error"),
        param_count=trial.user_attrs.get("params"),
        flops=trial.user_attrs.get("flops"),
        test_accuracy=trial.user_attrs.get("test_accuracy"),
    )


def pareto_front(rows: list[TrialRow], objectives: list[str]) -> list[TrialRow]:
    """The complete trials no other complete trial beats on every objective (accuracy up, the rest down)."""
    signs = [-1.0 if DIRECTIONS[o] == "maximize" else 1.0 for o in objectives]
    done = [r for r in rows if r.state == "COMPLETE" and r.values is not None and len(r.values) == len(signs)]
    costs = [[s * v for s, v in zip(signs, r.values or [], strict=True)] for r in done]

    def beaten(i: int) -> bool:
        return any(
            all(a <= b for a, b in zip(other, costs[i], strict=True)) and other != costs[i]
            for j, other in enumerate(costs)
            if j != i
        )

    return [row for i, row in enumerate(done) if not beaten(i)]


def importances(storage_url: str, study_name: str) -> dict[str, dict[str, float]]:
    """Objective -> (target -> importance, summing to 1), by optuna.importance (fANOVA); an objective
    gets {} while fewer than two complete trials vary the params."""
    study = load_study(storage_url, study_name)
    if study is None:
        return {}
    import optuna

    objectives = list(study.user_attrs.get("objectives", [])) or [
        f"objective {i}" for i in range(len(study.directions))
    ]
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    found: dict[str, dict[str, float]] = {}
    for i, name in enumerate(objectives):
        if len(complete) < 2:
            found[name] = {}
            continue
        sign = -1.0 if study.directions[i] == optuna.study.StudyDirection.MAXIMIZE else 1.0
        try:
            with warnings.catch_warnings():  # the evaluator reminds that it ranks for low values: they are (sign)
                warnings.simplefilter("ignore", UserWarning)
                ranked = optuna.importance.get_param_importances(study, target=lambda t, i=i, s=sign: s * t.values[i])
        except (RuntimeError, ValueError):  # no params varied yet, or a single distinct value
            ranked = {}
        found[name] = dict(ranked)
    return found
