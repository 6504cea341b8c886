"""Short real trainings that several evaluation tests read (each trained once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modstudio.blocks import default_catalog
from modstudio.library import load_template


def train_template(folder: Path, template: str, epochs: int = 1, **options: object) -> tuple[Path, Path]:
    """(project file, run folder) of ``template`` trained ``epochs`` epochs on the CPU."""
    from modstudio.engine.session import prepare
    from modstudio.engine.settings import TrainSettings
    from modstudio.engine.train import Trainer
    from modstudio.graph.io import save_project

    project = load_template(template, default_catalog())
    project.training.epochs = epochs
    if options:
        project.data.options = dict(options)
    path = folder / f"{template}.msproj"
    save_project(project, path)
    session = prepare(project, TrainSettings(device="cpu", threads=1), path)
    Trainer(session, lambda message: None).run()
    return path, session.folder.path


@pytest.fixture(scope="session")
def tree_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return train_template(tmp_path_factory.mktemp("tree"), "class_tree", epochs=2)


@pytest.fixture(scope="session")
def ensemble_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return train_template(tmp_path_factory.mktemp("ensemble"), "ensemble", epochs=2, samples=400, noise=0.25)


@pytest.fixture(scope="session")
def moe_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return train_template(tmp_path_factory.mktemp("moe"), "moe_2d", epochs=2, samples=600, regions=4)
