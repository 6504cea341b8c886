"""Project files: round trip, atomic saves that survive being killed, errors that keep the old file."""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modstudio.blocks import default_catalog
from modstudio.graph.builder import ProjectBuilder
from modstudio.graph.io import load_project, project_from_json, project_to_json, save_project, write_atomic
from modstudio.graph.model import Project
from modstudio.graph.problems import ProjectError


def chain_project(name: str, depth: int) -> Project:
    pb = ProjectBuilder(name)
    b = pb.module("main", f"a chain of {depth} layers")
    h = b.input("x", [4])
    for i in range(depth):
        h = b.add("relu", f"act{i}", b.add("linear", f"fc{i}", h, out_features=8 + i % 5))
    b.output("y", b.add("linear", "head", h, out_features=3), task="classification")
    project = pb.project(name)
    project.ui.positions["main"] = {n.id: [float(i * 40), 0.0] for i, n in enumerate(project.main_module.nodes)}
    return project


def test_round_trip_is_identical(tmp_path):
    project = chain_project("round trip", 5)
    path = tmp_path / "p.msproj"
    save_project(project, path)
    loaded = load_project(path, default_catalog())
    assert loaded == project
    assert project_to_json(loaded) == path.read_text(encoding="utf-8")
    assert json.loads(path.read_text())["format_version"] == 1


def test_ui_data_is_kept_apart_from_the_model(tmp_path):
    project = chain_project("ui", 2)
    data = json.loads(project_to_json(project))
    assert set(data["ui"]) >= {"positions", "view"}
    assert all("position" not in node for node in data["modules"]["main"]["nodes"])


def test_loading_checks_types_strictly():
    text = project_to_json(chain_project("strict", 1)).replace('"batch_size": 64', '"batch_size": "64"')
    with pytest.raises(ProjectError, match=r"data.batch_size: should be a valid integer"):
        project_from_json(text, default_catalog())


def test_save_leaves_no_temporary_files(tmp_path):
    save_project(chain_project("a", 2), tmp_path / "p.msproj")
    save_project(chain_project("b", 3), tmp_path / "p.msproj")
    assert [p.name for p in tmp_path.iterdir()] == ["p.msproj"]


def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "p.msproj"
    save_project(chain_project("old", 2), path)
    before = path.read_bytes()

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        save_project(chain_project("new", 3), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["p.msproj"]


SAVER = """
import sys
from modstudio.graph.io import project_from_json, save_project
texts = [open(p, encoding="utf-8").read() for p in sys.argv[2:4]]
projects = [project_from_json(t) for t in texts]
print("ready", flush=True)
i = 0
while True:
    save_project(projects[i % 2], sys.argv[1])
    i += 1
"""


def test_saving_survives_being_killed(tmp_path):
    """Kill a process that saves over and over, at random moments: the file on disk is always
    the old or the new project, complete and loadable."""
    old, new = chain_project("old", 150), chain_project("new", 220)
    sources = []
    for project in (old, new):
        source = tmp_path / f"{project.name}.json"
        source.write_text(project_to_json(project), encoding="utf-8")
        sources.append(str(source))
    target = tmp_path / "work" / "p.msproj"
    target.parent.mkdir()
    start = time.perf_counter()
    save_project(new, target)
    save_project(old, target)
    pair = time.perf_counter() - start  # one save of each: the child's loop period
    rng = random.Random(1234)
    seen: set[str] = set()
    kills = 0

    def leftovers() -> list[str]:
        return [p.name for p in target.parent.iterdir() if p != target]

    # Kill at random moments until both projects were seen on disk and at least one kill landed in
    # the middle of a save (its temporary file is left behind): at least 25 kills, at most 300.
    while kills < 25 or (kills < 300 and (seen != {"old", "new"} or not leftovers())):
        child = subprocess.Popen(
            [sys.executable, "-c", SAVER, str(target), *sources], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 3 * pair))  # kill within the first few saves, wherever they are
        child.send_signal(signal.SIGKILL)
        child.wait()
        kills += 1
        loaded = load_project(target, default_catalog())
        assert loaded in (old, new), f"after kill {kills} the file is neither project"
        seen.add(loaded.name)
    assert seen == {"old", "new"}
    # Kills landed in the middle of saves too: their temporary files are left behind, never the target.
    left = leftovers()
    assert left and all(name.startswith(".p.msproj.") and name.endswith(".tmp") for name in left)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600])
def test_a_save_keeps_the_files_permissions(tmp_path, mode):
    path = tmp_path / "p.msproj"
    save_project(chain_project("old", 2), path)
    os.chmod(path, mode)
    save_project(chain_project("new", 3), path)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert load_project(path).name == "new"


def test_a_new_file_gets_the_usual_permissions_less_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        save_project(chain_project("a", 2), tmp_path / "p.msproj")
        write_atomic(tmp_path / "run.json", b"{}\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "p.msproj").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "run.json").stat().st_mode) == 0o640


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.skipif(os.name == "nt", reason="os.kill(pid, 0) is no probe on Windows: stale files are kept there")
def test_a_save_removes_what_killed_saves_left_but_not_a_live_saves_file(tmp_path):
    path = tmp_path / "p.msproj"
    save_project(chain_project("old", 2), path)
    stale = tmp_path / f".p.msproj.{dead_pid()}.abc123_x.tmp"
    saver = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # a save still going
    live = tmp_path / f".p.msproj.{saver.pid}.def456.tmp"
    other = tmp_path / f".q.msproj.{dead_pid()}.abc123.tmp"  # another file's save: not this one's business
    old_style = tmp_path / ".p.msproj.k2j3h4.tmp"  # no pid in the name: whose it is cannot be known
    for file in (stale, live, other, old_style):
        file.write_text("half a project")
    try:
        save_project(chain_project("new", 3), path)
    finally:
        saver.kill()
        saver.wait()
    assert not stale.exists()
    assert live.exists() and other.exists() and old_style.exists()
    assert load_project(path).name == "new"


def test_the_temporary_file_of_a_save_names_the_saving_process(tmp_path, monkeypatch):
    seen: list[str] = []
    real_replace = os.replace

    def watch(source, target):
        seen.append(Path(source).name)
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", watch)
    save_project(chain_project("a", 2), tmp_path / "p.msproj")
    assert len(seen) == 1 and seen[0].startswith(f".p.msproj.{os.getpid()}.") and seen[0].endswith(".tmp")
