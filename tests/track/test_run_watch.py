"""Following a run folder live: the dashboard fills as another process appends lines."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
from PySide6.QtWidgets import QFileDialog

from modstudio.cli import main
from modstudio.engine.statistics_message import Histogram, ModuleStatistics, Statistics
from modstudio.ui.dashboard.dashboard import REFRESH_MS, Dashboard
from modstudio.ui.run_watch import FALLBACK_MS, RunFollower, WatchWindow
from tests.ui.conftest import window  # noqa: F401 (the editor fixture)

WRITER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path

    folder = Path(sys.argv[1])
    def routing(step, load):
        return json.dumps({"type": "routing", "kind": "train", "epoch": 1, "step": step, "probes": {
            "moe": {"kind": "moe", "num_experts": 4, "steps": 1, "tokens_per_expert": load, "slots": 8.0}}}) + "\\n"
    def progress(step, loss):
        return json.dumps({"type": "progress", "epoch": 1, "step": step, "steps": step, "loss": loss, "global_step": step}) + "\\n"
    with (folder / "metrics.jsonl").open("a") as metrics, (folder / "routing.jsonl").open("a") as lines:
        for phase in sys.stdin:  # the test says when to write the next part
            step = int(phase)
            metrics.write(progress(step, 1.0 / step)); metrics.flush()
            line = routing(step, [4.0, 0.0, 0.0, 4.0] if step == 1 else [1.0, 2.0, 3.0, 2.0])
            lines.write(line[:40]); lines.flush()  # half a line: the dashboard must wait for the rest
            time.sleep(0.4)
            lines.write(line[40:]); lines.flush()
            print("written", flush=True)
    (folder / "run.json").write_text(json.dumps({"type": "finished", "status": "completed", "epochs": 1, "steps": 2}))
    """
)


def _load(dashboard: Dashboard) -> list[float]:
    layer = dashboard.data.layers.get("moe")
    return [] if layer is None else layer.load.tolist()


def test_the_dashboard_follows_a_run_another_process_is_writing(tmp_path, qtbot):
    dashboard = Dashboard()
    qtbot.addWidget(dashboard)
    dashboard.show()
    follower = RunFollower(tmp_path, dashboard)
    follower.start()
    assert dashboard.layers() == [] and "Waiting for" in dashboard.status.text()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        writer.stdin.write("1\n")
        writer.stdin.flush()
        qtbot.waitUntil(lambda: _load(dashboard) == [4.0, 0.0, 0.0, 4.0], timeout=10000)
        assert dashboard.loss_points() == 1 and dashboard.expert_bar_count("moe") == 4
        writer.stdin.write("2\n")
        writer.stdin.flush()
        qtbot.waitUntil(lambda: _load(dashboard) == [1.0, 2.0, 3.0, 2.0], timeout=10000)
        assert dashboard.loss_points() == 2
        assert dashboard.data.layers["moe"].reports == 2  # each line once: only the new bytes are read
        writer.stdin.close()
        assert writer.wait(20) == 0
        qtbot.waitUntil(lambda: "done" in dashboard.status.text(), timeout=10000)  # run.json's status
    finally:
        if writer.poll() is None:
            writer.kill()
        follower.stop()
    assert follower.reads < 60  # change signals coalesced: reads at most ten a second


def test_without_file_watching_the_slow_timer_still_follows(tmp_path, qtbot):
    """A shared filesystem where watching does not fire: the fallback timer reads, no faster than 10 Hz."""
    dashboard = Dashboard()
    qtbot.addWidget(dashboard)
    follower = RunFollower(tmp_path, dashboard)
    follower.watcher.blockSignals(True)
    follower.start()
    assert follower.fallback.interval() >= REFRESH_MS and FALLBACK_MS >= REFRESH_MS
    with (tmp_path / "metrics.jsonl").open("a") as metrics:
        metrics.write(json.dumps({"type": "progress", "epoch": 1, "step": 1, "steps": 1, "loss": 0.5}) + "\n")
    qtbot.waitUntil(lambda: len(dashboard.data.curves.loss) == 1, timeout=FALLBACK_MS * 4)
    follower.stop()


