"""The torchrun folder trains with DDP on 2 CPU processes and leaves weights ModStudio loads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from safetensors.torch import load_file

from modstudio.blocks import default_catalog
from modstudio.compile.export import ExportError, build_network
from modstudio.engine.torchrun import export_torchrun
from modstudio.library import load_template


def _run(command: list[str], cwd, env: dict[str, str], timeout: float = 240) -> tuple[int, str, str]:
    """Run torchrun in its own process group, so a timeout ends its workers too."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)  # fmt: skip
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"torchrun took more than {timeout} s:\n{stdout}\n{stderr}")
    return process.returncode, stdout, stderr


def test_torchrun_folder_trains_on_two_processes_and_the_checkpoint_loads_back(tmp_path):
    project = load_template("moe_2d", default_catalog())  # DDP over a mixture of experts, aux losses included
    folder = tmp_path / "moe_2d"
    export_torchrun(project, folder)
    assert {p.name for p in folder.iterdir()} == {
        "train.py",
        "model.py",
        "project.msproj",
        "settings.json",
        "data.safetensors",
    }
    settings = json.loads((folder / "settings.json").read_text())
    assert (
        settings["data"]["batch_size"] == project.data.batch_size
        and settings["training"]["seed"] == project.training.seed
    )
    run = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RANK", "WORLD_SIZE", "MASTER_", "LOCAL_RANK"))}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "train.py",
               "--epochs", "1", "--out", str(run)]  # fmt: skip
    code, stdout, stderr = _run(command, folder, {**env, "OMP_NUM_THREADS": "1"})
    assert code == 0, stdout + stderr
    assert "training on 2 process(es), cpu" in stdout
    assert stdout.count("epoch 1/1") == 1  # only rank 0 logs
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    start, epoch = records[0], records[-1]
    assert start["processes"] == 2 and epoch["type"] == "epoch"
    assert epoch["val_loss"] < start["val_loss"]  # the loss went down
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "finished" and info["epochs"] == 1
    net = build_network(project)
    net.load_state_dict(load_file(str(run / "best.safetensors")), strict=True)  # ModStudio loads it back
    assert (run / "project.msproj").is_file() and (run / "last.safetensors").is_file()


def test_torchrun_needs_data_it_can_prepare(tmp_path):
    project = load_template("resnet18", default_catalog())  # an image folder nobody gave a path to
    with pytest.raises(ExportError, match="cannot prepare the data"):
        export_torchrun(project, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []
