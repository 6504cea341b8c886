"""The Modules tab's statistics over time: a finished run's statistics.jsonl replayed, a dying layer warned
about, live messages drawn as they come, and histograms laid on a common value scale."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from modstudio.blocks import default_catalog
from modstudio.engine.protocol import Histogram, Message, ModuleStatistics, Statistics
from modstudio.engine.records.run_history import read_metrics, read_routing, read_statistics
from modstudio.engine.session import prepare
from modstudio.engine.settings import TrainSettings
from modstudio.engine.train import Trainer
from modstudio.library import load_template
from modstudio.ui.dashboard import Dashboard
from modstudio.ui.dashboard.statistics_data import KEEP, Counts, StatisticsHistory, rebin
from modstudio.ui.dashboard.statistics_view import EMPTY


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[list[Message], Path]:
    """One epoch of mlp_2d recording every 2 steps, with relu2 killed (its input's bias at -100)."""
    project = load_template("mlp_2d", default_catalog())
    project.data.options = {"samples": 400, "noise": 0.2}
    project.training.epochs = 1
    project.training.statistics_every = 2
    session = prepare(project, TrainSettings(runs_root=str(tmp_path_factory.mktemp("runs")), device="cpu"))
    with torch.no_grad():
        session.net.fc2.bias.fill_(-100.0)
    messages: list[Message] = []
    Trainer(session, messages.append).run()
    return messages, session.folder.path


@pytest.fixture
def dashboard(qtbot) -> Iterator[Dashboard]:
    widget = Dashboard()
    qtbot.addWidget(widget)
    widget.resize(640, 900)
    widget.tabs.setCurrentWidget(widget.modules)
    widget.show()
    yield widget


def test_a_replayed_run_shows_histograms_over_steps_and_its_dying_layer(dashboard: Dashboard, run) -> None:
    _, folder = run
    records = read_statistics(folder)
    assert records
    dashboard.show_history(read_metrics(folder), read_routing(folder), records)
    view = dashboard.modules.statistics
    assert not view.hint.isVisible() and view.canvas.isVisible()
    boxes = [view.module_box.itemText(i) for i in range(view.module_box.count())]
    assert boxes == ["fc1", "relu1", "fc2", "relu2", "head"]
    view.select("fc1", "weights")
    assert [view.quantity_box.itemText(i) for i in range(view.quantity_box.count())] == [
        "weights",
        "activations",
        "gradients",
    ]
    assert view.shown is not None and view.shown.shape == (64, len(records))  # value bands x steps
    assert np.allclose(view.shown.sum(axis=0), 1.0)  # each step's values, all of them, in some band
    _, ratios = view.history.series("fc1", "update_ratio").arrays()
    assert np.all(ratios == 0.0)  # nothing flows back through the dead relu2: fc1 stands still
    assert view.points("update_ratio") == 0  # (a log scale draws no zeros)
    view.select("head", "weights")
    assert view.points("update_ratio") == len(records)
    view.select("relu2")
    assert [view.quantity_box.itemText(i) for i in range(view.quantity_box.count())] == ["activations"]
    assert view.points("dead_share") == len(records)
    _, dead = view.history.series("relu2", "dead_share").arrays()
    assert np.all(dead == 1.0)
    assert any("activations of 'relu2' died: 100% of its units" in text for text in dashboard.warnings())
    assert not any("'relu1'" in text for text in dashboard.warnings())


def test_live_messages_fill_the_view_and_a_new_run_empties_it(dashboard: Dashboard, run) -> None:
    messages, _ = run
    for message in messages:
        dashboard.handle(message)
    dashboard.refresh()
    view = dashboard.modules.statistics
    assert view.module_box.count() == 5 and view.shown is not None
    warned = [text for text in dashboard.warnings() if "died" in text]
    assert len(warned) == 1  # the trainer's warning and the dashboard's own are one
    dashboard.handle(messages[0])  # started: a new run
    dashboard.refresh()
    assert dashboard.modules.statistics.hint.text() == EMPTY
    assert dashboard.modules.statistics.hint.isVisible()


def test_histograms_are_spread_over_a_common_scale() -> None:
    h = Counts(low=0.0, high=2.0, counts=np.array([3.0, 1.0]))  # 3 values in [0, 1), 1 in [1, 2]
    assert rebin(h, np.array([0.0, 0.5, 1.0, 2.0, 4.0])).tolist() == [0.375, 0.375, 0.25, 0.0]
    assert rebin(Counts(1.0, 1.0, np.array([5.0, 0.0])), np.array([0.0, 0.5, 1.5, 2.0])).tolist() == [0.0, 1.0, 0.0]


def test_a_long_run_keeps_evenly_spaced_records() -> None:
    history = StatisticsHistory()
    for step in range(50, 50 * (5 * KEEP + 1), 50):  # 5 * KEEP records, one every 50 steps
        stats = ModuleStatistics(activations=Histogram(0.0, 1.0, (1.0, 1.0)), dead_share=0.1)
        history.add(Statistics(step=step, modules={"relu": stats}))
    picture = history.image("relu", "activations")
    assert picture is not None and KEEP <= len(picture.steps) < 2 * KEEP
    assert set(np.diff(picture.steps)) == {50.0 * history.stride} and history.stride == 4
    assert len(history.series("relu", "dead_share")) == len(picture.steps)
