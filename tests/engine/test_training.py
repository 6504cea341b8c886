"""The training loop in-process: determinism, resume, checkpoints, NaN, task checks, routing probes."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from modstudio.compile.graphnet import GraphNet
from modstudio.compile.probes import RoutingProbe
from modstudio.engine.errors import EngineError
from modstudio.engine.session import prepare
from modstudio.engine.settings import TrainSettings, lr_factor
from modstudio.engine.train import NonFiniteLoss, Trainer
from modstudio.graph.io import project_to_dict

from .conftest import small_mlp


def run(project, tmp_path, **settings):
    messages = []
    session = prepare(project, TrainSettings(runs_root=str(tmp_path), **settings))
    summary = Trainer(session, messages.append).run()
    return session, summary, messages


def losses(messages):
    return [m.train_loss for m in messages if m.type == "epoch"]


def test_same_seed_gives_identical_results_and_another_seed_does_not(tmp_path):
    a = run(small_mlp(), tmp_path)[2]
    b = run(small_mlp(), tmp_path)[2]
    c = run(small_mlp(), tmp_path, seed=7)[2]
    assert losses(a) == losses(b)
    assert losses(a) != losses(c)


def test_run_folder_holds_snapshot_metrics_and_weights_that_load_strictly(tmp_path):
    project = small_mlp()
    session, summary, messages = run(project, tmp_path)
    folder = session.folder.path
    assert folder.parent == tmp_path
    assert summary.status == "completed" and summary.test_accuracy > 0.75
    snapshot = json.loads((folder / "project.msproj").read_text())
    assert snapshot["modules"] == project_to_dict(project)["modules"]
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if r["type"] == "epoch"] == [1, 2, 3]
    assert any(r["type"] == "progress" for r in records) and records[-1]["type"] == "test"
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == "completed" and info["test_accuracy"] == summary.test_accuracy
    for name in ("best", "last"):
        net = GraphNet(project)
        net.load_state_dict(load_file(folder / f"{name}.safetensors"), strict=True)
    assert not any(p.suffix in (".pt", ".pth", ".pkl") for p in folder.iterdir())
    assert next(m.type for m in messages) == "started" and messages[-1].type == "finished"


def test_resume_continues_the_loss_curve_exactly(tmp_path):
    whole = losses(run(small_mlp(epochs=4), tmp_path / "whole")[2])
    first, _, head = run(small_mlp(epochs=4), tmp_path / "cut", epochs=2)
    _, summary, tail = run(small_mlp(), tmp_path, epochs=4, resume=str(first.folder.path))
    assert losses(head) == whole[:2]
    assert losses(tail) == whole[2:]
    assert [m.epoch for m in tail if m.type == "epoch"] == [3, 4]
    assert summary.epochs == 4
    records = first.folder.read_lines("metrics.jsonl")
    assert [r["epoch"] for r in records if r["type"] == "epoch"] == [1, 2, 3, 4]


def test_resume_needs_more_epochs_than_done(tmp_path):
    first = run(small_mlp(epochs=2), tmp_path)[0]
    with pytest.raises(EngineError, match="already has 2 epochs"):
        prepare(small_mlp(), TrainSettings(resume=str(first.folder.path)))


def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    session = prepare(small_mlp(epochs=5), TrainSettings(runs_root=str(tmp_path)))
    messages = []

    def emit(message):
        messages.append(message)
        if message.type == "epoch" and message.epoch == 2:
            session.stream.x[5] = float("nan")  # poison one training sample after two good epochs

    with pytest.raises(NonFiniteLoss, match=r"the loss became nan at step \d+ \(epoch 3\)") as caught:
        Trainer(session, emit).run()
    assert 2 * session.stream.steps(0) < caught.value.step <= 3 * session.stream.steps(0)
    state = load_file(session.folder.path / "last.safetensors")
    assert all(torch.isfinite(t).all() for t in state.values())
    info = session.folder.read_info()
    assert info["status"] == "failed" and info["epochs"] == 2 and "nan" in info["error"]
    net = GraphNet(session.project)
    net.load_state_dict(state, strict=True)


def test_task_and_shape_problems_are_named_before_training(tmp_path):
    project = small_mlp()
    project.data.dataset, project.data.options = "digits", {}
    with pytest.raises(
        EngineError, match=r"Input 'x' takes samples of shape \[2\] but the digits dataset gives \[1, 8, 8\]"
    ):
        prepare(project, TrainSettings(runs_root=str(tmp_path)))
    project = small_mlp()
    project.data.dataset, project.data.options = "blobs", {"classes": 3}
    with pytest.raises(EngineError, match=r"Output 'y' gives 2 classes but the blobs dataset has 3"):
        prepare(project, TrainSettings(runs_root=str(tmp_path)))
    project = small_mlp()
    project.main_module.node_named("x").params["shape"] = [2, 3]
    with pytest.raises(
        EngineError, match=r"the network cannot be built: Output 'y' \(classification\) expects logits"
    ) as caught:
        prepare(project, TrainSettings(runs_root=str(tmp_path)))
    assert caught.value.kind == "shape"
    assert not any(tmp_path.iterdir())  # nothing was started


def test_regression_reports_r2_and_schedules_shape_the_learning_rate(tmp_path):
    project = small_mlp(samples=400, epochs=6)
    project.data.dataset, project.data.options = "regimes", {"samples": 400, "target": "value"}
    head = project.main_module.node_named("head")
    head.params["out_features"] = 1
    project.main_module.node_named("y").params["task"] = "regression"
    project.training.schedule = "cosine"
    _, summary, messages = run(project, tmp_path)
    assert summary.task == "regression" and summary.test_accuracy is None
    assert 0.3 < summary.test_r2 <= 1.0
    lrs = [m.lr for m in messages if m.type == "epoch"]
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] < 0.1 * lrs[0]
    assert lr_factor("one_cycle", 0, 100, 0, 1) == pytest.approx(1 / 25)
    assert lr_factor("one_cycle", 30, 100, 0, 1) == pytest.approx(1.0)
    assert lr_factor("step", 0, 100, 4, 9) == pytest.approx(0.1)


def test_early_stopping_ends_the_run_when_validation_stops_improving(tmp_path):
    project = small_mlp(epochs=200)
    project.training.early_stopping_patience = 2
    _, summary, messages = run(project, tmp_path)
    assert summary.status == "early_stopped" and summary.epochs < 200
    val = [m.val_loss for m in messages if m.type == "epoch"]
    assert min(val[-2:]) >= min(val[:-2])


class ProbedHead(nn.Module):
    """A stand-in conditional layer: routes each sample to expert 0 or 1 by its class (perfect specialisation)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.probe = RoutingProbe(num_experts=3)

    def forward(self, x):
        out = self.net(x)
        if self.probe.enabled and self.probe.labels is not None and self.probe.labels.shape[0] == x.shape[0]:
            expert = self.probe.labels.clamp(max=1)
            counts = torch.bincount(expert, minlength=3)
            self.probe.add("tokens_per_expert", counts)
            self.probe.add(
                "class_expert",
                torch.zeros(self.probe.num_classes, 3).index_put_(
                    (self.probe.labels, expert), torch.ones(len(expert)), accumulate=True
                ),
            )
            self.probe.step_done()
        return out


