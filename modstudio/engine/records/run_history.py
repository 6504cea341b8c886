"""Reading what past runs left behind (see :mod:`modstudio.engine.runs`), without torch.

A runs list must open instantly and never fail: a run still going has no ``run.json`` yet
and its ``metrics.jsonl`` may end in half a line; a killed run has neither a status nor a
summary; a damaged file (a corrupt ``run.json``, a broken line in the middle of
``metrics.jsonl``, a truncated ``best.safetensors``: see :mod:`modstudio.engine.records.run_files`)
makes the run "unreadable", with what is wrong in its ``error``. Every reader here tolerates
all of these and says what it found.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from modstudio.engine.errors import EngineError
from modstudio.engine.records import run_files

RUN_NAME = re.compile(r"^(\d{8}-\d{6})-[0-9a-f]+$")
RUNS_SUFFIX = ".runs"
ANALYSIS_FILE = "analysis.json"  # written by modstudio.engine.analysis.report
STALE_SECONDS = 120.0  # a run without a summary whose files were not touched for this long is not going any more


@dataclass(frozen=True)
class RunRecord:
    """One run folder as the runs list shows it. ``status``: completed, stopped, early_stopped,
    failed, running, interrupted (no summary and no recent writes) or unreadable."""

    folder: Path
    started: datetime | None
    status: str
    epochs: int  # epochs completed
    epochs_planned: int | None
    metric: str | None  # "accuracy" or "r2"
    test_value: float | None  # test accuracy (0..1) or R²
    dataset: str
    seconds: float | None
    error: str = ""

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def weights_file(self) -> Path | None:
        """The run's best weights, else its last ones; None when it saved none."""
        return weights_of(self.folder)

    @property
    def has_weights(self) -> bool:
        return self.weights_file is not None


def weights_of(folder: Path) -> Path | None:
    """A run folder's best weights, else its last ones; None when it saved none."""
    return next((folder / name for name in ("best.safetensors", "last.safetensors") if (folder / name).is_file()), None)


def runs_root_of(project_path: Path | None) -> Path:
    """Where a project's runs go: ``<dir>/<stem>.runs``, else the user data folder (torch-free: the GUI
    thread asks too; :func:`modstudio.engine.runs.default_runs_root` is this)."""
    if project_path is not None:
        return project_path.parent / f"{project_path.stem}{RUNS_SUFFIX}"
    import platformdirs

    return Path(platformdirs.user_data_dir("ModStudio")) / "runs"


def find_run(project_file: Path | None, run: str, usable: Callable[[Path], bool], lacking: str) -> Path:
    """A run folder: a path (a folder holding the run's project.msproj), or ``latest``: the newest of the
    project's runs that ``usable`` accepts. ``lacking``: what such a run has, named when none has it."""
    if run != "latest":
        path = Path(run).expanduser()
        if not (path / "project.msproj").is_file():
            raise EngineError(
                f"{path} is not a run folder (it has no project.msproj); a run written by modstudio.track's "
                'Tracker has one when the tracker is given the project: Tracker(..., project="model.msproj")',
                "settings",
            )
        return path
    root = runs_root_of(project_file) if project_file is not None else None
    if root is None or not root.is_dir():
        raise EngineError(f"there are no runs yet: {root} does not exist (train the project first)", "settings")
    runs = sorted(p for p in root.iterdir() if usable(p))
    if not runs:
        raise EngineError(f"no run in {root} has {lacking} yet", "settings")
    return runs[-1]


def read_json_lines(file: Path) -> list[dict[str, Any]]:
    """The JSON objects of a ``.jsonl`` file; a half-written or damaged line is skipped (see
    :func:`modstudio.engine.records.run_files.read_json_lines` for what was skipped), a missing file is []."""
    return run_files.read_json_lines(file).records


def read_metrics(folder: Path) -> list[dict[str, Any]]:
    """The run's progress, epoch and test records, in the order they were written."""
    return read_json_lines(Path(folder) / "metrics.jsonl")


def read_routing(folder: Path) -> list[dict[str, Any]]:
    """The run's routing reports (conditional layers' facts), in the order they were written."""
    return read_json_lines(Path(folder) / "routing.jsonl")


