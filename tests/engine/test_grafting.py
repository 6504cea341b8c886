"""Grafted modules in training and export: frozen weights stay bit-identical, fine-tuning changes them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from modstudio.blocks import default_catalog
from modstudio.compile.export import export_project
from modstudio.compile.export.check import import_file, sample_inputs
from modstudio.compile.export.exporter import build_network
from modstudio.engine.analysis.grafting import GraftError, graft_from_run
from modstudio.engine.errors import EngineError
from modstudio.engine.session import prepare
from modstudio.engine.settings import TrainSettings
from modstudio.engine.torchrun import export_torchrun
from modstudio.engine.train import Trainer
from modstudio.graph.builder import ProjectBuilder
from modstudio.graph.document import Document
from modstudio.graph.graft import SetInitWeights
from modstudio.graph.io import load_project, save_project
from modstudio.graph.model import DataSection, Project, TrainingSection


def _sections(epochs: int) -> dict:
    return {
        "data": DataSection(dataset="moons", options={"samples": 240, "noise": 0.2}, batch_size=32),
        "training": TrainingSection(learning_rate=0.05, epochs=epochs, device="cpu"),
    }


def source_project() -> Project:
    pb = ProjectBuilder("tests/grafting/source", default_catalog())
    block = pb.module("Block")
    h = block.add("relu", "act", block.add("linear", "fc1", block.input("x"), out_features=8))
    block.output("y", block.add("linear", "fc2", h, out_features=2))
    main = pb.module("main")
    h = main.use("Block", "block1", main.input("x", [2]))
    main.output("y", main.add("linear", "head", main.add("relu", "act", h), out_features=2), task="classification")
    return pb.project("source", **_sections(2))


def target_project() -> Project:
    pb = ProjectBuilder("tests/grafting/target", default_catalog())
    main = pb.module("main")
    h = main.add("batch_norm1d", "norm", main.input("x", [2]))
    h = main.add("linear", "pre", h, out_features=2)
    main.output("y", main.add("linear", "head", main.add("tanh", "act", h), out_features=2), task="classification")
    return pb.project("target", **_sections(2))


def train(project: Project, path: Path) -> Path:
    save_project(project, path)
    session = prepare(project, TrainSettings(), path)
    Trainer(session, lambda message: None).run()
    return session.folder.path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The source project's file and its run folder."""
    folder = tmp_path_factory.mktemp("source")
    return folder / "source.msproj", train(source_project(), folder / "source.msproj")


def grafted(trained: tuple[Path, Path], folder: Path, frozen: bool) -> tuple[Project, Path]:
    source_file, _ = trained
    project = target_project()
    note = graft_from_run(
        project, load_project(source_file), source_file, "latest", "Block", folder, default_catalog(),
        frozen=frozen, replace="pre",
    )  # fmt: skip
    assert "grafted 'Block'" in note
    path = folder / "target.msproj"
    save_project(project, path)
    return project, path


