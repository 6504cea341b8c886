"""What a trial's network costs, before it trains: its parameter count (compile/summary.py) and its FLOPs
per sample (compile/flops.py); and the trial's project checked as ``modstudio train`` checks one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modstudio.blocks import default_catalog
from modstudio.engine.errors import EngineError
from modstudio.engine.precheck import training_problems
from modstudio.engine.settings import TrainSettings
from modstudio.graph.model import Project


@dataclass(frozen=True)
class Costs:
    params: int
    flops: int


def network_costs(project: Project) -> Costs:
    """Parameters (all of them, frozen ones too) and FLOPs per sample of the project's network."""
    from modstudio.compile.flops import count_flops
    from modstudio.compile.summary import summarize

    catalog = default_catalog()
    summary = summarize(project, catalog)
    if summary.not_counted:
        raise EngineError(f"the parameters cannot be counted: {summary.not_counted}", "settings")
    return Costs(params=summary.total, flops=count_flops(project, catalog).total)


def trial_problems(project: Project, settings: TrainSettings, project_path: Path) -> list[str]:
    """Why this trial's project cannot train (shapes, data, settings), one sentence each; torch-free."""
    return training_problems(project, settings, project_path)
