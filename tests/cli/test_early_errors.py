"""A mistyped file name is reported at once, before plugins, torch or Qt load; --help names the editor."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from modstudio.cli import main

LOADED = "print(sorted(m for m in ('torch', 'PySide6', 'modstudio.blocks.plugins') if m in sys.modules))"


def run_main(args: list[str]) -> subprocess.CompletedProcess:
    """main(args) in a fresh interpreter; prints its exit status and the heavy modules it loaded."""
    code = f"import sys\nfrom modstudio.cli import main\nprint(main({args!r}))\n{LOADED}\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "{missing}"],
        ["train", "{missing}", "--epochs", "1"],
        ["export", "{missing}", "--format", "python", "-o", "{tmp}/out.py"],
        ["analyze", "{missing}"],
        ["graft", "{missing}", "--from", "{missing}", "--run", "latest", "--module", "M"],
        ["{missing}"],
    ],
    ids=["validate", "train", "export", "analyze", "graft", "editor"],
)
def test_a_missing_file_is_reported_before_torch_or_qt_load(tmp_path: Path, args: list[str]) -> None:
    missing = tmp_path / "missing.msproj"
    result = run_main([a.format(missing=missing, tmp=tmp_path) for a in args])
    assert result.stdout.splitlines() == ["2", "[]"], result.stderr
    assert result.stderr == f"error: {missing} does not exist\n"
    assert not (tmp_path / "out.py").exists()


def test_grafts_other_project_is_checked_too(tmp_path: Path, capsys) -> None:
    (tmp_path / "mine.msproj").write_text("{}", encoding="utf-8")
    assert main(["graft", str(tmp_path / "mine.msproj"), "--from", str(tmp_path), "--run", "x", "--module", "M"]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path} is a folder, not a project file\n"


def test_help_says_that_a_file_opens_the_editor(capsys) -> None:
    with pytest.raises(SystemExit) as ended:
        main(["--help"])
    assert ended.value.code == 0
    out = capsys.readouterr().out
    assert "`modstudio FILE` opens the editor on a project file (.msproj)" in " ".join(out.split())
    assert out.startswith("usage: modstudio [FILE] | modstudio COMMAND")


def test_a_commands_own_usage_names_it(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["validate"])
    assert capsys.readouterr().err.startswith("usage: modstudio validate [-h] file")


def test_new_from_the_empty_template_validates(tmp_path: Path, capsys) -> None:
    target = tmp_path / "mine.msproj"
    assert main(["templates", "--brief"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split() == ["empty", "Empty", "project"]
    assert main(["new", "--template", "empty", "-o", str(target)]) == 0
    assert main(["validate", str(target)]) == 0
    out = capsys.readouterr().out
    assert "Empty project" in out and "total parameters: 6" in out
