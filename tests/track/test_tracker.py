"""The tracker in a plain PyTorch loop: the run folder it writes holds the engine's routing counts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from modstudio.compile.export import build_network
from modstudio.compile.probes import enable_probes, probes_of
from modstudio.engine.records.run_history import read_metrics, read_routing, read_run
from modstudio.track import RouterOutputs, Tracker, TrackError, hugging_face

from .helpers import exported_moe


def _batches(steps: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(3)
    return [
        (torch.randn(48, 2, generator=generator), torch.randint(0, 2, (48,), generator=generator)) for _ in range(steps)
    ]


def test_a_plain_loop_over_an_exported_moe_writes_the_engines_routing_counts(tmp_path):
    module, top, project = exported_moe(tmp_path)
    torch.manual_seed(0)
    model = getattr(module, top)()
    engine_net = build_network(project)  # ModStudio's own network, its probes read as the engine reads them
    enable_probes(engine_net, True)
    engine_probes = probes_of(engine_net)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    expected = []
    with Tracker(tmp_path / "run", model, every=3) as tracker:
        for step, (x, y) in enumerate(_batches(6), 1):
            engine_net.load_state_dict(model.state_dict())  # the same weights and the same batch
            engine_net.train()
            with torch.no_grad():
                engine_net(x)
            loss = F.cross_entropy(model(x), y) + sum(model.moe.aux_losses.values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            tracker.step(loss=loss)
            if step % 3 == 0:
                expected.append(engine_probes["moe"].take()["tokens_per_expert"])
        tracker.epoch(val_loss=0.5)
    reports = read_routing(tmp_path / "run")
    assert [r["step"] for r in reports] == [3, 6]
    for report, counts in zip(reports, expected, strict=True):
        assert report["probes"]["moe"]["tokens_per_expert"] == counts.tolist()
        assert report["probes"]["moe"]["steps"] == 3
    assert sum(expected[0]) == 3 * 48  # a switch gate: one expert a token, none dropped at capacity 2
    metrics = read_metrics(tmp_path / "run")
    assert [m["type"] for m in metrics].count("epoch") == 1 and metrics[0]["type"] == "progress"
    record = read_run(tmp_path / "run")  # the Runs dock's reader
    assert record.status == "completed" and record.epochs == 1
    assert not hasattr(model.moe, "probe") and "_combine" not in model.moe.__dict__  # close() undid its hooks


def test_the_dashboard_replays_the_trackers_run_with_the_engines_counts(tmp_path, qtbot):
    from modstudio.ui.dashboard.dashboard import Dashboard

    module, top, project = exported_moe(tmp_path)
    torch.manual_seed(1)
    model = getattr(module, top)()
    engine_net = build_network(project)
    engine_net.load_state_dict(model.state_dict())
    engine_net.train()
    enable_probes(engine_net, True)
    batches = _batches(4)
    with torch.no_grad():
        for x, _ in batches:
            engine_net(x)
    expected = probes_of(engine_net)["moe"].take()["tokens_per_expert"]
    with Tracker(tmp_path / "run", model, every=4) as tracker, torch.no_grad():
        for x, y in batches:  # no updates: the same weights for all four batches
            tracker.step(loss=F.cross_entropy(model(x), y))
    dashboard = Dashboard()
    qtbot.addWidget(dashboard)
    dashboard.show_history(read_metrics(tmp_path / "run"), read_routing(tmp_path / "run"))
    assert dashboard.layers() == ["moe"] and dashboard.expert_bar_count("moe") == 4
    np.testing.assert_allclose(dashboard.data.layers["moe"].load * 4, expected)  # tokens per expert per step x steps
    assert dashboard.loss_points() >= 2  # the first step and the report step (at most 20 points a second)


class TinyHFMoE(nn.Module):
    """A sparse MoE block as Hugging Face writes them: forward returns (hidden_states, router_logits)."""

    def __init__(self, dim: int = 6, experts: int = 4) -> None:
        super().__init__()
        self.gate = nn.Linear(dim, experts, bias=False)
        self.experts = nn.ModuleList(nn.Linear(dim, dim) for _ in range(experts))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.gate(x)
        weights, chosen = logits.softmax(-1).topk(2, dim=-1)
        out = torch.stack([e(x) for e in self.experts], -2)  # [..., E, dim]
        return (out.gather(-2, chosen.unsqueeze(-1).expand(*chosen.shape, x.shape[-1])) * weights.unsqueeze(-1)).sum(
            -2
        ), logits


class TinyHFModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([TinyHFMoE(), TinyHFMoE()])

    def forward(self, x: torch.Tensor) -> dict[str, object]:
        all_logits = []
        for layer in self.layers:
            x, logits = layer(x)
            all_logits.append(logits)
        return {"last_hidden_state": x, "router_logits": tuple(all_logits)}  # as output_router_logits=True gives


def test_hugging_face_style_layers_are_counted_from_their_router_logits(tmp_path):
    torch.manual_seed(2)
    model = TinyHFModel()
    x = torch.randn(5, 7, 6)
    with Tracker(tmp_path / "blocks", model, every=1, layers={"layers.0": hugging_face(k=2)}) as tracker:
        model(x)
        tracker.step(loss=1.0)
    with Tracker(tmp_path / "model", model, every=1, layers={model: hugging_face(k=2)}) as tracker:
        model(x)
        tracker.step(loss=1.0)
    first = torch.bincount(model.layers[0].gate(x).topk(2, dim=-1).indices.reshape(-1), minlength=4).tolist()
    blocks = read_routing(tmp_path / "blocks")[0]["probes"]
    assert list(blocks) == ["layers.0"] and blocks["layers.0"]["tokens_per_expert"] == first
    whole = read_routing(tmp_path / "model")[0]["probes"]
    assert sorted(whole) == ["0", "1"] and whole["0"]["tokens_per_expert"] == first
    assert sum(whole["1"]["tokens_per_expert"]) == 5 * 7 * 2


def test_an_adapter_given_chosen_experts_counts_those_and_the_loop_can_hand_them_over(tmp_path):
    layer = nn.Linear(3, 3)
    chosen = torch.tensor([[0], [0], [2], [0]])
    adapter = RouterOutputs(lambda module, inputs, output: (output, chosen))
    with Tracker(tmp_path / "run", layer, every=2, layers={layer: adapter}) as tracker:
        layer(torch.randn(4, 3))
        tracker.step()
        tracker.record_routing("by hand", torch.randn(4, 5), torch.tensor([4, 4, 1, 0]))
        layer(torch.randn(4, 3))
        tracker.step()
    (report,) = read_routing(tmp_path / "run")
    assert report["probes"][""]["tokens_per_expert"] == [6.0, 0.0, 2.0]
    assert report["probes"]["by hand"]["tokens_per_expert"] == [1.0, 1.0, 0.0, 0.0, 2.0]


def test_an_adapter_on_a_module_without_router_logits_says_so(tmp_path):
    model = nn.Sequential(nn.Linear(2, 2))
    with (
        Tracker(tmp_path / "run", model, layers={"0": hugging_face()}) as tracker,
        pytest.raises(TrackError, match="no router logits"),
    ):
        model(torch.randn(3, 2))
    with pytest.raises(TrackError, match="every is 0"):
        Tracker(tmp_path / "other", model, every=0)
    del tracker


def test_tensorboard_true_writes_event_files_with_the_loss_and_the_routing(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    module, top, _ = exported_moe(tmp_path)
    model = getattr(module, top)()
    with Tracker(tmp_path / "run", model, every=2, tensorboard=True) as tracker:
        for x, y in _batches(2):
            tracker.step(loss=F.cross_entropy(model(x), y))
        tracker.epoch(val_loss=0.7)
    assert list((tmp_path / "run").glob("events.out.tfevents.*"))
    events = EventAccumulator(str(tmp_path / "run"))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert "loss" in tags and "epoch/val_loss" in tags and "routing/moe/utilization/expert_0" in tags
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "completed"


def test_tensorboard_missing_is_named_with_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    module, top, _ = exported_moe(tmp_path)
    model = getattr(module, top)()
    with pytest.raises(TrackError, match=r"pip install 'modstudio\[tensorboard\]'"):
        Tracker(tmp_path / "run", model, tensorboard=True)
    assert "_combine" not in model.moe.__dict__  # the model is left as it was


def test_the_readme_loop_runs_and_writes_a_run_the_dashboard_reads(tmp_path, monkeypatch):
    from modstudio.compile.export import export_project
    from modstudio.library import load_template

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Tracking training that runs elsewhere") :]
    code = section[
        section.index("```python\n") + len("```python\n") : section.index("```\n", section.index("```python"))
    ]
    from modstudio.graph.io import save_project

    export_project(load_template("moe_2d"), "python", tmp_path / "model.py")
    save_project(load_template("moe_2d"), tmp_path / "model.msproj")  # the project= the loop names
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "model", raising=False)
    loader = _batches(3)
    exec(code, {"torch": torch, "F": F, "loader": loader, "validate": lambda model: 0.25})
    sys.modules.pop("model", None)
    run = tmp_path / "runs" / "my-run"
    assert read_run(run).status == "completed" and read_run(run).epochs == 10
    assert (run / "project.msproj").is_file() and (run / "last.safetensors").is_file()  # what evaluate reads
    assert (
        sum(
            sum(r["probes"]["moe"]["tokens_per_expert"]) + r["probes"]["moe"]["dropped_tokens"]
            for r in read_routing(run)
        )
        == 30 * 48
    )


def test_a_folder_used_again_holds_the_latest_run_unless_appending(tmp_path):
    model = nn.Linear(2, 2)
    for _ in range(2):
        with Tracker(tmp_path / "run", model) as tracker:
            tracker.step(loss=1.0)
    assert len(read_metrics(tmp_path / "run")) == 1
    with Tracker(tmp_path / "run", model, append=True) as tracker:
        tracker.step(loss=1.0)
    assert len(read_metrics(tmp_path / "run")) == 2


@pytest.mark.parametrize("template", ["hard_gate", "hierarchical_moe", "stacked_moe", "switch_transformer"])
def test_every_exported_routing_layer_counts_as_the_engine_counts(tmp_path, template):
    module, top, project = exported_moe(tmp_path, template)
    model = getattr(module, top)()
    engine_net = build_network(project)
    engine_net.load_state_dict(model.state_dict())
    engine_net.train()
    enable_probes(engine_net, True)
    (node,) = project.main_module.input_nodes
    shape = list(node.params["shape"])
    generator = torch.Generator().manual_seed(5)
    batches = [torch.randn(16, *shape, generator=generator) for _ in range(2)]
    with Tracker(tmp_path / "run", model, every=2) as tracker, torch.no_grad():
        for x in batches:
            torch.manual_seed(9)  # a gate that samples while training draws the same numbers in both
            engine_net(x)
            torch.manual_seed(9)
            model(x)
            tracker.step(loss=0.0)
    expected = {path: probe.take() for path, probe in probes_of(engine_net).items()}
    (report,) = read_routing(tmp_path / "run")
    assert sorted(report["probes"]) == sorted(expected) and expected
    for path, facts in expected.items():
        for key in ("tokens_per_expert", "tokens_per_group"):
            if key in facts:
                assert report["probes"][path][key] == facts[key].tolist(), (path, key)
        assert report["probes"][path]["kind"] == facts["kind"]


def test_a_graphnet_counts_training_forwards_and_class_by_expert_when_labelled(tmp_path):
    from modstudio.blocks import default_catalog
    from modstudio.library import load_template

    net = build_network(load_template("moe_2d", default_catalog()))
    batches = _batches(2)
    with Tracker(tmp_path / "run", net, every=2) as tracker:
        for x, y in batches:
            net.train()
            tracker.label(y, 2)
            net(x)
            tracker.step(loss=0.1)
            net.eval()
            net(x)  # a validation pass: not part of the training routing
    (report,) = read_routing(tmp_path / "run")
    facts = report["probes"]["moe"]
    assert facts["routed_tokens"] == 2 * 48
    counts = np.asarray(facts["class_expert"])
    assert counts.shape == (2, 4) and counts.sum() == sum(facts["tokens_per_expert"])
    assert counts.sum(axis=1).tolist() == [float(sum(int((y == c).sum()) for _, y in batches)) for c in (0, 1)]
    assert not probes_of(net)["moe"].enabled  # the tracker gave the probe back as it found it
