"""Plugins load late and within a time limit: a plugin whose import never ends is reported and
skipped, the rest load, the command goes on and the process exits; --version and -h load none."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modstudio.blocks.plugins import IMPORT_TIME_LIMIT_S, PATH_VARIABLE, TIME_LIMIT_VARIABLE
from modstudio.cli import main
from tests.environment import python_path

from .test_plugins_support import Places, block_source, plugin_places

ROOT = Path(__file__).resolve().parents[2]
SPIN = "while True:\n    pass\n"


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Places]:
    yield from plugin_places(tmp_path, monkeypatch)


def _import_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "modstudio-plugin-import"]


def test_the_limit_is_ten_seconds_unless_the_variable_says_otherwise(monkeypatch):
    from modstudio.blocks.plugins_loading import import_time_limit

    assert IMPORT_TIME_LIMIT_S == 10.0
    monkeypatch.delenv(TIME_LIMIT_VARIABLE, raising=False)
    assert import_time_limit() == 10.0
    for text, expected in (("0.5", 0.5), ("30", 30.0), ("soon", 10.0), ("-1", 10.0), ("0", 10.0)):
        monkeypatch.setenv(TIME_LIMIT_VARIABLE, text)
        assert import_time_limit() == expected, text


def test_a_plugin_whose_import_never_ends_is_skipped_and_the_rest_load(places: Places, monkeypatch):
    monkeypatch.setenv(TIME_LIMIT_VARIABLE, "0.3")
    spin = places.write("spin.py", SPIN)
    places.write("spin_pkg/__init__.py", "from . import inner\n")  # the loop inside a nested import
    places.write("spin_pkg/inner.py", SPIN)
    places.write("fine.py", block_source("fine_block"))
    places.install("slow-ep", {"slow_ep": "slow_ep_module"}, {"slow_ep_module": SPIN})
    report = places.load()
    reasons = {p.source: p.reason for p in report.problems}
    skipped = "import took over 0.3 s; skipped"
    assert reasons == {
        str(spin): skipped,
        str(places.folder / "spin_pkg"): skipped,
        "entry point 'slow_ep = slow_ep_module' of slow-ep 1.0": skipped,
    }
    assert "fine" in {p.name for p in report.plugins} and "fine_block" in report.catalog
    for name in ("spin", "spin_pkg", "spin_pkg.inner", "slow_ep_module"):
        assert name not in sys.modules, name  # no half-made module left behind
    deadline = time.monotonic() + 10
    while _import_threads() and time.monotonic() < deadline:  # the busy loops were asked to stop
        time.sleep(0.05)
    assert _import_threads() == []


def test_version_and_help_load_no_plugin(places: Places, capsys):
    places.write("oops.py", "raise ImportError('needs scipy')\n")
    for argv in (["--version"], ["--help"], ["validate", "-h"], ["export", "--help"]):
        with pytest.raises(SystemExit) as ended:
            main(argv)
        assert ended.value.code == 0
    captured = capsys.readouterr()
    assert "plugin problem" not in captured.err
    assert "modstudio " in captured.out and "usage: modstudio validate" in captured.out


def _modstudio(args: list[str], plugins: Path, limit: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != TIME_LIMIT_VARIABLE}
    env[PATH_VARIABLE] = str(plugins)
    env["XDG_DATA_HOME"] = str(plugins.parent / "user_data")  # no user plugins
    env["PYTHONPATH"] = python_path(ROOT)
    if limit is not None:
        env[TIME_LIMIT_VARIABLE] = limit
    command = [sys.executable, "-m", "modstudio", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)


def test_version_answers_with_a_looping_plugin_installed(tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "spin.py").write_text(SPIN)
    done = _modstudio(["--version"], tmp_path / "plugins", limit=None)  # the 10 s limit: never reached
    assert (done.returncode, done.stdout, done.stderr) == (0, "modstudio 0.1.0\n", "")


def test_validate_reports_a_looping_plugin_validates_the_file_and_exits(tmp_path):
    folder = tmp_path / "plugins"
    (folder / "spin_pkg").mkdir(parents=True)
    (folder / "spin_pkg" / "__init__.py").write_text("from . import inner\n")
    (folder / "spin_pkg" / "inner.py").write_text(  # ignores the request to stop: still the process exits
        "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass\n"
    )
    (folder / "fine.py").write_text(block_source("fine_block"))
    project = ROOT / "resources" / "templates" / "mlp_2d.msproj"
    done = _modstudio(["validate", str(project)], folder, limit="0.5")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [f"plugin problem: {folder / 'spin_pkg'}: import took over 0.5 s; skipped"]
    assert "total parameters: 4,482" in done.stdout