def test_a_run_started_again_in_the_folder_is_replayed_from_its_start(tmp_path, qtbot):
    dashboard = Dashboard()
    qtbot.addWidget(dashboard)
    line = {"type": "progress", "epoch": 1, "step": 1, "steps": 1, "loss": 0.5}
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps({**line, "step": s}) + "\n" for s in (1, 2, 3)))
    follower = RunFollower(tmp_path, dashboard)
    follower.start()
    assert len(dashboard.data.curves.loss) == 3
    (tmp_path / "metrics.jsonl").write_text(json.dumps(line) + "\n")  # shorter: a new run
    follower.read()
    assert len(dashboard.data.curves.loss) == 1
    follower.stop()


def test_modstudio_watch_names_a_missing_folder_and_the_window_replays_a_run(tmp_path, qtbot, capsys):
    assert main(["watch", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err
    (tmp_path / "file").write_text("x")
    assert main(["watch", str(tmp_path / "file")]) == 2
    run = tmp_path / "run"
    run.mkdir()
    facts = {"kind": "moe", "num_experts": 2, "steps": 5, "tokens_per_expert": [10.0, 30.0]}
    (run / "routing.jsonl").write_text(json.dumps({"type": "routing", "step": 5, "probes": {"moe": facts}}) + "\n")
    watch = WatchWindow(run)
    qtbot.addWidget(watch)
    watch.show()
    qtbot.waitUntil(lambda: watch.dashboard.layers() == ["moe"])
    np.testing.assert_allclose(watch.dashboard.data.layers["moe"].load, [2.0, 6.0])
    assert "run" in watch.windowTitle()
    watch.follower.stop()


def test_file_open_run_follows_a_folder_in_the_editors_dashboard(window, tmp_path, qtbot, monkeypatch):  # noqa: F811
    run = tmp_path / "elsewhere"
    run.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args: str(run))
    window.actions_by_name["open_run"].trigger()
    dashboard = window.training.dashboard
    facts = {"kind": "gate", "num_experts": 3, "steps": 1, "tokens_per_expert": [1.0, 2.0, 3.0]}
    with (run / "routing.jsonl").open("a") as lines:
        lines.write(json.dumps({"type": "routing", "step": 1, "probes": {"gate": facts}}) + "\n")
    qtbot.waitUntil(lambda: dashboard.layers() == ["gate"], timeout=FALLBACK_MS * 4)
    assert window.training.dashboard_dock.isVisible()
    window._run_follower.stop()


def _statistics_line(step: int) -> str:
    record = Statistics(
        step=step, epoch=1, bins=2, modules={"fc": ModuleStatistics(activations=Histogram(0.0, 1.0, (3.0, 1.0)))}
    )
    return json.dumps(record.to_dict()) + "\n"


def test_statistics_over_time_are_replayed_and_followed(tmp_path, qtbot):
    """``training.statistics_every``'s records (statistics.jsonl) reach the Modules tab as the run writes them."""
    (tmp_path / "statistics.jsonl").write_text(_statistics_line(5))
    dashboard = Dashboard()
    qtbot.addWidget(dashboard)
    follower = RunFollower(tmp_path, dashboard)
    follower.start()
    try:
        qtbot.waitUntil(lambda: [s for s, _ in dashboard.data.statistics.records.get("fc", [])] == [5], timeout=5000)
        with (tmp_path / "statistics.jsonl").open("a") as lines:
            lines.write(_statistics_line(10))
        qtbot.waitUntil(
            lambda: [s for s, _ in dashboard.data.statistics.records.get("fc", [])] == [5, 10], timeout=5000
        )
    finally:
        follower.stop()
    assert dashboard.data.statistics.quantities("fc") == ["activations"]
