"""A tiny moons project with two search dimensions (a learning rate and a width), one epoch per trial."""

from __future__ import annotations

from pathlib import Path

import pytest

from modstudio.blocks import default_catalog
from modstudio.graph.document import Document
from modstudio.graph.io import save_project
from modstudio.graph.model import SearchDimension
from modstudio.graph.search_ops import SetSearchDimension
from modstudio.graph.section_ops import SetSectionField
from modstudio.library import load_template


def moons_project(folder: Path, *extra: SearchDimension) -> Path:
    catalog = default_catalog()
    doc = Document(load_template("mlp_2d", catalog), catalog)
    doc.apply(SetSectionField("data", "options", {"samples": 160, "noise": 0.2}))
    doc.apply(SetSectionField("training", "epochs", 1))
    dimensions = [
        SearchDimension("training.learning_rate", "float", 1e-3, 1e-1, log=True),
        SearchDimension("node:main/fc1.out_features", "int", 4, 32, log=True),
        *extra,
    ]
    for dim in dimensions:
        doc.apply(SetSearchDimension(dim.target, dim))
    path = folder / "moons.msproj"
    save_project(doc.project, path)
    return path


@pytest.fixture
def moons(tmp_path: Path) -> Path:
    return moons_project(tmp_path)
