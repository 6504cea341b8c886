"""A network too large for this machine: validate warns naming the node and exits 0, export and
train refuse with exit 2 before allocating, nothing written; a normal one prints its estimate."""

from __future__ import annotations

from pathlib import Path

from modstudio.cli import main
from modstudio.graph.io import save_project
from tests.compile.test_memory import huge_mlp

ROOT = Path(__file__).resolve().parents[2]
FC2 = "'fc2' holds 4.0 TB of float32 weights: "


def _huge(tmp_path: Path) -> Path:
    path = tmp_path / "huge.msproj"
    save_project(huge_mlp(), path)
    return path


def test_validate_warns_naming_the_node_and_still_validates(tmp_path, capsys):
    assert main(["validate", str(_huge(tmp_path))]) == 0  # the file is valid: a warning, not a failure
    captured = capsys.readouterr()
    assert "total parameters: 1,000,006,000,002" in captured.out
    assert "memory for training: weights 4.0 TB, gradients 4.0 TB, optimizer state 8.0 TB (adam)" in captured.out
    [warning] = [line for line in captured.err.splitlines() if line.startswith("warning:")]
    assert warning.startswith(f"warning: {FC2}training needs about 16.0 TB (")
    assert "more than this machine's " in warning or "ModStudio assumes" in warning


def test_export_refuses_before_allocating_and_writes_nothing(tmp_path, capsys):
    project = _huge(tmp_path)
    before = sorted(tmp_path.iterdir())
    out = tmp_path / "model.py"
    assert main(["export", str(project), "--format", "python", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {FC2}exporting needs about 8.0 TB (the weights, 4.0 TB, twice: ")
    assert err.rstrip().endswith("nothing was written.")
    assert sorted(tmp_path.iterdir()) == before


def test_train_refuses_before_starting_and_makes_no_run_folder(tmp_path, capsys):
    project = _huge(tmp_path)
    assert main(["train", str(project), "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {FC2}training needs about 16.0 TB")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "huge.msproj.runs").exists()


def test_validate_prints_the_estimate_of_a_network_that_fits(capsys):
    assert main(["validate", str(ROOT / "resources/templates/mlp_2d.msproj")]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[-1] == (
        "memory for training: weights 17.9 KB, gradients 17.9 KB, optimizer state 35.9 KB (adam), "
        "activations 66.0 KB per batch of 64; about 137.8 KB in all"
    )
    assert "warning" not in captured.err