def block_tensors(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def test_frozen_grafted_module_stays_bit_identical_while_the_rest_trains(trained, tmp_path) -> None:
    project, path = grafted(trained, tmp_path, frozen=True)
    node = project.main_module.node_named("pre")
    assert node.module == "Block" and node.frozen and node.weights.endswith("best.safetensors#block1.")
    source = block_tensors(load_file(trained[1] / "best.safetensors"), "block1.")
    start = build_network(project, base_dir=tmp_path).state_dict()
    run = train(project, path)
    after = load_file(run / "last.safetensors")
    assert set(block_tensors(after, "pre.")) == set(source) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    for key, value in source.items():
        assert torch.equal(after[f"pre.{key}"], value)
    assert not torch.equal(after["head.weight"], start["head.weight"])  # the rest did train
    assert not torch.equal(after["norm.running_mean"], start["norm.running_mean"])


def test_fine_tuning_a_grafted_module_changes_its_weights(trained, tmp_path) -> None:
    project, path = grafted(trained, tmp_path, frozen=False)
    source = block_tensors(load_file(trained[1] / "best.safetensors"), "block1.")
    start = block_tensors(build_network(project, base_dir=tmp_path).state_dict(), "pre.")
    assert all(torch.equal(start[k], v) for k, v in source.items())  # it starts from the trained weights
    after = block_tensors(load_file(train(project, path) / "last.safetensors"), "pre.")
    assert not torch.equal(after["fc1.weight"], source["fc1.weight"])


def test_export_carries_grafted_weights_and_matches_with_the_runs_weights(trained, tmp_path) -> None:
    project, path = grafted(trained, tmp_path, frozen=True)
    run = train(project, path)
    result = export_project(
        project, "python", tmp_path / "model.py", weights=run / "best.safetensors", base_dir=tmp_path
    )
    assert result.max_difference is not None and result.max_difference <= 1e-4
    model = getattr(import_file(tmp_path / "model.py"), result.top_class)()
    model.load_state_dict(load_file(run / "best.safetensors"), strict=True)
    net = build_network(project, run / "best.safetensors")
    x = sample_inputs(project, 16, seed=3)[0]
    with torch.no_grad():
        assert torch.allclose(model.eval()(x), net(x), atol=1e-6)
    fresh = build_network(project, base_dir=tmp_path).state_dict()  # without a run: the grafted weights
    source = block_tensors(load_file(trained[1] / "best.safetensors"), "block1.")
    assert all(torch.equal(fresh[f"pre.{k}"], v) for k, v in source.items())


def test_torchrun_folder_starts_from_grafted_weights_and_keeps_frozen_nodes_frozen(trained, tmp_path) -> None:
    project, _ = grafted(trained, tmp_path, frozen=True)
    folder = tmp_path / "job"
    export_torchrun(project, folder, base_dir=tmp_path)
    assert json.loads((folder / "settings.json").read_text())["frozen"] == ["pre"]
    init = load_file(folder / "init.safetensors")
    source = block_tensors(load_file(trained[1] / "best.safetensors"), "block1.")
    assert all(torch.equal(init[f"pre.{k}"], v) for k, v in source.items())
    done = subprocess.run(
        [sys.executable, "train.py", "--epochs", "1", "--out", str(folder / "run")],
        cwd=folder, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    after = load_file(folder / "run" / "last.safetensors")
    assert all(torch.equal(after[f"pre.{k}"], v) for k, v in source.items())
    assert not torch.equal(after["head.weight"], init["head.weight"])


def test_initial_weights_start_a_run_from_another_runs_weights(trained, tmp_path) -> None:
    source_file, run = trained
    project = load_project(source_file)
    Document(project, default_catalog()).apply(SetInitWeights(str(run / "best.safetensors")))
    session = prepare(project, TrainSettings(runs_root=str(tmp_path)), tmp_path / "p.msproj")
    best = load_file(run / "best.safetensors")
    assert all(torch.equal(v, best[k]) for k, v in session.net.state_dict().items())


def test_missing_or_unfitting_weights_are_named_before_training(trained, tmp_path) -> None:
    project, _ = grafted(trained, tmp_path, frozen=True)
    node = project.main_module.node_named("pre")
    node.weights = "nowhere/best.safetensors#block1."
    with pytest.raises(EngineError, match=r"nowhere/best\.safetensors does not exist") as caught:
        prepare(project, TrainSettings(runs_root=str(tmp_path)), tmp_path / "target.msproj")
    assert caught.value.kind == "settings"
    wrong = {"fc1.weight": torch.zeros(3, 3), "fc1.bias": torch.zeros(8), "fc2.weight": torch.zeros(2, 8)}
    save_file(wrong, str(tmp_path / "wrong.safetensors"))
    node.weights = "wrong.safetensors"
    with pytest.raises(EngineError, match=r"missing fc2.bias; wrong shapes: fc1.weight \(3, 3\)"):
        prepare(project, TrainSettings(runs_root=str(tmp_path)), tmp_path / "target.msproj")


def test_graft_from_a_run_names_what_is_wrong(trained, tmp_path) -> None:
    source_file, run = trained
    source = load_project(source_file)
    with pytest.raises(GraftError, match="has no module 'Nope'"):
        graft_from_run(target_project(), source, source_file, str(run), "Nope", tmp_path, default_catalog())
    with pytest.raises(GraftError, match="'head' is not a use of 'Block'; its uses: block1"):
        graft_from_run(
            target_project(), source, source_file, str(run), "Block", tmp_path, default_catalog(), weights_of="head"
        )
    with pytest.raises(GraftError, match="is not a run folder"):
        graft_from_run(target_project(), source, source_file, str(tmp_path), "Block", tmp_path, default_catalog())


def test_graft_command_writes_the_project_with_the_module_and_its_weights(trained, tmp_path, capsys) -> None:
    from modstudio.cli import main

    source_file, run = trained
    target = tmp_path / "target.msproj"
    save_project(target_project(), target)
    out = tmp_path / "sub" / "grafted.msproj"
    out.parent.mkdir()
    args = ["graft", str(target), "--from", str(source_file), "--run", "latest", "--module", "Block"]
    assert main([*args, "--frozen", "--replace", "pre", "-o", str(out)]) == 0
    assert "grafted 'Block' as 'Block'" in capsys.readouterr().out
    project = load_project(out, default_catalog())
    node = project.main_module.node_named("pre")
    assert node.frozen and (out.parent / node.weights.split("#")[0]).resolve() == (run / "best.safetensors").resolve()
    net = build_network(project, base_dir=out.parent)
    assert torch.equal(net.state_dict()["pre.fc1.weight"], load_file(run / "best.safetensors")["block1.fc1.weight"])
    assert main([*args[:-1], "Missing"]) == 2
    assert "has no module 'Missing'" in capsys.readouterr().err
    assert load_project(target, default_catalog()).main_module.node_named("pre").block == "linear"  # untouched


def test_a_graft_whose_weights_do_not_fit_where_it_is_wired_is_refused(trained, tmp_path) -> None:
    from modstudio.graph.io import project_to_json
    from modstudio.library import load_template

    source_file, run = trained
    project = load_template("mlp_2d", default_catalog())  # fc2 reads 64 features; Block was trained on 2
    before = project_to_json(project)
    with pytest.raises(GraftError, match=r"do not fit .*fc1\.weight \(8, 2\) \(the network has \(8, 64\)\)"):
        graft_from_run(
            project, load_project(source_file), source_file, str(run), "Block", tmp_path, default_catalog(),
            replace="fc2",
        )  # fmt: skip
    assert project_to_json(project) == before
