"""``modstudio evaluate`` on a briefly trained class tree: tables, the HTML report, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modstudio.cli import main
from modstudio.engine.evaluation.report import report_html


def test_evaluate_prints_the_tables_and_writes_the_report(
    tree_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project, run = tree_run
    report = tmp_path / "report"
    assert main(["evaluate", str(project), "--run", str(run), "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "per class:" in out and "confusion matrix" in out and "branch 0 (LowDigits)" in out
    page = (report / "index.html").read_text()
    saved = json.loads((report / "evaluation.json").read_text())
    tested = json.loads((run / "run.json").read_text())["test_accuracy"]
    assert saved["accuracy"] == pytest.approx(tested, abs=1e-6)  # the run's own test accuracy, same weights and split
    assert f"accuracy {saved['accuracy']:.4f}" in out
    for text in (
        "Confusion matrix and classes",
        "precision",
        "Calibration",
        "Misclassified samples",
        "branch 1 (HighDigits)",
    ):
        assert text in page
    assert page.count("<tr>") > 10 + 10 + 10  # per-class, counts and normalised tables have a row per class
    assert "data:image/png;base64," in page and (report / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert "Attributions (integrated gradients" in page and "per part of tree" in page
    assert saved["gallery"] and all(g["true"] != g["predicted"] for g in saved["gallery"])


def test_project_text_is_escaped_in_the_report(tree_run: tuple[Path, Path]) -> None:
    from modstudio.engine.evaluation.evaluate import evaluate_run

    result = evaluate_run(tree_run[1], what_if=False)
    result["project"] = "<script>alert(1)</script>"
    result["class_names"][0] = "a&b<i>"
    for row in result["per_class"]:
        row["class"] = row["class"] if row["class"] != "0" else "a&b<i>"
    page = report_html(result)
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "a&amp;b&lt;i&gt;" in page and "a&b<i>" not in page


def test_bad_input_is_named_with_exit_2_and_nothing_written(
    tree_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project, run = tree_run
    report = tmp_path / "never"
    assert main(["evaluate", str(project), "--run", str(tmp_path), "--report", str(report)]) == 2
    assert "is not a run folder" in capsys.readouterr().err and not report.exists()
    assert main(["evaluate", str(project), "--run", str(run), "--target", "3"]) == 2
    assert "--target needs --sample" in capsys.readouterr().err
    assert main(["evaluate", str(project), "--run", str(run), "--sample", "100000", "--no-what-if"]) == 2
    err = capsys.readouterr().err
    assert "there is no sample 100000" in err and "Traceback" not in err


def test_without_captum_the_rest_is_evaluated_and_the_report_says_why(
    tree_run: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from modstudio.engine.evaluation import attribution

    monkeypatch.setattr(attribution, "captum_missing", lambda: attribution.MISSING)
    project, run = tree_run
    assert main(["evaluate", str(project), "--run", str(run), "--split", "val", "--report", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "val split" in out and "note: no attributions: attributions need Captum" in out
    page = (tmp_path / "r" / "index.html").read_text()
    assert "pip install &#x27;modstudio[explain]&#x27;" in page and "Confusion matrix and classes" in page
    saved = json.loads((tmp_path / "r" / "evaluation.json").read_text())
    assert saved["split"] == "val" and "attributions" not in saved
    assert main(["evaluate", str(project), "--run", str(run), "--sample", "1"]) == 2  # asked for: refused, named
    assert "attributions need Captum" in capsys.readouterr().err
