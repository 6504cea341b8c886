"""`modstudio train`: per-epoch lines and a summary, exit 2 with a named error on bad input, Ctrl-C stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from modstudio.cli import main
from modstudio.graph.io import save_project

from .conftest import small_mlp


def test_train_prints_epochs_and_a_summary_with_the_run_folder(tmp_path, capsys):
    file = tmp_path / "moons.msproj"
    save_project(small_mlp(), file)
    assert main(["train", str(file), "--epochs", "2", "--seed", "1", "--device", "cpu", "-q"]) == 0
    out = capsys.readouterr().out
    assert "epoch 1/2: train loss" in out and "epoch 2/2" in out
    assert "done: test accuracy 0." in out
    runs = list((tmp_path / "moons.runs").iterdir())  # beside the project by default
    assert len(runs) == 1 and str(runs[0]) in out
    assert json.loads((runs[0] / "run.json").read_text())["seed"] == 1


def test_a_log_file_gets_the_epoch_lines_without_progress_bar_updates(tmp_path):
    file = tmp_path / "moons.msproj"
    save_project(small_mlp(), file)
    log = tmp_path / "train.log"
    with log.open("w") as stream:  # stdout and stderr to a file, as in `modstudio train p.msproj > log 2>&1`
        done = subprocess.run(
            [sys.executable, "-m", "modstudio", "train", str(file), "--epochs", "2", "--device", "cpu"],
            stdout=stream,
            stderr=subprocess.STDOUT,
            timeout=120,
        )
    text = log.read_text()
    assert done.returncode == 0, text
    assert "epoch 2/2: train loss" in text
    assert "\r" not in text and "step/s" not in text


def test_bad_input_exits_2_with_a_named_error(tmp_path, capsys):
    assert main(["train", str(tmp_path / "missing.msproj")]) == 2
    assert "missing.msproj does not exist" in capsys.readouterr().err  # said before torch loads
    project = small_mlp()
    project.data.dataset, project.data.options = "digits", {}
    file = tmp_path / "p.msproj"
    save_project(project, file)
    assert main(["train", str(file), "--out", str(tmp_path / "runs"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "error: Input 'x' takes samples of shape [2] but the digits dataset gives [1, 8, 8]" in err
    assert "Traceback" not in err
    assert main(["train", str(file), "--epochs", "0"]) == 2


def _default_sigint() -> None:
    """A shell's background jobs inherit an ignored SIGINT; a terminal's foreground command does not."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_cleanly_with_a_checkpoint(tmp_path):
    file = tmp_path / "long.msproj"
    project = small_mlp(samples=4000, epochs=1000)
    project.data.batch_size = 8
    save_project(project, file)
    process = subprocess.Popen(
        [sys.executable, "-m", "modstudio", "train", str(file), "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=_default_sigint,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()  # "training on ..." once the worker has started
    assert line.startswith("training on"), line + process.stderr.read()
    assert process.stdout.readline().startswith("epoch 1/1000")
    os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group gets it
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "stopping: saving a checkpoint" in err and "Traceback" not in err
    assert "stopped: test accuracy" in out
    run = next((tmp_path / "long.runs").iterdir())
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "stopped" and info["epochs"] >= 1 and info["steps"] > info["epochs"]
    assert (run / "last.safetensors").exists() and (run / "optimizer.safetensors").exists()
    assert Path(run / "project.msproj").exists()
