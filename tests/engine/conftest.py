"""Small projects for engine tests: built from templates with few samples and epochs."""

from __future__ import annotations

from pathlib import Path

import pytest

from modstudio.blocks import default_catalog
from modstudio.graph.model import Project
from modstudio.library import load_template


def small_mlp(samples: int = 300, epochs: int = 3, **data: object) -> Project:
    project = load_template("mlp_2d", default_catalog())
    project.data.options = {"samples": samples, "noise": 0.2}
    project.training.epochs = epochs
    for key, value in data.items():
        setattr(project.data, key, value)
    return project


@pytest.fixture
def mlp() -> Project:
    return small_mlp()


def trained_run(folder: Path, project: Project, file_name: str) -> tuple[Path, Path]:
    """Save ``project`` as ``folder/file_name`` and train it to the end on the CPU: (project file, run folder)."""
    from modstudio.engine.session import prepare
    from modstudio.engine.settings import TrainSettings
    from modstudio.engine.train import Trainer
    from modstudio.graph.io import save_project

    path = folder / file_name
    save_project(project, path)
    session = prepare(project, TrainSettings(device="cpu"), path)
    Trainer(session, lambda message: None).run()
    return path, session.folder.path


def moe_project(samples: int) -> Project:
    project = load_template("moe_2d", default_catalog())
    project.data.options = {"samples": samples, "regions": 4}
    project.training.epochs = 2
    return project
