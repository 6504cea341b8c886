"""Searches in several processes: two share one SQLite study; a killed trial worker is a failed trial and the
search goes on; a killed search leaves its trial RUNNING, and the next one marks it failed and continues."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from modstudio.cli import main
from modstudio.engine.search.study import TrialRow, default_storage, read_trials
from tests.environment import python_path

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 240.0  # a loaded machine: spawning a worker that imports torch can take many seconds


def _search(path: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": python_path(ROOT)}
    command = [sys.executable, "-m", "modstudio", "search", str(path), *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for(path: Path, condition: Callable[[list[TrialRow]], TrialRow | None]) -> TrialRow:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = condition(read_trials(default_storage(path), "moons"))
        if found is not None:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no such trial after {WAIT_S} s: {read_trials(default_storage(path), 'moons')}")


def test_two_processes_share_one_study(moons: Path) -> None:
    searches = [_search(moons, "--trials", "4", "--jobs", "1") for _ in range(2)]
    outputs = ["\n".join(s.communicate(timeout=WAIT_S * 2)) for s in searches]
    assert [s.returncode for s in searches] == [0, 0], outputs
    ran = [set(map(int, re.findall(r"^trial (\d+)  COMPLETE", out, re.M))) for out in outputs]
    rows = read_trials(default_storage(moons), "moons")
    numbers = [r.number for r in rows]
    assert numbers == list(range(len(rows))) and 4 <= len(rows) <= 5  # a trial in flight may finish past 4
    assert ran[0] and ran[1] and not ran[0] & ran[1]  # both worked, never on the same trial
    assert ran[0] | ran[1] == set(numbers)  # the study's trials are the sum of theirs
    assert len({r.run_dir for r in rows}) == len(rows)


def test_killed_worker_and_killed_search(moons: Path) -> None:
    search = _search(moons, "--trials", "3", "--jobs", "1", "--epochs", "5000")
    try:
        first = _wait_for(moons, lambda rows: next((r for r in rows if r.state == "RUNNING" and r.run_dir), None))
        worker = _wait_for(moons, lambda rows: rows[first.number] if _pid(rows[first.number]) else None)
        os.kill(_pid(worker), signal.SIGKILL)  # the trial's worker dies: a failed trial, and the search goes on
        _wait_for(moons, lambda rows: next((r for r in rows if r.number > first.number and r.run_dir), None))
        os.kill(search.pid, signal.SIGKILL)  # the search itself dies in the middle of its next trial
        search.wait(timeout=30)
    finally:
        if search.poll() is None:
            search.kill()
            search.wait()
    assert [r.state for r in read_trials(default_storage(moons), "moons")] == ["FAIL", "RUNNING"]
    assert main(["search", str(moons), "--trials", "3", "--jobs", "1", "--epochs", "1"]) == 0
    rows = read_trials(default_storage(moons), "moons")
    assert [(r.number, r.state) for r in rows] == [(0, "FAIL"), (1, "FAIL"), (2, "COMPLETE")]
    assert "the training process stopped unexpectedly" in (rows[0].error or "")
    assert "its search process ended before it finished" in (rows[1].error or "")


def _pid(row: TrialRow) -> int:
    from modstudio.engine.search.study import load_study

    study = load_study(default_storage(Path(row.run_dir or ".").parents[1] / "moons.msproj"), "moons")
    assert study is not None
    return int(study.trials[row.number].user_attrs.get("worker_pid") or 0)
