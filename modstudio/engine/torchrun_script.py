"""Train the exported model with DistributedDataParallel, one process per device.

    torchrun --nproc_per_node=N train.py [--epochs E] [--out RUN_FOLDER] [--weights W] [--routing-every S]

Needs torch and safetensors. With ModStudio installed it also records the routing of the
conditional layers (``modstudio.track.Tracker``): every rank counts its tokens, the counts are
summed with one all-reduce every S steps, and rank 0 writes the whole job's routing.jsonl
(``modstudio watch RUN_FOLDER`` follows the run live). With ``training.statistics_every`` set, rank 0
also records statistics over time (histograms of weights, of activations and gradients of its share
of the batch, dead ReLU units, update ratios) into statistics.jsonl, every that many steps. Reads ``settings.json`` (the project's data and
training sections), ``data.safetensors`` (the prepared train/val/test tensors) and ``model.py``;
``init.safetensors``, when there, holds the starting weights (grafted modules), and the paths
listed as ``frozen`` in settings.json are not trained (no gradients, always in eval mode).
gloo on CPU, nccl on CUDA; a DistributedSampler splits each epoch between the processes, so
each step sees N x batch_size samples. Rank 0 logs, and writes a run folder ModStudio opens:
metrics.jsonl, best.safetensors, last.safetensors, run.json and project.msproj.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

try:
    from modstudio.engine.statistics import StatisticsRecorder
    from modstudio.track import Tracker
except ImportError:  # training needs only torch and safetensors; routing and statistics need ModStudio
    Tracker = StatisticsRecorder = None  # type: ignore[assignment,misc]

HERE = Path(__file__).resolve().parent


def lr_factor(schedule: str, progress: float, epoch: int, epochs: int) -> float:
    """ModStudio's schedules: cosine, step (x0.1 per third of the epochs), one_cycle."""
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    if schedule == "step":
        return 0.1 ** (epoch // max(1, math.ceil(epochs / 3)))
    if schedule == "one_cycle":
        if progress < 0.3:
            return 1 / 25 + (1 - 1 / 25) * 0.5 * (1 - math.cos(math.pi * progress / 0.3))
        end = 1 / 25e4
        return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * (progress - 0.3) / 0.7))
    return 1.0


def make_optimizer(model: torch.nn.Module, t: dict) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if t["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=t["learning_rate"], momentum=t["momentum"], weight_decay=t["weight_decay"])
    if t["optimizer"] == "adamw":
        return torch.optim.AdamW(params, lr=t["learning_rate"], weight_decay=t["weight_decay"])
    return torch.optim.Adam(params, lr=t["learning_rate"], weight_decay=t["weight_decay"])


def stay_in_eval(module: torch.nn.Module, args: object) -> None:
    module.train(False)


def freeze(model: torch.nn.Module, paths: list[str]) -> None:
    """Frozen nodes: no gradients, and always in eval mode (batch-norm statistics stay as given)."""
    for path in paths:
        part = model.get_submodule(path)
        part.requires_grad_(False)
        part.register_forward_pre_hook(stay_in_eval)


def task_output(out: object, index: int) -> torch.Tensor:
    return out[index] if isinstance(out, (tuple, list)) else out  # type: ignore[return-value]


def aux_loss(model: torch.nn.Module) -> torch.Tensor | float:
    """The auxiliary losses (e.g. MoE load balance) the layers computed in this training forward."""
    return sum((v for m in model.modules() for v in (getattr(m, "aux_losses", None) or {}).values()), 0.0)


def loss_of(kind: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out, y) if kind == "classification" else F.mse_loss(out, y)


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, task: dict, device: torch.device) -> dict:
    model.eval()
    total, correct = 0.0, 0
    for start in range(0, x.shape[0], 256):
        xb, yb = x[start : start + 256].to(device), y[start : start + 256].to(device)
        out = task_output(model(xb), task["index"])
        total += float(loss_of(task["kind"], out, yb)) * xb.shape[0]
        if task["kind"] == "classification":
            correct += int((out.argmax(-1) == yb).sum())
    model.train()
    n = max(int(x.shape[0]), 1)
    return {"loss": total / n, "accuracy": correct / n if task["kind"] == "classification" else None}


