"""``modstudio evaluate --device auto|cpu|cuda|mps``: the engine's device choice, named in the header and the JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from modstudio.cli import main
from modstudio.engine.errors import EngineError
from modstudio.engine.evaluation.evaluate import evaluate_run

HAS_CUDA = torch.cuda.is_available()
HAS_MPS = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def test_on_the_cpu_the_header_and_the_json_say_so(
    tree_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project, run = tree_run
    report = tmp_path / "report"
    argv = ["evaluate", str(project), "--run", str(run), "--device", "cpu", "--no-what-if", "--explain", "off"]
    assert main([*argv, "--report", str(report)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.endswith(", on cpu") and "test split" in first
    saved = json.loads((report / "evaluation.json").read_text())
    tested = json.loads((run / "run.json").read_text())["test_accuracy"]
    assert saved["device"] == "cpu" and saved["accuracy"] == pytest.approx(tested, abs=1e-6)


@pytest.mark.skipif(HAS_CUDA or HAS_MPS, reason="auto picks the CPU only where there is no GPU")
def test_auto_picks_the_cpu_without_a_gpu(tree_run: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    project, run = tree_run
    assert main(["evaluate", str(project), "--run", str(run), "--no-what-if"]) == 0  # auto is the default
    assert capsys.readouterr().out.splitlines()[0].endswith(", on cpu")
    assert evaluate_run(run, what_if=False, device="auto")["device"] == "cpu"


@pytest.mark.skipif(HAS_CUDA, reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_is_named_with_exit_2(
    tree_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project, run = tree_run
    report = tmp_path / "never"
    assert main(["evaluate", str(project), "--run", str(run), "--device", "cuda", "--report", str(report)]) == 2
    captured = capsys.readouterr()
    assert captured.err == "error: device 'cuda' was asked for but no CUDA GPU is available (use auto or cpu)\n"
    assert captured.out == "" and not report.exists()
    with pytest.raises(EngineError, match="was asked for but"):
        evaluate_run(run, device="cuda")


@pytest.mark.skipif(HAS_MPS, reason="this machine has Apple's MPS")
def test_mps_where_there_is_none_is_named_with_exit_2(
    tree_run: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    project, run = tree_run
    assert main(["evaluate", str(project), "--run", str(run), "--device", "mps"]) == 2
    err = capsys.readouterr().err
    assert "device 'mps' was asked for but Apple's MPS is not available" in err and "Traceback" not in err


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
def test_on_a_gpu_the_numbers_are_the_cpus(moe_run: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    project, run = moe_run
    on_cpu = evaluate_run(run, "test", device="cpu")
    on_gpu = evaluate_run(run, "test", device="auto")
    assert on_gpu["device"] == "cuda" and on_cpu["device"] == "cpu"
    assert on_gpu["accuracy"] == pytest.approx(on_cpu["accuracy"], abs=0.01)
    assert [u["samples"] for e in on_gpu["experts"] for u in e["units"]] == pytest.approx(
        [u["samples"] for e in on_cpu["experts"] for u in e["units"]], abs=2
    )
    assert main(["evaluate", str(project), "--run", str(run), "--device", "cuda", "--sample", "0"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith(", on cuda")