def read_statistics(folder: Path) -> list[dict[str, Any]]:
    """The run's per-module statistics records (``training.statistics_every``); [] when it recorded none."""
    return read_json_lines(Path(folder) / "statistics.jsonl")


def is_run_folder(path: Path) -> bool:
    return path.is_dir() and (
        RUN_NAME.match(path.name) is not None or (path / "run.json").exists() or (path / "metrics.jsonl").exists()
    )


def list_runs(root: Path | None, now: float | None = None) -> list[RunRecord]:
    """Every run folder under ``root``, newest first; a missing root has no runs."""
    if root is None or not Path(root).is_dir():
        return []
    try:
        folders = [p for p in Path(root).iterdir() if is_run_folder(p)]
    except OSError:
        return []
    records = [read_run(p, now) for p in folders]
    oldest = datetime.min
    return sorted(records, key=lambda r: (r.started or oldest, r.name), reverse=True)


def read_run(folder: Path, now: float | None = None) -> RunRecord:
    """One run folder's record; never raises for what a run folder may hold."""
    folder = Path(folder)
    started = _started(folder)
    lines = run_files.read_json_lines(folder / "metrics.jsonl")
    metrics = lines.records
    epochs = [m for m in metrics if m.get("type") == "epoch"]
    test = next((m for m in reversed(metrics) if m.get("type") == "test"), None)
    objects, damaged = run_files.read_json_files(folder)  # each read once: the checks and the record use them
    problems = lines.problems + damaged + run_files.damaged_weights(folder)
    info = objects.get("run.json", {})
    error = _joined(problems)
    summary = {**(test or {}), **info}
    status = "unreadable" if error else _status(folder, summary, now)
    if status == "failed":
        error = str(summary.get("error", "")) or "the run failed"
    done = _int(summary.get("epochs"))
    if done is None:
        done = _int(epochs[-1].get("epoch")) if epochs else 0
    planned = _int(epochs[-1].get("epochs")) if epochs else None
    metric, value = _test_value(summary)
    dataset = str(summary.get("dataset") or _project_dataset(objects.get("project.msproj")))
    seconds = _float(summary.get("seconds"))
    if seconds is None and epochs:
        seconds = sum(_float(e.get("seconds")) or 0.0 for e in epochs)
    return RunRecord(folder, started, status, done or 0, planned, metric, value, dataset, seconds, error)


def _joined(problems: list[str]) -> str:
    if len(problems) <= 3:
        return "; ".join(problems)
    return "; ".join(problems[:3]) + f"; and {len(problems) - 3} more"


def _status(folder: Path, summary: dict[str, Any], now: float | None) -> str:
    status = summary.get("status")
    if isinstance(status, str) and status:
        return status
    try:
        newest = max((p.stat().st_mtime for p in folder.iterdir() if p.is_file()), default=folder.stat().st_mtime)
    except OSError:  # deleted while being read
        return "interrupted"
    return "running" if (now if now is not None else time.time()) - newest < STALE_SECONDS else "interrupted"


def _started(folder: Path) -> datetime | None:
    match = RUN_NAME.match(folder.name)
    if match:
        try:
            return datetime.strptime(match.group(1), "%Y%m%d-%H%M%S")
        except ValueError:
            pass
    try:
        return datetime.fromtimestamp(folder.stat().st_mtime)
    except OSError:
        return None


def _test_value(summary: dict[str, Any]) -> tuple[str | None, float | None]:
    accuracy, r2 = _float(summary.get("test_accuracy")), _float(summary.get("test_r2"))
    if accuracy is not None:
        return "accuracy", accuracy
    if r2 is not None:
        return "r2", r2
    task = summary.get("task")
    return ("accuracy" if task == "classification" else "r2" if task == "regression" else None), None


def _project_dataset(project: dict[str, Any] | None) -> str:
    """The dataset named in the run's copy of the project (plain JSON: no validation needed to show it)."""
    try:
        return str(project["data"]["dataset"])  # type: ignore[index]
    except (KeyError, TypeError):
        return ""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def read_analysis(run_folder: Path) -> dict[str, Any] | None:
    """The run's saved analysis (``analysis.json``), or None if there is none or it cannot be read."""
    target = Path(run_folder) / ANALYSIS_FILE
    if not target.is_file():
        return None
    try:
        return run_files.read_json_object(target)
    except run_files.RunFileError:
        return None
