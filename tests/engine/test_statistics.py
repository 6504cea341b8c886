"""Statistics over time: histograms, dead units and update ratios against hand-computed values; the
setting off by default; the message's JSON round trip; the dead and exploding layer warnings."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from modstudio.engine.protocol import Histogram, ModuleStatistics, Statistics, Warning, message_from_dict
from modstudio.engine.records.run_history import read_statistics
from modstudio.engine.session import prepare
from modstudio.engine.settings import TrainSettings
from modstudio.engine.statistics import StatisticsRecorder, histogram_parts, histogram_rows
from modstudio.engine.statistics_watch import ActivationWatch
from modstudio.engine.train import Trainer
from modstudio.graph.model import TrainingSection

from .conftest import small_mlp


def constructed_net() -> nn.Sequential:
    """2 inputs -> 3 units -> ReLU; unit 2 is negative for both samples of :data:`X`."""
    fc = nn.Linear(2, 3)
    with torch.no_grad():
        fc.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
        fc.bias.copy_(torch.tensor([0.0, -1.0, 0.0]))
    return nn.Sequential(fc, nn.ReLU())


X = torch.tensor([[1.0, 2.0], [3.0, 0.0]])  # fc: [[1, 1, -3], [3, -1, -3]]; ReLU: [[1, 1, 0], [3, 0, 0]]


def record(net: nn.Module, optimizer: torch.optim.Optimizer, bins: int = 4) -> Statistics:
    recorder = StatisticsRecorder(net, every=1, bins=bins)
    with recorder.watching():
        out = net(X)
    optimizer.zero_grad()
    out.sum().backward()
    recorder.after_backward()
    optimizer.step()
    return recorder.finish(step=1, epoch=1)


def test_histograms_and_dead_share_match_hand_computed_values() -> None:
    net = constructed_net()
    stats = record(net, torch.optim.SGD(net.parameters(), lr=0.0))  # lr 0: the weights stay as built
    fc, relu = stats.modules["0"], stats.modules["1"]
    # fc's outputs 1, 1, -3, 3, -1, -3 over [-3, 3] in 4 bins of 1.5: [-3,-1.5) [-1.5,0) [0,1.5) [1.5,3]
    assert fc.activations == Histogram(low=-3.0, high=3.0, counts=(2.0, 1.0, 2.0, 1.0))
    # ReLU outputs 1, 1, 0, 3, 0, 0 over [0, 3]: [0,0.75) [0.75,1.5) [1.5,2.25) [2.25,3]
    assert relu.activations == Histogram(low=0.0, high=3.0, counts=(3.0, 2.0, 0.0, 1.0))
    assert relu.dead_share == pytest.approx(1 / 3)  # unit 2 is zero for both samples; unit 1 only for one
    assert fc.dead_share is None  # not a ReLU layer
    # weights 1 0 0 1 -1 -1 and biases 0 -1 0 over [-1, 1]: [-1,-0.5) [-0.5,0) [0,0.5) [0.5,1]
    assert fc.weights == Histogram(low=-1.0, high=1.0, counts=(3.0, 0.0, 4.0, 2.0))
    # d(sum relu)/d fc.weight rows: unit 0 passes both samples (x summed: 4, 2), unit 1 the first (1, 2), unit 2
    # none: gradients 4 2 1 2 0 0 and bias gradients 2 1 0, over [0, 4] in bins of 1
    assert fc.gradients == Histogram(low=0.0, high=4.0, counts=(3.0, 2.0, 3.0, 1.0))
    assert fc.update_ratio == 0.0
    assert relu.weights is None and relu.gradients is None and relu.update_ratio is None


def test_update_ratio_is_the_norm_of_a_manual_step_over_the_weights() -> None:
    net = constructed_net()
    fc = net[0]
    loss = net(X).sum()
    grads = torch.autograd.grad(loss, [fc.weight, fc.bias])
    weights = torch.cat([fc.weight.detach().reshape(-1), fc.bias.detach()])
    expected = 0.05 * torch.cat([g.reshape(-1) for g in grads]).norm() / weights.norm()
    stats = record(net, torch.optim.SGD(net.parameters(), lr=0.05))
    assert stats.modules["0"].update_ratio == pytest.approx(float(expected), rel=1e-6)


def test_non_finite_values_are_counted_apart() -> None:
    parts = histogram_parts(torch.tensor([0.0, 1.0, float("nan"), float("inf"), 2.0]), 2).tolist()
    assert parts == [1.0, 2.0, 0.0, 2.0, 2.0]  # [0, 1) holds 0; [1, 2] holds 1 and 2; 2 not finite


def test_the_message_round_trips_through_json() -> None:
    net = constructed_net()
    stats = record(net, torch.optim.SGD(net.parameters(), lr=0.05))
    back = message_from_dict(json.loads(json.dumps(stats.to_dict())))
    assert back == stats
    assert isinstance(back, Statistics) and back.bins == 4 and set(back.modules) == {"0", "1"}


def _hooks(net: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in net.modules())


def test_off_by_default_no_file_no_hooks(tmp_path) -> None:
    assert TrainingSection().statistics_every is None
    project = small_mlp(samples=120, epochs=1)
    session = prepare(project, TrainSettings(runs_root=str(tmp_path), device="cpu"))
    hooks_seen: list[int] = []
    messages: list[object] = []

    def emit(message: object) -> None:
        messages.append(message)
        hooks_seen.append(_hooks(session.net))

    trainer = Trainer(session, emit)
    assert trainer.statistics is None
    trainer.run()
    assert not any(isinstance(m, Statistics) for m in messages)
    assert not (session.folder.path / "statistics.jsonl").exists()
    assert read_statistics(session.folder.path) == []
    assert set(hooks_seen) == {0}


def test_a_run_records_every_n_steps_into_its_folder(tmp_path) -> None:
    project = small_mlp(samples=200, epochs=2)
    project.training.statistics_every = 2
    session = prepare(project, TrainSettings(runs_root=str(tmp_path), device="cpu"))
    hooks_seen: list[int] = []
    messages: list[object] = []

    def emit(message: object) -> None:
        messages.append(message)
        hooks_seen.append(_hooks(session.net))

    Trainer(session, emit).run()
    records = [m for m in messages if isinstance(m, Statistics)]
    assert records and [r.step for r in records] == list(range(2, session.step + 1, 2))
    assert set(hooks_seen) == {0}  # the hooks live only during a recording step's forward
    saved = read_statistics(session.folder.path)
    assert [message_from_dict(r) for r in saved] == records
    last = records[-1].modules
    assert list(last) == ["fc1", "relu1", "fc2", "relu2", "head"]
    assert last["relu1"].dead_share is not None and 0.0 <= last["relu1"].dead_share <= 1.0
    first = records[0].modules["fc1"].activations  # step 2: a whole batch of 64 samples x fc1's units
    units = project.main_module.node_named("fc1").params["out_features"]
    assert first is not None and sum(first.counts) == 64 * units


def test_a_dying_layer_is_warned_about_and_a_healthy_one_is_not(tmp_path) -> None:
    project = small_mlp(samples=200, epochs=1)
    project.training.statistics_every = 1
    healthy = prepare(project, TrainSettings(runs_root=str(tmp_path), device="cpu"))
    messages: list[object] = []
    Trainer(healthy, messages.append).run()
    assert [m for m in messages if isinstance(m, Warning) and m.kind in ("dead", "exploding")] == []

    dying = prepare(project, TrainSettings(runs_root=str(tmp_path), device="cpu"))
    with torch.no_grad():
        dying.net.fc2.bias.fill_(-100.0)  # every unit of relu2 is zero for every sample
    messages = []
    Trainer(dying, messages.append).run()
    warnings = [m for m in messages if isinstance(m, Warning) and m.kind == "dead"]
    assert [w.path for w in warnings] == ["relu2"]  # once, naming the layer
    assert "100% of its units" in warnings[0].message


def _act(scale: float, nonfinite: int = 0) -> ModuleStatistics:
    return ModuleStatistics(activations=Histogram(-scale, scale, (1.0, 1.0), nonfinite))


def test_exploding_activations_are_warned_about() -> None:
    watch = ActivationWatch()
    assert watch.check(Statistics(step=50, modules={"fc": _act(2.0), "ok": _act(1.0)})) == []
    assert watch.check(Statistics(step=100, modules={"fc": _act(300.0), "ok": _act(3.0)})) == []
    grown = watch.check(Statistics(step=150, modules={"fc": _act(5000.0), "ok": _act(2.0)}))
    assert [(w.kind, w.path, w.step) for w in grown] == [("exploding", "fc", 150)]
    assert "2 to 5e+03" in grown[0].text
    assert watch.check(Statistics(step=200, modules={"fc": _act(math.inf)})) == []  # once per layer
    nan = ActivationWatch().check(Statistics(step=7, modules={"x": _act(1.0, nonfinite=3)}))
    assert [(w.kind, w.path) for w in nan] == [("exploding", "x")]


class Log(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(x)


def test_a_failed_step_records_its_activations_with_the_non_finite_ones_apart() -> None:
    net = nn.Sequential(constructed_net()[0], Log(), nn.Linear(3, 1))
    recorder = StatisticsRecorder(net, every=1, bins=4)
    with recorder.watching():
        net(X)  # log of [[1, 1, -3], [3, -1, -3]]: 0, 0, NaN, ln 3, NaN, NaN; the last layer: NaN twice
    stats = recorder.finish(step=7, epoch=1)  # as the trainer does when the loss is not finite
    log, last = stats.modules["1"], stats.modules["2"]
    ln3 = float(torch.tensor(3.0).log())  # in float32, as measured
    assert log.activations == Histogram(low=0.0, high=ln3, counts=(2.0, 0.0, 0.0, 1.0), nonfinite=3)
    assert last.activations == Histogram(low=0.0, high=0.0, counts=(0.0, 0.0, 0.0, 0.0), nonfinite=2)
    assert log.weights is None and log.update_ratio is None  # no step was taken
    warned = ActivationWatch().check(stats)
    assert [(w.kind, w.path) for w in warned] == [("exploding", "1"), ("exploding", "2")]


def test_a_large_tensor_is_measured_on_an_even_sample() -> None:
    x = torch.linspace(0.0, 1.0, 1_000_001)  # far more than SAMPLE values, spread evenly
    parts = histogram_parts(x, 8).tolist()
    counts, (low, high, bad) = parts[:8], parts[8:]
    shares = [c / sum(counts) for c in counts]
    assert max(abs(s - 1 / 8) for s in shares) < 0.01
    assert low == 0.0 and high > 0.99 and bad == 0


def test_the_accelerator_way_of_counting_agrees_with_the_cpu_way() -> None:
    generator = torch.Generator().manual_seed(0)
    samples = [torch.randn(n, generator=generator) * 3 for n in (4096, 17, 1000, 1)]
    samples[2][::7] = float("nan")
    samples[1][3] = float("inf")
    cpu = histogram_rows(samples, 16)
    assert torch.equal(histogram_rows(samples, 16, histc=True), cpu)
    assert cpu[:, :16].sum(dim=1).tolist() == [4096.0, 16.0, 1000.0 - 143, 1.0]
