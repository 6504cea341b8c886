"""Small trained projects for the surgery tests: a top-2 mixture, a Switch mixture, a dense network.

Each is trained once per test session (2 epochs on 300 points of the regimes data, on the CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modstudio.blocks import default_catalog
from modstudio.graph.builder import ProjectBuilder
from modstudio.graph.io import save_project
from modstudio.graph.model import DataSection, Project, TrainingSection


def _sections() -> dict:
    return {
        "data": DataSection(dataset="regimes", options={"samples": 300, "regions": 4}, batch_size=32),
        "training": TrainingSection(learning_rate=0.01, epochs=2, device="cpu"),
    }


def mixture_project(gate: str = "topk", experts: int = 4, **params: object) -> Project:
    pb = ProjectBuilder("tests/surgery/mixture", default_catalog())
    expert = pb.module("Expert")
    h = expert.add("relu", "act", expert.add("linear", "fc1", expert.input("x"), out_features=8))
    expert.output("y", expert.add("linear", "fc2", h, out_features=8))
    main = pb.module("main")
    h = main.add("linear", "embed", main.input("x", [2]), out_features=8)
    gate_params: dict[str, object] = {"k": 2} if gate == "topk" else {"capacity_factor": 4.0}
    h = main.add("moe", "moe", h, experts=["Expert"], num_experts=experts, gate=gate, **gate_params, **params)
    main.output("y", main.add("linear", "head", h, out_features=2), task="classification")
    return pb.project(f"{gate} mixture", **_sections())


def dense_project() -> Project:
    pb = ProjectBuilder("tests/surgery/dense", default_catalog())
    ffn = pb.module("FFN")
    h = ffn.add("relu", "act", ffn.add("linear", "fc1", ffn.input("x"), out_features=16))
    ffn.output("y", ffn.add("linear", "fc2", h, out_features=8))
    main = pb.module("main")
    h = main.add("linear", "embed", main.input("x", [2]), out_features=8)
    h = main.use("FFN", "ffn", h)
    h = main.add("linear", "mix", main.add("tanh", "act", h), out_features=8)
    main.output("y", main.add("linear", "head", h, out_features=2), task="classification")
    return pb.project("dense", **_sections())


def trained(folder: Path, project: Project, name: str) -> tuple[Path, Path]:
    """(project file, run folder) after a short training on the CPU."""
    from modstudio.engine.session import prepare
    from modstudio.engine.settings import TrainSettings
    from modstudio.engine.train import Trainer

    path = folder / f"{name}.msproj"
    save_project(project, path)
    session = prepare(project, TrainSettings(device="cpu"), path)
    Trainer(session, lambda message: None).run()
    return path, session.folder.path


@pytest.fixture(scope="session")
def topk_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return trained(tmp_path_factory.mktemp("topk"), mixture_project("topk"), "topk")


@pytest.fixture(scope="session")
def switch_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return trained(tmp_path_factory.mktemp("switch"), mixture_project("switch"), "switch")


@pytest.fixture(scope="session")
def dense_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return trained(tmp_path_factory.mktemp("dense"), dense_project(), "dense")
