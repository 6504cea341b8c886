"""Analysis of trained networks: weight-graph modularity, specialization, costs, `modstudio analyze`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from modstudio.blocks import default_catalog
from modstudio.cli import main
from modstudio.compile.graphnet import GraphNet
from modstudio.engine.analysis.modularity import NeuronLayers, WeightLayer, modularity_report, weight_layers
from modstudio.engine.analysis.report import analyze_run, find_run, read_analysis
from modstudio.engine.analysis.specialization import pairwise_disagreement, routing_matrices, specialization
from modstudio.engine.errors import EngineError
from modstudio.graph.builder import ProjectBuilder
from modstudio.graph.io import save_project
from modstudio.library import load_template

from .conftest import moe_project, trained_run


def two_layer_network(blocks: int = 2, size: int = 4, leak: float = 0.02, seed: int = 0) -> NeuronLayers:
    """input -> hidden -> output, each layer block-diagonal: ``blocks`` separate sub-networks."""
    rng = np.random.default_rng(seed)
    n = blocks * size
    mask = np.kron(np.eye(blocks), np.ones((size, size)))
    names = [[f"{layer}:{j}" for j in range(n)] for layer in ("in", "hidden", "out")]
    layers = NeuronLayers()
    for i, path in enumerate(("hidden", "out")):
        weights = (mask + leak) * rng.uniform(0.5, 1.5, (n, n))
        layers.layers.append(WeightLayer(path, names[i], names[i + 1], weights))
    return layers


def test_block_diagonal_network_is_more_modular_than_its_shuffled_twin() -> None:
    report = modularity_report(two_layer_network(), shuffles=8, seed=1)
    assert report["q"] > report["shuffled_q_mean"] + 3 * report["shuffled_q_std"]
    assert report["q"] > 0.4 and len(report["shuffled_q"]) == 8
    assert sorted(c["size"] for c in report["communities"]) == [12, 12]  # the two blocks, all three layers
    assert report["communities"][0]["layers"] == {"in": 4, "hidden": 4, "out": 4}


def test_dense_network_is_no_more_modular_than_its_shuffles() -> None:
    report = modularity_report(two_layer_network(blocks=1, size=8), shuffles=8, seed=1)
    assert report["q"] < report["shuffled_q_mean"] + 3 * report["shuffled_q_std"] + 0.05


def test_perfectly_specialized_routing_has_nmi_one_and_uniform_routing_near_zero() -> None:
    special = specialization(np.diag([50.0, 60.0, 70.0]))
    assert special["nmi"] == pytest.approx(1.0)
    assert [top[0]["class"] for top in special["top_classes"]] == [0, 1, 2]
    assert special["top_classes"][1] == [{"class": 1, "share": 1.0}]
    uniform = specialization(np.full((4, 3), 25.0))
    assert uniform["nmi"] < 1e-9
    assert uniform["expert_share"] == pytest.approx([1 / 3] * 3)


def test_routing_matrices_prefer_the_test_records_else_the_last_training_epoch() -> None:
    def record(kind: str, epoch: int, value: float) -> dict:
        return {
            "type": "routing",
            "kind": kind,
            "epoch": epoch,
            "probes": {"moe": {"class_expert": [[value, 0], [0, 1]]}},
        }

    source, found = routing_matrices([record("train", 1, 1), record("train", 2, 2), record("train", 2, 3)])
    assert source == "train, epoch 2" and found["moe"].tolist() == [[5, 0], [0, 2]]
    source, found = routing_matrices([record("train", 2, 3), record("test", 2, 7)])
    assert source == "test" and found["moe"][0, 0] == 7
    assert routing_matrices([]) == ("none", {})


def test_pairwise_disagreement_is_the_share_of_different_predictions() -> None:
    a, b, c = torch.tensor([0, 1, 1, 0]), torch.tensor([0, 1, 0, 0]), torch.tensor([1, 0, 0, 1])
    assert pairwise_disagreement([a, b, c]) == [[0.0, 0.25, 1.0], [0.25, 0.0, 0.75], [1.0, 0.75, 0.0]]


def test_layers_are_chained_along_the_wiring_and_experts_share_their_inputs_and_outputs() -> None:
    catalog = default_catalog()
    pb = ProjectBuilder("tests/analysis/conv", catalog)
    b = pb.module("main")
    h = b.add("flatten", "flat", b.add("relu", "act", b.add("conv2d", "conv", b.input("x", [1, 4, 4]), out_channels=3)))
    b.output("y", b.add("linear", "fc", h, out_features=2))
    project = pb.project("conv")
    net = GraphNet(project, catalog)
    conv, fc = weight_layers(project, net).layers
    assert conv.inputs == ["input x:0"] and fc.inputs == conv.outputs  # channels of the flattened maps
    expected = net.fc.weight.detach().abs().reshape(2, 3, 16).sum(-1).numpy()
    assert np.allclose(fc.weights, expected)
    moe = load_template("moe_2d", catalog)
    layers = weight_layers(moe, GraphNet(moe, catalog))
    by_path = {layer.path: layer for layer in layers.layers}
    assert set(by_path) == {"moe.router", *(f"moe.experts.{e}.{n}" for e in range(4) for n in ("fc1", "out"))}
    assert all(by_path[f"moe.experts.{e}.fc1"].inputs == ["input x:0", "input x:1"] for e in range(4))
    outputs = {tuple(layers.find(u) for u in by_path[f"moe.experts.{e}.out"].outputs) for e in range(4)}
    assert len(outputs) == 1  # the experts' outputs are summed into the same two neurons


@pytest.fixture(scope="module")
def moe_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return trained_run(tmp_path_factory.mktemp("moe"), moe_project(samples=400), "moe.msproj")


def test_analyze_run_reports_costs_modularity_and_specialization(moe_run) -> None:
    path, run = moe_run
    analysis = analyze_run(run, shuffles=3)
    costs = analysis["costs"]
    assert costs["params_total"] == 336 and costs["flops_total"] == 194
    assert [m["name"] for m in costs["modules"]] == ["Expert", "main"]
    assert costs["modules"][0]["params"] == 4 * 82 and costs["nodes"][0]["flops_share"] == 1.0
    modularity = analysis["modularity"]
    assert -0.5 <= modularity["q"] <= 1 and len(modularity["shuffled_q"]) == 3
    assert sum(c["size"] for c in modularity["communities"]) == modularity["neurons"]
    (moe,) = analysis["specialization"]
    assert moe["path"] == "moe" and moe["rows"] == "region" and moe["source"] == "test"
    assert np.asarray(moe["matrix"]).shape == (4, 4) and 0 <= moe["nmi"] <= 1
    assert find_run(path, "latest") == run


def test_analyze_command_prints_the_tables_and_saves_analysis_json(moe_run, capsys) -> None:
    path, run = moe_run
    assert main(["analyze", str(path), "--run", str(run), "--shuffles", "2"]) == 0
    out = capsys.readouterr().out
    assert "weight-graph modularity: Q = " in out and "vs shuffled weights Q = " in out
    assert "NMI(region; expert) = " in out and "Expert" in out
    saved = read_analysis(run)
    assert saved is not None and saved["specialization"][0]["path"] == "moe"
    assert json.loads((run / "analysis.json").read_text())["modularity"]["q"] == saved["modularity"]["q"]


def test_analyze_command_names_a_missing_run(tmp_path, capsys) -> None:
    path = tmp_path / "p.msproj"
    save_project(load_template("moe_2d", default_catalog()), path)
    assert main(["analyze", str(path)]) == 2
    assert "there are no runs yet" in capsys.readouterr().err
    assert main(["analyze", str(path), "--run", str(tmp_path)]) == 2
    assert "is not a run folder" in capsys.readouterr().err
    with pytest.raises(EngineError, match=r"no project\.msproj"):
        find_run(path, str(tmp_path))


def test_ensemble_disagreement_runs_each_member_on_what_reaches_the_ensemble() -> None:
    from modstudio.engine.analysis.specialization import ensemble_disagreement

    catalog = default_catalog()
    project = load_template("ensemble", catalog)
    torch.manual_seed(0)
    net = GraphNet(project, catalog).eval()
    x = torch.randn(200, 2)
    (found,) = ensemble_disagreement(net, x, batch=64)
    members = net.get_submodule("ensemble").members
    with torch.no_grad():
        predictions = [m(x).argmax(-1) for m in members]
    assert found["path"] == "ensemble" and found["members"] == 3 and found["samples"] == 200
    assert found["disagreement"] == pairwise_disagreement(predictions)
    assert any(v > 0 for row in found["disagreement"] for v in row)  # fresh members do disagree
