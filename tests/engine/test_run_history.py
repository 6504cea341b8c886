"""Reading run folders: real finished runs, a failed one, one still going, a killed one, a corrupt one."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from modstudio.engine.records.run_history import (
    STALE_SECONDS,
    list_runs,
    read_metrics,
    read_routing,
    read_run,
    runs_root_of,
)

from .run_helpers import make_runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_runs(tmp_path_factory.mktemp("project.runs"))


def test_runs_are_listed_newest_first_with_what_they_did(runs: dict[str, Path]) -> None:
    records = list_runs(runs["classes"].parent, now=time.time())
    assert [r.folder for r in records] == [runs[k] for k in ("going", "corrupt", "failed", "values", "classes")]
    classes = records[-1]
    assert classes.started == datetime(2026, 1, 1, 10, 0, 0)
    assert (classes.status, classes.epochs, classes.epochs_planned, classes.dataset) == ("completed", 2, 2, "moons")
    assert classes.metric == "accuracy" and 0.6 < (classes.test_value or 0) <= 1
    assert classes.seconds is not None and classes.seconds > 0 and classes.has_weights
    values = records[-2]
    assert (values.status, values.metric, values.dataset) == ("completed", "r2", "regimes")
    assert values.test_value is not None and values.test_value < 1


def test_a_failed_run_says_why(runs: dict[str, Path]) -> None:
    record = read_run(runs["failed"])
    assert record.status == "failed" and record.error == "the loss became nan at step 3"
    assert record.test_value is None and not record.has_weights


def test_a_corrupt_run_json_is_unreadable_not_a_crash(runs: dict[str, Path]) -> None:
    record = read_run(runs["corrupt"])
    assert record.status == "unreadable" and record.error.startswith("run.json: not valid JSON")
    assert record.dataset == "moons"  # still found in the run's copy of the project


def test_a_run_without_a_summary_is_going_until_its_files_go_stale(runs: dict[str, Path]) -> None:
    now = max(p.stat().st_mtime for p in runs["going"].iterdir())
    going = read_run(runs["going"], now=now + 1)
    assert (going.status, going.epochs, going.epochs_planned, going.seconds) == ("running", 2, 10, 1.0)
    assert read_run(runs["going"], now=now + STALE_SECONDS + 1).status == "interrupted"


def test_metrics_skip_a_half_written_last_line(runs: dict[str, Path]) -> None:
    assert [m["epoch"] for m in read_metrics(runs["going"])] == [1, 2]
    real = read_metrics(runs["classes"])
    assert [m["type"] for m in real if m["type"] != "progress"] == ["epoch", "epoch", "test"]
    assert read_routing(runs["classes"]) == []  # an MLP has no conditional layers


def test_routing_reports_are_read_in_order(tmp_path: Path) -> None:
    folder = tmp_path / "20260101-000000-abcdef"
    folder.mkdir()
    lines = [json.dumps({"type": "routing", "step": s, "probes": {"moe": {"tokens": [1, 2]}}}) for s in (5, 10)]
    (folder / "routing.jsonl").write_text("\n".join(lines) + "\n" + "not json\n")
    assert [r["step"] for r in read_routing(folder)] == [5, 10]


def test_a_missing_root_or_stray_files_are_no_runs(tmp_path: Path) -> None:
    assert list_runs(tmp_path / "nowhere") == [] and list_runs(None) == []
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "pictures").mkdir()
    assert list_runs(tmp_path) == []


def test_reading_runs_and_their_saved_analysis_does_not_load_torch(runs: dict[str, Path]) -> None:
    import subprocess

    (runs["classes"] / "analysis.json").write_text('{"costs": {"nodes": []}}')
    code = (
        "import sys\nfrom pathlib import Path\n"
        "from modstudio.engine.records.run_history import list_runs, read_analysis, read_metrics, read_routing\n"
        f"records = list_runs(Path({str(runs['classes'].parent)!r}))\n"
        "assert len(records) == 5 and read_metrics(records[-1].folder)\n"
        f"assert read_analysis(Path({str(runs['classes'])!r})) == {{'costs': {{'nodes': []}}}}\n"
        "read_routing(records[-1].folder)\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_runs_root_is_where_the_engine_puts_runs(tmp_path: Path) -> None:
    from modstudio.engine.runs import default_runs_root

    for path in (tmp_path / "my project.msproj", None):
        assert runs_root_of(path) == default_runs_root(path)


def test_a_missing_or_broken_analysis_reads_as_none(tmp_path: Path) -> None:
    from modstudio.engine.records.run_history import read_analysis

    assert read_analysis(tmp_path) is None
    (tmp_path / "analysis.json").write_text('{"costs": ')  # cut off mid-write
    assert read_analysis(tmp_path) is None
    (tmp_path / "analysis.json").write_text("[1, 2]")  # not an analysis
    assert read_analysis(tmp_path) is None
