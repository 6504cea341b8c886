"""Training in the spawned worker through TrainClient: messages, pause/resume/stop, a killed worker, faults."""

from __future__ import annotations

import os
import signal
import time

import numpy as np

from modstudio.engine.client import TrainClient
from modstudio.engine.protocol import Finished, message_from_dict
from modstudio.engine.settings import TrainSettings

from .conftest import small_mlp

ORDER = ("progress", "routing", "gradients", "regions", "epoch", "usage", "checkpoint", "warning", "paused", "resumed")


def collect_until(client, kind, limit=120.0):
    """Messages until one of type ``kind`` (a generous bound so a broken worker cannot hang the suite)."""
    out = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        out.extend(client.poll(0.05))
        if any(m.type == kind for m in out) or client.finished:
            return out
    raise AssertionError(f"no '{kind}' message; got {[m['type'] for m in out]}")


def test_a_short_training_streams_messages_in_order_and_finishes(tmp_path):
    client = TrainClient()
    client.start(small_mlp(epochs=3), TrainSettings(runs_root=str(tmp_path)))
    messages = client.wait(120)
    kinds = [m.type for m in messages]
    assert kinds[0] == "started" and kinds[-1] == "finished" and kinds.count("finished") == 1
    assert set(kinds[1:-1]) <= set(ORDER)
    assert [m.epoch for m in messages if m.type == "epoch"] == [1, 2, 3]
    last_epoch = max(i for i, k in enumerate(kinds) if k == "epoch")
    assert all(k != "progress" or i < last_epoch for i, k in enumerate(kinds))
    assert messages[-1].status == "completed" and 0.7 < messages[-1].test_accuracy <= 1.0
    assert os.path.exists(os.path.join(messages[-1].run_folder, "best.safetensors"))
    assert not client.is_alive()


def test_pause_resume_and_stop_mid_epoch(tmp_path):
    project = small_mlp(samples=20000, epochs=50)
    project.data.batch_size = 4  # thousands of steps per epoch: a stop must not wait for the epoch's end
    client = TrainClient()
    client.start(project, TrainSettings(runs_root=str(tmp_path)))
    started = collect_until(client, "progress")[0]
    client.pause()
    paused = next(m for m in collect_until(client, "paused") if m.type == "paused")
    client.resume()
    resumed = next(m for m in collect_until(client, "resumed") if m.type == "resumed")
    assert resumed.step == paused.step  # nothing was trained while paused
    collect_until(client, "progress")
    client.stop()
    messages = client.wait(60)
    finished = messages[-1]
    assert finished.type == "finished" and finished.status == "stopped"
    assert finished.epochs == 0 and 0 < finished.steps < started.steps_per_epoch
    checkpoint = [m for m in messages if m.type == "checkpoint"][-1]
    assert checkpoint.step == finished.steps and os.path.exists(checkpoint.path)


def test_a_killed_worker_is_reported(tmp_path):
    client = TrainClient()
    client.start(small_mlp(samples=20000, epochs=50), TrainSettings(runs_root=str(tmp_path)))
    collect_until(client, "started")
    os.kill(client.pid, signal.SIGKILL)
    messages = collect_until(client, "finished", 30)
    error = next(m for m in messages if m.type == "error")
    assert error.message == f"the training process stopped unexpectedly (exit code {-signal.SIGKILL})"
    assert messages[-1].status == "failed" and client.finished and not client.is_alive()


def test_nan_in_the_data_stops_with_the_step_named(tmp_path):
    x = np.random.default_rng(0).normal(size=(200, 2)).astype(np.float32)
    x[:, 0] = np.nan  # every sample poisoned: the first step fails
    np.savez(tmp_path / "bad.npz", x=x, y=np.arange(200) % 2)
    project = small_mlp()
    project.data.dataset, project.data.options = "numpy", {"path": str(tmp_path / "bad.npz")}
    client = TrainClient()
    client.start(project, TrainSettings(runs_root=str(tmp_path)))
    messages = client.wait(120)
    error = next(m for m in messages if m.type == "error")
    assert error.kind == "nan" and error.step == 1  # the first step failed
    assert "the loss became nan at step 1 (epoch 1)" in error.message and "last.safetensors" in error.message
    assert messages[-1].status == "failed"


def test_out_of_memory_becomes_a_clear_message(tmp_path, monkeypatch):
    """The worker's own code path, run in this process with a real pipe; the step itself runs out of memory."""
    import multiprocessing

    import torch

    from modstudio.engine import worker
    from modstudio.engine.train import Trainer
    from modstudio.graph.io import project_to_dict

    def no_memory(self, batch, epoch):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(Trainer, "_step", no_memory)
    ours, theirs = multiprocessing.Pipe()
    worker.run_training(theirs, project_to_dict(small_mlp()), TrainSettings(runs_root=str(tmp_path)).to_dict(), None)
    messages = []
    while ours.poll():
        messages.append(message_from_dict(ours.recv()))  # the pipe carries each message's JSON form
    error = next(m for m in messages if m.type == "error")
    assert error.kind == "oom"
    assert error.message == "out of memory on cpu: lower the batch size or use a smaller network"
    assert messages[-1] == Finished.failed(error.message, "oom", run_folder=messages[0].run_folder, steps=0)
    run = next(tmp_path.iterdir())
    assert (run / "last.safetensors").exists()  # the checkpoint taken before the first step is kept
