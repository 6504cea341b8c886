"""The command line: templates, new, validate; bad files give named errors and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from modstudio.cli import main
from modstudio.library import templates

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def test_templates_lists_every_template(capsys):
    assert main(["templates"]) == 0
    out = capsys.readouterr().out
    for info in templates():
        assert info.name in out and info.title in out


def test_new_writes_a_project_that_validates(tmp_path, capsys):
    target = tmp_path / "digits.msproj"
    assert main(["new", "--template", "cnn_digits", "-o", str(target)]) == 0
    assert target.exists()
    assert main(["validate", str(target)]) == 0
    out = capsys.readouterr().out
    assert "conv1" in out and "[N, 16, 8, 8]" in out
    assert "total parameters: 13,706" in out


def test_new_refuses_to_overwrite_and_unknown_templates(tmp_path, capsys):
    target = tmp_path / "p.msproj"
    target.write_text("keep me")
    assert main(["new", "--template", "mlp_2d", "-o", str(target)]) == 2
    assert target.read_text() == "keep me"
    assert main(["new", "--template", "nope", "-o", str(tmp_path / "q.msproj")]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "no template named 'nope'" in err and "mlp_2d" in err


def test_validate_prints_the_module_tree_with_nesting(capsys):
    root = Path(__file__).resolve().parents[2]
    assert main(["validate", str(root / "resources/templates/resnet18.msproj")]) == 0
    out = capsys.readouterr().out
    assert "layer2_0     BasicBlockDown" in out
    assert "\n  down_conv  Conv2d" in out  # the inner nodes of a module, indented
    assert "total parameters: 11,689,512" in out


def test_validate_counts_the_parameters_of_frozen_nodes_apart(tmp_path, capsys):
    from modstudio.blocks import default_catalog
    from modstudio.graph.io import save_project
    from modstudio.library import load_template

    project = load_template("cnn_digits", default_catalog())
    conv1 = project.main_module.node_named("conv1")
    conv1.frozen = True  # as a grafted module kept frozen
    target = tmp_path / "frozen.msproj"
    save_project(project, target)
    assert main(["validate", str(target)]) == 0
    out = capsys.readouterr().out
    assert "total parameters: 13,706 (160 frozen)" in out  # conv1: 16 x 1 x 3 x 3 weights + 16 biases


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("cycle", "cycle: fc1 -> relu1 -> fc1"),
        ("unknown_block", "unknown block type 'rectifier'"),
        ("truncated", "not valid JSON"),
        ("shape_mismatch", "Linear 'fc1' expects a flat vector"),
        ("expression_out_of_range", "'width * 2' gives 0, which must be >= 1"),
    ],
)
def test_validate_bad_files_exit_2_with_named_errors(name, words, capsys):
    assert main(["validate", str(CORPUS / f"{name}.msproj")]) == 2
    captured = capsys.readouterr()
    assert words in captured.err
    assert captured.out == ""


def test_no_traceback_reaches_the_user(tmp_path):
    for args in (["validate", str(CORPUS / "recursive_module.msproj")], ["validate", str(tmp_path / "missing.msproj")]):
        result = subprocess.run([sys.executable, "-m", "modstudio", *args], capture_output=True, text=True)
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert "problem" in result.stderr or "missing.msproj does not exist" in result.stderr


def test_validate_reports_every_problem_of_a_file_in_one_run(tmp_path: Path, capsys) -> None:
    """A wrong type, an unknown block and a dangling edge: all three at once, not one per run."""
    corpus = Path(__file__).resolve().parent.parent / "corpus"
    data = json.loads((corpus / "valid.msproj").read_text())
    data["training"]["epochs"] = "ten"
    module = data["modules"]["main"]
    module["nodes"][1]["params"]["out_features"] = "eight"
    module["nodes"][2]["block"] = "rectifier"
    module["edges"][0]["dst"] = "0000-gone"
    path = tmp_path / "broken.msproj"
    path.write_text(json.dumps(data, indent=2))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{path}: 4 problems:")
    assert "training.epochs: should be a valid integer" in err
    assert "modules.main.nodes[1].params.out_features: must be a whole number, not 'eight'" in err
    assert "modules.main.edges[0]: dangling edge: it goes to node '0000-gone', which does not exist" in err
    assert "modules.main.nodes[2].block: node 'relu1' has unknown block type 'rectifier'" in err
    assert "shape problem" not in err and "Traceback" not in err  # all else lies downstream of a flagged node


def test_validate_reports_shape_problems_beside_the_problems_of_fields(tmp_path: Path, capsys) -> None:
    corpus = Path(__file__).resolve().parent.parent / "corpus"
    data = json.loads((corpus / "valid.msproj").read_text())
    data["training"]["epochs"] = "ten"
    data["modules"]["main"]["nodes"][0]["params"]["shape"] = [3, 4, 4]
    path = tmp_path / "broken.msproj"
    path.write_text(json.dumps(data, indent=2))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{path}: 1 problem:\n  training.epochs: should be a valid integer")
    assert "\nand 1 shape problem:\n  main: Linear 'fc1' expects a flat vector" in err
