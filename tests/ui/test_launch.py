"""Launching: `modstudio` opens the window before torch loads; headless commands never load Qt."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **env}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=full, capture_output=True, text=True, timeout=60)


def test_the_window_is_shown_before_torch_is_imported() -> None:
    result = run("from modstudio.cli import main; raise SystemExit(main([]))", MODSTUDIO_EXIT_AFTER_SHOW="1")
    assert result.returncode == 0, result.stderr
    assert "shown:" in result.stdout and "torch=False" in result.stdout


def test_headless_commands_do_not_import_qt() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from modstudio.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['templates'])\n"
        "print(sorted(m for m in ('PySide6', 'qasync', 'pyqtgraph') if m in sys.modules))\n"
    )
    result = run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_missing_file_is_an_error_not_a_window() -> None:
    result = run("from modstudio.cli import main; raise SystemExit(main(['no/such/file.msproj']))")
    assert result.returncode == 2
    assert "does not exist" in result.stderr
