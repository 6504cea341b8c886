"""The exported torchrun train.py records the whole job's routing: every rank counts, rank 0 writes the sum."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import modstudio
from modstudio.blocks import default_catalog
from modstudio.engine.records.run_history import read_routing, read_run, read_statistics
from modstudio.engine.torchrun import export_torchrun
from modstudio.library import load_template
from tests.engine.test_export_torchrun import _run
from tests.environment import python_path


def test_two_processes_write_routing_counted_over_both_ranks(tmp_path):
    project = load_template("moe_2d", default_catalog())
    project.training.statistics_every = 2  # rank 0 records statistics over time too
    folder = tmp_path / "moe_2d"
    export_torchrun(project, folder)
    settings = json.loads((folder / "settings.json").read_text())
    run = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RANK", "WORLD_SIZE", "MASTER_", "LOCAL_RANK"))}
    here = str(Path(modstudio.__file__).resolve().parents[1])  # this ModStudio, for train.py's tracker
    env["PYTHONPATH"] = python_path(here)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "train.py",
               "--epochs", "1", "--out", str(run), "--routing-every", "3"]  # fmt: skip
    code, stdout, stderr = _run(command, folder, {**env, "OMP_NUM_THREADS": "1"})
    assert code == 0, stdout + stderr
    assert "routing is not recorded" not in stdout
    from safetensors.torch import load_file

    samples = load_file(str(folder / "data.safetensors"))["train_x"].shape[0]
    batch = settings["data"]["batch_size"]
    per_rank = -(-samples // 2)  # DistributedSampler pads each rank's share to the same size
    steps = -(-per_rank // batch)
    reports = read_routing(run)
    assert reports and [r["step"] for r in reports][-1] == steps
    routed = sum(r["probes"]["moe"]["routed_tokens"] for r in reports)
    assert routed == 2 * per_rank  # both ranks' tokens: rank 0 alone routed half of them
    kept = sum(sum(r["probes"]["moe"]["tokens_per_expert"]) + r["probes"]["moe"]["dropped_tokens"] for r in reports)
    assert kept == routed  # a switch gate: every token went to one expert or was dropped at capacity
    assert all(r["probes"]["moe"]["steps"] <= 3 for r in reports)
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert lines[0]["type"] == "start" and lines[-1]["type"] == "epoch" and lines[-1]["val_loss"] < lines[0]["val_loss"]
    assert sum(line["type"] == "epoch" for line in lines) == 1  # written once, by rank 0
    assert read_run(run).status == "finished"
    records = read_statistics(run)
    assert [r["step"] for r in records] == list(range(2, steps + 1, 2))  # every second step, once (rank 0)
    nodes = {n.name for n in project.main_module.nodes if n.block not in ("input", "output")}
    assert set(records[0]["modules"]) == nodes
    moe = records[-1]["modules"]["moe"]
    assert sum(moe["activations"]["counts"]) > 0 and sum(moe["gradients"]["counts"]) > 0 and moe["update_ratio"] > 0


def test_train_py_still_trains_where_modstudio_is_not_installed(tmp_path):
    """Routing needs ModStudio; training needs only torch and safetensors (one process, no torchrun)."""
    project = load_template("moe_2d", default_catalog())
    project.training.statistics_every = 2
    folder = tmp_path / "moe_2d"
    export_torchrun(project, folder)
    run = tmp_path / "run"
    hide = (
        "import runpy, sys; sys.modules['modstudio'] = None; "  # as if ModStudio were not installed
        f"sys.argv = ['train.py', '--epochs', '1', '--out', {str(run)!r}]; runpy.run_path('train.py', run_name='__main__')"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RANK", "WORLD_SIZE", "MASTER_", "LOCAL_RANK"))}
    code, stdout, stderr = _run([sys.executable, "-c", hide], folder, {**env, "OMP_NUM_THREADS": "1"})
    assert code == 0, stdout + stderr
    assert "routing is not recorded: ModStudio is not installed here" in stdout
    assert "statistics are not recorded: ModStudio is not installed here" in stdout
    assert not (run / "statistics.jsonl").exists()
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["type"] for line in lines] == ["start", "epoch"]
    assert not (run / "routing.jsonl").exists() and read_run(run).status == "finished"
