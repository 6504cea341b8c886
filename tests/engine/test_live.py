"""Messages for the live dashboard: gradient norms per module, decision and expert regions, collapse paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modstudio.blocks import default_catalog
from modstudio.compile.probes import enable_probes, probes_of, set_probe_labels
from modstudio.engine.live import RegionGrid
from modstudio.engine.session import prepare
from modstudio.engine.settings import TrainSettings
from modstudio.engine.train import Trainer
from modstudio.library import load_template

from .conftest import small_mlp


def moe_run(tmp_path, template: str = "moe_2d", **settings):
    project = load_template(template, default_catalog())
    project.data.options = {**project.data.options, "samples": 800}
    messages: list[dict] = []
    session = prepare(project, TrainSettings(epochs=2, runs_root=str(tmp_path), routing_period=0.0, **settings))
    Trainer(session, messages.append).run()
    return session, messages


@pytest.fixture(scope="module")
def moe_messages(tmp_path_factory):
    return moe_run(tmp_path_factory.mktemp("runs"))


def of_type(messages, kind):
    return [m for m in messages if m.type == kind]


def test_regions_have_the_grid_shape_and_expert_ids_in_range(moe_messages):
    session, messages = moe_messages
    started = of_type(messages, "started")[0]
    regions = of_type(messages, "regions")
    assert started.regions is True
    assert started.routing_labels == "region"  # the regimes data counts regions x experts
    assert started.probe_layout["moe"] == {"kind": "moe", "num_experts": 4, "gate": "switch",
                                              "capacity_factor": session.net.moe.capacity_factor}  # fmt: skip
    assert len(regions) >= 2  # at least one per epoch
    g = session.settings.region_grid
    experts = session.net.moe.num_experts
    for message in regions:
        assert message.size == g
        xmin, xmax, ymin, ymax = message.extent
        x = session.splits.train.x
        assert xmin < float(x[:, 0].min()) and xmax > float(x[:, 0].max())
        assert ymin < float(x[:, 1].min()) and ymax > float(x[:, 1].max())
        assert message.predicted.shape == (g, g)
        assert set(np.unique(message.predicted)) <= set(range(session.splits.train.num_classes))
        assert set(message.experts) == {"moe"}
        ids = message.experts["moe"]
        assert ids.shape == (g, g) and ids.min() >= 0 and ids.max() < experts
    first, later = regions[0], regions[1:]
    assert first.points.shape[1] == 2 and 0 < first.points.shape[0] <= 600
    assert first.labels.shape == (first.points.shape[0],)
    assert all(m.points is None for m in later)


def test_expert_regions_match_the_router_choice_on_grid_points(moe_messages):
    session, messages = moe_messages
    last = of_type(messages, "regions")[-1]
    grid = RegionGrid(session.splits.train.x, None, session.device, last.size)
    moe = session.net.moe
    session.net.eval()
    with torch.no_grad():
        expected = moe.router(grid.grid).argmax(dim=-1).view(last.size, last.size).numpy()
        predicted = session.net(grid.grid).argmax(dim=1).view(last.size, last.size).numpy()
    np.testing.assert_array_equal(last.experts["moe"], expected)  # the best weights are loaded at the end
    np.testing.assert_array_equal(last.predicted, predicted)
    # row-major: grid point [row, col] is at (x of col, y of row)
    xmin, xmax, ymin, ymax = last.extent
    point = grid.grid.view(last.size, last.size, 2)[3, 5]
    assert float(point[0]) == pytest.approx(xmin + 5.5 * (xmax - xmin) / last.size, rel=1e-5)
    assert float(point[1]) == pytest.approx(ymin + 3.5 * (ymax - ymin) / last.size, rel=1e-5)


def test_gradients_name_the_main_modules_nodes(moe_messages):
    session, messages = moe_messages
    gradients = of_type(messages, "gradients")
    assert gradients
    nodes = {node.name for node in session.project.modules[session.project.main].nodes}
    for message in gradients:
        assert set(message.norms) == {"moe"} <= nodes
        assert all(np.isfinite(v) and v >= 0 for v in message.norms.values())
    assert len({m.norms["moe"] for m in gradients}) > 1


def test_gradients_of_a_plain_network_cover_every_layer_with_weights(tmp_path):
    messages: list[dict] = []
    session = prepare(small_mlp(epochs=1), TrainSettings(runs_root=str(tmp_path), routing_period=0.0))
    Trainer(session, messages.append).run()
    weighted = {name for name, child in session.net.named_children() if any(True for _ in child.parameters())}
    gradients = of_type(messages, "gradients")
    assert gradients and all(set(m.norms) == weighted for m in gradients)
    assert of_type(messages, "regions")  # mlp_2d's moons are 2-D too
    assert of_type(messages, "regions")[0].experts == {}


def test_the_grid_pass_does_not_change_the_probe_counts(moe_messages):
    session, _ = moe_messages
    net, probes = session.net, probes_of(session.net)
    enable_probes(net, True)
    net.train()
    x, y = session.splits.train.x[:64], session.splits.train.y[:64]
    set_probe_labels(net, y, session.splits.train.num_classes)
    for probe in probes.values():
        probe.take()  # start from empty sums
    net(x)
    before = {path: probe.take() for path, probe in probes.items()}
    net(x)
    grid = RegionGrid(session.splits.train.x, None, session.device, 32)
    message = grid.picture(net, probes, session.task, 1, 1)
    assert message.experts["moe"].shape == (32, 32)
    after = {path: probe.take() for path, probe in probes.items()}
    for path in probes:
        assert after[path]["steps"] == before[path]["steps"] == 1
        np.testing.assert_array_equal(after[path]["tokens_per_expert"], before[path]["tokens_per_expert"])
        np.testing.assert_array_equal(after[path]["class_expert"], before[path]["class_expert"])
        assert probes[path].enabled and not probes[path].capture and probes[path].captured is None
    assert net.training


def test_hierarchical_and_gate_layers_capture_their_choices(tmp_path):
    session, messages = moe_run(tmp_path, "hierarchical_moe")
    experts = session.net.moe.probe.num_experts
    ids = of_type(messages, "regions")[-1].experts["moe"]
    assert ids.min() >= 0 and ids.max() < experts
    layout = of_type(messages, "started")[0].probe_layout["moe"]
    assert layout == {"kind": "hierarchical_moe", "num_experts": experts, "groups": session.net.moe.groups}


def test_live_views_can_be_switched_off(tmp_path):
    messages: list[dict] = []
    session = prepare(small_mlp(epochs=1), TrainSettings(runs_root=str(tmp_path), live_views=False))
    Trainer(session, messages.append).run()
    assert not of_type(messages, "gradients") and not of_type(messages, "regions")


def test_a_bad_grid_size_is_refused_with_a_message(tmp_path):
    with pytest.raises(Exception, match="region_grid must be between 2 and 512"):
        RegionGrid(torch.zeros(10, 2), None, torch.device("cpu"), 1)


def test_collapse_warnings_name_the_layer(tmp_path):
    _, messages = moe_run(tmp_path, collapse_reports=1, collapse_share=0.0)
    warnings = [m for m in of_type(messages, "warning") if m.kind == "collapse"]
    assert warnings and all(m.path == "moe" for m in warnings)


def test_progress_reports_the_running_accuracy(moe_messages):
    _, messages = moe_messages
    accuracies = [m.accuracy for m in of_type(messages, "progress")]
    assert accuracies and all(0.0 <= a <= 1.0 for a in accuracies)
