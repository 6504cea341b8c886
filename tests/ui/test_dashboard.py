"""The live dashboard fed with the messages of a real short moe_2d run (recorded in-process)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from modstudio.blocks import default_catalog
from modstudio.engine.protocol import Message, Started, message_from_dict
from modstudio.engine.runs import RunFolder
from modstudio.engine.session import prepare
from modstudio.engine.settings import TrainSettings
from modstudio.engine.train import Trainer
from modstudio.library import load_template
from modstudio.ui.dashboard import Dashboard


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> tuple[list[Message], Path, int]:
    """Messages of two epochs of moe_2d, its run folder and its number of experts."""
    project = load_template("moe_2d", default_catalog())
    project.data.options = {**project.data.options, "samples": 1000}
    runs = tmp_path_factory.mktemp("runs")
    messages: list[Message] = []
    session = prepare(project, TrainSettings(epochs=2, runs_root=str(runs), routing_period=0.02))
    Trainer(session, messages.append).run()
    return messages, session.folder.path, session.net.moe.num_experts


@pytest.fixture
def dashboard(qtbot) -> Iterator[Dashboard]:
    widget = Dashboard()
    qtbot.addWidget(widget)
    widget.resize(640, 760)
    yield widget
    QApplication.clipboard().clear()  # offscreen Qt crashes at exit while it owns clipboard data


def feed(dashboard: Dashboard, messages: list[Message]) -> None:
    for message in messages:
        dashboard.handle(message)
    dashboard.refresh()


def started_run(task: str, probe_layout: dict | None = None) -> Started:
    return Started(run_folder="runs/1", device="cpu", epochs=1, task=task, probe_layout=probe_layout or {})


def plot_items(dashboard: Dashboard) -> int:
    plots = [*dashboard.curves.plots, *dashboard.routing.plots, *dashboard.regions.plots, *dashboard.modules.plots]
    return sum(len(plot.items) for plot in plots)


def test_a_real_run_fills_curves_routing_and_regions(dashboard, recorded):
    messages, _, experts = recorded
    feed(dashboard, messages)
    progress = [m for m in messages if m.type == "progress"]
    assert dashboard.loss_points() == len(progress) > 0
    assert dashboard.layers() == ["moe"]
    assert dashboard.expert_bar_count() == experts
    assert dashboard.expert_bar_count("moe") == experts
    image = dashboard.decision_image()
    size = next(m for m in messages if m.type == "regions").size
    assert image is not None and image.shape == (size, size, 3) and image.dtype == np.uint8
    assert len(np.unique(image.reshape(-1, 3), axis=0)) >= 2  # both classes are predicted somewhere
    assert dashboard.regions.expert_rgb is not None and dashboard.regions.expert_rgb.shape == (size, size, 3)
    heights = dashboard.routing.bars.opts["height"]
    last = [m for m in messages if m.type == "routing" and m.kind == "train"][-1].probes["moe"]
    np.testing.assert_allclose(heights, np.asarray(last["tokens_per_expert"]) / last["steps"])
    assert dashboard.routing.capacity_line.isVisible()  # moe_2d's switch gate caps the tokens per expert
    assert dashboard.modules.grad_bars.opts["height"].size == 1  # one module: the MoE node
    assert not dashboard.warnings()


def test_a_collapse_warning_is_listed_and_clicking_it_selects_the_layer(dashboard, recorded, qtbot):
    messages, _, _ = recorded
    feed(dashboard, messages[:1])
    dashboard.show()
    qtbot.waitExposed(dashboard)
    text = "routing collapse in 'moe': expert 2 received no tokens for 5 reports in a row"
    dashboard.handle(
        message_from_dict({"type": "warning", "kind": "collapse", "message": text, "step": 10, "path": "moe"})
    )
    dashboard.handle(
        message_from_dict({"type": "error", "kind": "nan", "message": "the loss became nan at step 11", "step": 11})
    )
    dashboard.refresh()
    assert dashboard.warnings() == [text, "the loss became nan at step 11"]
    listed = dashboard.warnings_list
    assert listed.count() == 2
    rect = listed.visualItemRect(listed.item(0))
    with qtbot.waitSignal(dashboard.node_selected, timeout=1000) as selected:
        QTest.mouseClick(listed.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert selected.args == ["moe"]


def test_refreshing_after_many_messages_creates_no_plot_items(dashboard, recorded):
    messages, _, _ = recorded
    feed(dashboard, messages)
    before = plot_items(dashboard)
    live = [m for m in messages if m.type in ("progress", "routing", "gradients", "regions", "epoch")]
    for _ in range(5):
        feed(dashboard, live)
    assert plot_items(dashboard) == before
    assert dashboard.loss_points() == 6 * len([m for m in messages if m.type == "progress"])


def test_the_timer_refreshes_while_the_dashboard_is_visible(dashboard, recorded, qtbot):
    messages, _, _ = recorded
    dashboard.show()
    qtbot.waitExposed(dashboard)
    for message in messages:
        dashboard.handle(message)
    assert dashboard.timer.isActive()
    qtbot.waitUntil(lambda: dashboard.loss_points() > 0, timeout=2000)


def test_a_new_run_starts_empty(dashboard, recorded):
    messages, _, experts = recorded
    feed(dashboard, messages)
    dashboard.handle(message_from_dict({"type": "warning", "kind": "collapse", "message": "x", "path": "moe"}))
    dashboard.reset(messages[0])
    assert dashboard.loss_points() == 0 and dashboard.warnings() == [] and dashboard.decision_image() is None
    assert dashboard.layers() == ["moe"] and dashboard.expert_bar_count() == experts  # laid out from the start message


def test_show_history_replays_a_run_folder(dashboard, recorded):
    _, folder, experts = recorded
    run = RunFolder(folder)
    metrics, routing = run.read_lines("metrics.jsonl"), run.read_lines("routing.jsonl")
    dashboard.show_history(metrics, routing)
    assert dashboard.loss_points() == len([m for m in metrics if m["type"] == "progress"]) > 0
    assert dashboard.layers() == ["moe"] and dashboard.expert_bar_count() == experts
    xs, _ = dashboard.curves.items["loss:val"].getData()
    assert xs is not None and len(xs) == 2  # one validation point per epoch


def test_compare_overlays_another_run_and_can_be_removed(dashboard, recorded):
    messages, folder, _ = recorded
    feed(dashboard, messages)
    metrics = RunFolder(folder).read_lines("metrics.jsonl")
    before = plot_items(dashboard)
    dashboard.compare("run B", metrics)
    assert dashboard.curves.compared_points() == len([m for m in metrics if m["type"] == "progress"]) > 0
    legend_names = [label.text for _, label in dashboard.curves.legends[0].items]
    assert "run B" in legend_names
    assert plot_items(dashboard) == before  # the compare curve was there, empty
    dashboard.clear_comparison()
    assert dashboard.curves.compared_points() == 0
    assert "run B" not in [label.text for _, label in dashboard.curves.legends[0].items]


def test_hierarchical_layers_show_one_entry_per_level(dashboard):
    dashboard.reset(started_run("classification", {"moe": {"kind": "hierarchical_moe", "num_experts": 8, "groups": 2}}))
    assert dashboard.layers() == ["moe · groups", "moe · experts"]
    facts = {"kind": "hierarchical_moe", "num_experts": 8, "steps": 2, "slots": 256.0, "routed_tokens": 128.0,
             "tokens_per_expert": np.array([10, 20, 30, 40, 50, 60, 26, 20], dtype=np.float32),
             "tokens_per_group": np.array([60, 68], dtype=np.float32), "entropy": 1.5, "group_entropy": 0.5,
             "class_expert": np.ones((3, 8), dtype=np.float32)}  # fmt: skip
    dashboard.handle(
        message_from_dict({"type": "routing", "kind": "train", "epoch": 1, "step": 2, "probes": {"moe": facts}})
    )
    dashboard.select_layer("moe · experts")
    assert dashboard.expert_bar_count() == 8
    np.testing.assert_allclose(dashboard.routing.bars.opts["height"], facts["tokens_per_expert"] / 2)
    dashboard.select_layer("moe · groups")
    assert dashboard.expert_bar_count() == 2 and dashboard.expert_bar_count("moe · experts") == 8
    assert dashboard.routing.labels_image.image.shape == (3, 2)  # class x group, summed over each group's experts
    groups_entropy = dashboard.routing.health["router entropy / ln E"].getData()[1]
    assert groups_entropy.tolist() == pytest.approx([0.5 / np.log(2)])  # the primary gate's, over ln 2
    dashboard.select_layer("moe · experts")
    assert dashboard.routing.health["router entropy / ln E"].getData()[1].tolist() == pytest.approx([1.5 / np.log(8)])
    with pytest.raises(KeyError, match="no routing layer named 'nope'"):
        dashboard.select_layer("nope")


def test_a_network_without_routing_still_shows_curves(dashboard):
    dashboard.reset(started_run("classification"))
    dashboard.handle(
        message_from_dict({"type": "progress", "epoch": 1, "step": 1, "steps": 2, "global_step": 1, "loss": 0.7})
    )
    dashboard.refresh()
    assert dashboard.layers() == [] and dashboard.expert_bar_count() == 0 and dashboard.loss_points() == 1


def test_a_regression_on_the_plane_shows_its_output_values(dashboard):
    dashboard.reset(started_run("regression"))
    values = np.linspace(-1, 1, 16 * 16, dtype=np.float32).reshape(16, 16)
    dashboard.handle(message_from_dict({"type": "regions", "epoch": 1, "step": 5, "extent": [0, 1, 0, 1], "size": 16,
                                        "values": values, "experts": {}}))  # fmt: skip
    dashboard.refresh()
    image = dashboard.decision_image()
    assert image is not None and image.shape == (16, 16, 3)
    assert not np.array_equal(image[0, 0], image[-1, -1])  # low and high values get different colours


def test_every_routing_plot_fits_a_narrow_dock_with_its_colour_bar(dashboard, recorded, qtbot):
    messages, _, _ = recorded
    dashboard.resize(520, 760)
    dashboard.show()
    feed(dashboard, messages)
    dashboard.tabs.setCurrentIndex(1)
    qtbot.wait(50)
    view = dashboard.routing.plots[0].getViewWidget()
    for plot in dashboard.routing.plots:  # titles wider than their column used to push the grid past the edge
        right = plot.mapRectToScene(plot.boundingRect()).right()
        assert right <= view.width(), f"'{plot.titleLabel.text[:30]}' ends at {right:.0f} px of {view.width()}"
    bar = dashboard.routing.load_bar
    assert bar.mapRectToScene(bar.boundingRect()).right() <= view.width()


def test_clear_leaves_nothing_of_the_last_run(dashboard, recorded):
    messages, _, _ = recorded
    feed(dashboard, messages)
    dashboard.compare("other", [m.to_dict() for m in messages if m.type in ("progress", "epoch")])
    dashboard.handle(message_from_dict({"type": "warning", "message": "expert 3 got no tokens", "path": "moe"}))
    dashboard.refresh()
    assert dashboard.modules.history and "test accuracy" in dashboard.status.text()
    dashboard.clear()
    assert dashboard.loss_points() == 0 and dashboard.curves.compared_label() == ""
    assert dashboard.layers() == [] and dashboard.routing.names() == [] and dashboard.expert_bar_count() == 0
    assert dashboard.decision_image() is None and dashboard.warnings() == []
    assert dashboard.warnings_list.texts() == [] and dashboard.modules.history == {}
    assert dashboard.status.text() == "No training yet"
    assert dashboard.curves.loss_plot.viewRange()[0][1] < 2  # the last run's hundreds of steps are off the axis


def test_a_run_history_with_unreadable_records_shows_the_rest_and_counts_them(dashboard, recorded):
    _, folder, _ = recorded
    metrics = RunFolder(folder).read_lines("metrics.jsonl")
    damaged = [{"type": "progress", "step": 3}, {"type": "start", "val_loss": 1.0}, *metrics]
    dashboard.show_history(damaged, [{"type": "routing", "probes": "not a table"}])
    assert dashboard.loss_points() == len([m for m in metrics if m["type"] == "progress"]) > 0
    assert dashboard.status.text().endswith("(3 unreadable records skipped)")


def test_the_status_line_says_what_the_run_is_without_widening_the_dock(dashboard):
    narrowest = dashboard.minimumSizeHint().width()
    started = Started(
        run_folder="runs/1", device="cuda:0", precision="bfloat16", epochs=30, dataset="regimes",
        samples={"train": 24000, "val": 3000, "test": 3000}, parameters=1_234_567,
    )  # fmt: skip
    dashboard.reset(started)
    assert dashboard.status.text() == started.describe()
    assert dashboard.minimumSizeHint().width() == narrowest
