"""``modstudio --selftest``: trains one epoch in the spawned worker, exports, checks; headless, no Qt."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from modstudio.cli import main

# Runs the command line in a fresh interpreter (spawn needs a real __main__) and says whether Qt got loaded.
SCRIPT = """
import sys
from modstudio.cli import main
code = main(["--selftest", "mlp_2d"])
print("qt loaded:", any(name.startswith("PySide6") for name in sys.modules))
raise SystemExit(code)
"""


def test_selftest_trains_exports_and_passes_without_qt(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # the selftest's work folder goes here
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=tmp_path, timeout=600, env=env
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "train one epoch in the worker process: ok" in out
    assert "template: mlp_2d" in out
    assert "device: " in out
    accuracy = next(line for line in out.splitlines() if "test accuracy:" in line)
    assert 0.5 < float(accuracy.split(":")[1].split()[0]) <= 1.0  # two classes: one epoch beats chance
    export = next(line for line in out.splitlines() if line.strip().startswith("export:"))
    exported = Path(export.split(":", 1)[1].split(" (")[0].strip())
    assert exported.is_file() and exported.is_relative_to(tmp_path) and "class " in exported.read_text()
    assert "digits data: 1797 samples" in out
    assert out.rstrip().splitlines()[-2].startswith("selftest: ok")
    assert out.rstrip().splitlines()[-1] == "qt loaded: False"


def test_selftest_of_an_unknown_template_fails_with_the_reason(capsys) -> None:
    assert main(["--selftest", "no_such_template"]) == 1
    out = capsys.readouterr().out
    assert "selftest: FAILED at load template: no template named 'no_such_template'" in out
    assert "Traceback" not in out