def save_atomic(state: dict[str, torch.Tensor], path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, str(tmp))
    os.replace(tmp, path)


class Statistics:
    """Rank 0's statistics over time (``training.statistics_every``), one line per record."""

    def __init__(self, out: Path, model: torch.nn.Module, every: int | None) -> None:
        self.file = out / "statistics.jsonl"
        self.recorder = StatisticsRecorder(model, every) if every and StatisticsRecorder is not None else None
        if self.recorder is not None and self.recorder.left_out:
            kept, more = len(self.recorder.modules), self.recorder.left_out
            print(f"statistics cover the first {kept} modules; {more} more are not recorded", flush=True)

    def due(self, step: int) -> StatisticsRecorder | None:
        """The recorder when the step that brings the count to ``step`` is recorded."""
        return self.recorder if self.recorder is not None and self.recorder.due(step) else None

    def write(self, record: object) -> None:
        with self.file.open("a", encoding="utf-8") as lines:
            lines.write(json.dumps(record.to_dict()) + "\n")  # type: ignore[attr-defined]


class Log:
    """The run's epoch lines: through the tracker when ModStudio is installed, else written here."""

    def __init__(self, file: Path, tracker: object | None) -> None:
        self.tracker = tracker
        self.metrics = file.open("a", encoding="utf-8") if tracker is None else None

    def epoch(self, record: dict) -> None:
        if self.tracker is not None:
            keys = ("train_loss", "val_loss", "val_accuracy", "lr")
            self.tracker.epoch(**{key: record[key] for key in keys})  # type: ignore[attr-defined]
        elif self.metrics is not None:
            self.metrics.write(json.dumps(record) + "\n")
            self.metrics.flush()

    def close(self) -> None:
        if self.tracker is not None:
            self.tracker.close()  # type: ignore[attr-defined]
        if self.metrics is not None:
            self.metrics.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, help="number of epochs (default: the project's)")
    parser.add_argument("--out", help="run folder to write (default: runs/<time>)")
    parser.add_argument("--weights", help="start from these weights (.safetensors)")
    parser.add_argument("--routing-every", type=int, default=20, help="steps between routing reports (default 20)")
    args = parser.parse_args()
    settings = json.loads((HERE / "settings.json").read_text(encoding="utf-8"))
    t, task = settings["training"], settings["task"]
    distributed = "WORLD_SIZE" in os.environ
    use_cuda = torch.cuda.is_available() and t["device"] in ("auto", "cuda")
    if distributed:
        dist.init_process_group("nccl" if use_cuda else "gloo")
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    local = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device(f"cuda:{local}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    torch.manual_seed(t["seed"])
    sys.path.insert(0, str(HERE))
    model = getattr(importlib.import_module("model"), settings["model_class"])()
    start_weights = args.weights or (HERE / "init.safetensors" if (HERE / "init.safetensors").exists() else None)
    if start_weights:
        model.load_state_dict(load_file(str(start_weights)), strict=True)
    freeze(model, settings.get("frozen", []))
    model.to(device)
    net = DistributedDataParallel(model, device_ids=[local] if use_cuda else None) if distributed else model
    data = load_file(str(HERE / "data.safetensors"))
    train = TensorDataset(data["train_x"], data["train_y"])
    sampler = DistributedSampler(train, world, rank, shuffle=settings["data"]["shuffle"], seed=t["seed"])
    loader = DataLoader(train, batch_size=settings["data"]["batch_size"], sampler=sampler)
    optimizer = make_optimizer(net, t)
    epochs = args.epochs or t["epochs"]
    total_steps, step = epochs * len(loader), 0
    out = Path(args.out or HERE / "runs" / time.strftime("%Y%m%d-%H%M%S"))
    check_x, check_y = (data["val_x"], data["val_y"]) if "val_x" in data else (data["train_x"], data["train_y"])
    best = math.inf
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(HERE / "project.msproj", out / "project.msproj")
        start = evaluate(model, check_x, check_y, task, device)
        with (out / "metrics.jsonl").open("a", encoding="utf-8") as metrics:
            metrics.write(json.dumps({"type": "start", "val_loss": start["loss"], "processes": world}) + "\n")
        print(f"training on {world} process(es), {device.type}; loss before training {start['loss']:.4f}", flush=True)
        if Tracker is None:
            print("routing is not recorded: ModStudio is not installed here (pip install modstudio)", flush=True)
            if t.get("statistics_every"):
                print("statistics are not recorded: ModStudio is not installed here", flush=True)
    statistics = Statistics(out, model, t.get("statistics_every")) if rank == 0 else None
    # on every rank: each counts its own routing, rank 0 writes the sum (and the metrics lines)
    tracker = None
    if Tracker is not None:  # append: after the "start" line above
        tracker = Tracker(out, model, every=args.routing_every, epochs=epochs, name=settings["project"], append=True)
    log = Log(out / "metrics.jsonl", tracker) if rank == 0 or tracker is not None else None
    started = time.monotonic()
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        seen, summed = torch.zeros((), device=device), torch.zeros((), device=device)
        for x, y in loader:
            for group in optimizer.param_groups:
                group["lr"] = t["learning_rate"] * lr_factor(t["schedule"], step / max(total_steps, 1), epoch, epochs)
            x, y = x.to(device), y.to(device)
            recorder = statistics.due(step + 1) if statistics is not None else None
            with recorder.watching() if recorder is not None else contextlib.nullcontext():
                loss = loss_of(task["kind"], task_output(net(x), task["index"]), y)
            loss = loss + aux_loss(model)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if recorder is not None:
                recorder.after_backward()
            if t.get("grad_clip"):
                torch.nn.utils.clip_grad_norm_(net.parameters(), t["grad_clip"])
            optimizer.step()
            step += 1
            if recorder is not None and statistics is not None:
                statistics.write(recorder.finish(step, epoch + 1))
            if tracker is not None:
                tracker.step(loss=loss)
            seen += x.shape[0]
            summed += loss.detach() * x.shape[0]
        if distributed:
            dist.all_reduce(seen)
            dist.all_reduce(summed)
        val = evaluate(model, check_x, check_y, task, device) if rank == 0 else {"loss": None, "accuracy": None}
        record = {"type": "epoch", "epoch": epoch + 1, "epochs": epochs, "step": step,
                  "train_loss": float(summed / seen.clamp_min(1)), "val_loss": val["loss"],
                  "val_accuracy": val["accuracy"], "lr": optimizer.param_groups[0]["lr"],
                  "seconds": time.monotonic() - started}  # fmt: skip
        if log is not None:
            log.epoch(record)  # with a tracker: on every rank (the last routing report is collective)
        if rank == 0:
            accuracy = "" if val["accuracy"] is None else f", val accuracy {val['accuracy']:.3f}"
            print(
                f"epoch {epoch + 1}/{epochs}: train loss {record['train_loss']:.4f}, val loss {val['loss']:.4f}{accuracy}",
                flush=True,
            )
            save_atomic(model.state_dict(), out / "last.safetensors")
            if val["loss"] < best:
                best = val["loss"]
                save_atomic(model.state_dict(), out / "best.safetensors")
    if log is not None:
        log.close()
    if rank == 0:
        info = {"type": "finished", "status": "finished", "epochs": epochs, "steps": step, "task": task["kind"],
                "best_val_loss": best, "processes": world, "device": device.type, "project": settings["project"],
                "dataset": settings["data"]["dataset"], "seconds": time.monotonic() - started, "run_folder": str(out)}  # fmt: skip
        (out / "run.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
        print(f"done: weights in {out / 'best.safetensors'}", flush=True)
    if distributed:
        dist.barrier()  # every rank waits until rank 0 has written its files
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
    if "WORLD_SIZE" in os.environ:
        # Every file is written and the process group destroyed. torch's own teardown at interpreter
        # exit sometimes aborts a finished rank ("terminate called without an active exception",
        # about 1 run in 40 here), and torchrun then reports the whole run failed: leave without it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
