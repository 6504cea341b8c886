"""Real run folders for the run-history and runs-panel tests: short trainings and hand-made states."""

from __future__ import annotations

import json
from pathlib import Path

from modstudio.engine.runs import RunFolder
from modstudio.engine.session import prepare
from modstudio.engine.settings import TrainSettings
from modstudio.engine.train import Trainer
from modstudio.graph.model import Project

from .conftest import small_mlp


def train(project: Project, root: Path, name: str) -> Path:
    """Train ``project`` for real into ``root``, then give the folder a fixed start time ``name``."""
    session = prepare(project, TrainSettings(runs_root=str(root)))
    Trainer(session, lambda message: None).run()
    target = root / f"{name}-{session.folder.path.name.rsplit('-', 1)[1]}"
    session.folder.path.rename(target)
    return target


def regression_mlp() -> Project:
    project = small_mlp(samples=200, epochs=2)
    project.data.options = {"samples": 200, "target": "value"}
    project.data.dataset = "regimes"
    project.main_module.node_named("head").params["out_features"] = 1
    project.main_module.node_named("y").params["task"] = "regression"
    return project


def hand_made(root: Path, name: str, info: object | None, metrics: list[str], raw_info: str | None = None) -> Path:
    """A run folder as a run leaves it at some moment: ``info`` None means no run.json yet."""
    folder = RunFolder.create(small_mlp(), runs_root=root)
    target = root / name
    folder.path.rename(target)
    (target / "metrics.jsonl").write_text(
        "".join(line + "\n" for line in metrics[:-1]) + (metrics[-1] if metrics else "")
    )
    if raw_info is not None:
        (target / "run.json").write_text(raw_info)
    elif info is not None:
        (target / "run.json").write_text(json.dumps(info))
    return target


def epoch_line(epoch: int, epochs: int, seconds: float = 0.5) -> str:
    return json.dumps({"type": "epoch", "epoch": epoch, "epochs": epochs, "train_loss": 0.5, "seconds": seconds})


def make_runs(root: Path) -> dict[str, Path]:
    """Two real trainings (classification, regression) and three hand-made states (running, killed, corrupt)."""
    runs = {
        "classes": train(small_mlp(samples=300, epochs=2), root, "20260101-100000"),
        "values": train(regression_mlp(), root, "20260102-100000"),
        "failed": hand_made(
            root,
            "20260103-100000-0000aa",
            {"status": "failed", "error": "the loss became nan at step 3", "epochs": 0, "dataset": "moons"},
            [json.dumps({"type": "progress", "step": 3})],
        ),
        "corrupt": hand_made(root, "20260104-100000-0000bb", None, [], raw_info='{"status": "comp'),
        "going": hand_made(
            root, "20260105-100000-0000cc", None, [epoch_line(1, 10), epoch_line(2, 10), '{"type": "progress", "st']
        ),
    }
    return runs