def test_routing_probes_are_reported_with_collapse_warnings_and_specialisation(tmp_path):
    session = prepare(
        small_mlp(epochs=2), TrainSettings(runs_root=str(tmp_path), routing_period=0.0, collapse_reports=3)
    )
    session.net = ProbedHead(session.net)
    messages = []
    summary = Trainer(session, messages.append).run()
    routing = [m for m in messages if m.type == "routing"]
    assert routing and set(routing[0].probes) == {""}
    facts = routing[0].probes[""]
    assert facts["tokens_per_expert"][2] == 0 and facts["class_expert"].shape == (2, 3)
    warnings = [m.message for m in messages if m.type == "warning"]
    assert any("expert 2 received no tokens for 3 reports" in w for w in warnings)
    assert summary.routing_nmi[""] == pytest.approx(1.0)
    stored = session.folder.read_lines("routing.jsonl")
    assert stored[0]["probes"][""]["tokens_per_expert"] == facts["tokens_per_expert"].tolist()
    assert math.isclose(
        stored[-1]["probes"][""]["class_expert"][0][0] + stored[-1]["probes"][""]["class_expert"][1][1],
        len(session.splits.test),
    )


def test_collapse_detector_needs_a_streak_and_nmi_measures_specialisation():
    import numpy as np

    from modstudio.engine.routing import CollapseDetector, normalized_mutual_information

    detector = CollapseDetector(reports=3, max_share=0.9)
    takeover = {"moe": {"tokens_per_expert": np.array([95.0, 5.0, 0.0])}}
    balanced = {"moe": {"tokens_per_expert": np.array([40.0, 30.0, 30.0])}}
    assert detector.check(takeover) == [] and detector.check(takeover) == []
    assert detector.check(balanced) == []  # the streak is broken
    assert detector.check(takeover) == [] and detector.check(takeover) == []
    warnings = detector.check(takeover)
    assert len(warnings) == 2 and "expert 0 took 95% of the tokens for 3 reports" in warnings[1]
    assert "expert 2 received no tokens for 3 reports in a row" in warnings[0]
    assert detector.check(takeover) == []  # said once
    assert normalized_mutual_information(np.eye(4) * 10) == pytest.approx(1.0)
    assert normalized_mutual_information(np.ones((4, 3))) == pytest.approx(0.0)
    assert 0.0 < normalized_mutual_information(np.array([[8.0, 2.0], [3.0, 7.0]])) < 1.0
