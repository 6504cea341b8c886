"""Small projects for engine tests: built from templates with few samples and epochs."""

from __future__ import annotations

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
