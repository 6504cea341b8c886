"""Samples per second of the engine's training loop against a hand-written PyTorch loop.

Same network (the cnn_digits template, built once and copied), same data (the digits
training split), same optimizer settings, on the CPU. Rounds alternate between the two
(order swapped each round) so machine noise hits both alike. The engine runs headless in
this process: ``Trainer.train_epoch`` (batching, schedule, probes, NaN check, progress
reports and metrics.jsonl lines included; validation and checkpoints are per epoch and
not part of the loop). Timed by this process's CPU time (other programs on a shared machine do not inflate it;
``--wall`` for wall-clock time). Prints the median ratio (engine / hand-written); the last
line is ``ratio: X`` (goal: at least 0.95).

    python bench/train_throughput.py [--rounds 41] [--epochs 1] [--threads 1] [--wall]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

from modstudio.blocks import default_catalog
from modstudio.engine.session import prepare
from modstudio.engine.settings import TrainSettings
from modstudio.engine.train import Trainer
from modstudio.library import load_template


def hand_written_epoch(net, optimizer, x, y, batch_size, generator) -> int:
    """What a PyTorch user writes: permute, slice, forward, loss, backward, step, log the loss."""
    net.train()
    index = torch.randperm(x.shape[0], generator=generator)
    x, y = x[index], y[index]
    total = 0.0
    for start in range(0, x.shape[0], batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        loss = F.cross_entropy(net(xb), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return x.shape[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--epochs", type=int, default=1, help="epochs per timed round")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (0: torch's default; 1 is steadiest on a busy machine)"
    )
    parser.add_argument("--wall", action="store_true", help="time by the wall clock instead of this process's CPU time")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    project = load_template("cnn_digits", default_catalog())
    with tempfile.TemporaryDirectory() as runs:
        session = prepare(project, TrainSettings(device="cpu", runs_root=runs))
        trainer = Trainer(session)
        net = copy.deepcopy(session.net)
        t = project.training
        optimizer = torch.optim.Adam(net.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay)
        x, y = session.splits.train.x, session.splits.train.y
        generator = torch.Generator().manual_seed(0)
        batch = project.data.batch_size

        def engine() -> int:
            samples = 0
            for epoch in range(args.epochs):
                trainer.train_epoch(epoch)
                samples += trainer._train_samples
            return samples

        def hand() -> int:
            return sum(hand_written_epoch(net, optimizer, x, y, batch, generator) for _ in range(args.epochs))

        # CPU time of this process: other programs on a shared machine do not inflate it (wall time with --wall)
        clock = time.perf_counter if args.wall else time.process_time
        engine(), hand()  # warm up both
        ratios, rates = [], {"engine": [], "hand": []}
        for round_ in range(args.rounds):
            order = [("engine", engine), ("hand", hand)]
            if round_ % 2:
                order.reverse()
            speed = {}
            for name, run in order:
                start = clock()
                samples = run()
                speed[name] = samples / (clock() - start)
                rates[name].append(speed[name])
            ratios.append(speed["engine"] / speed["hand"])
    q = statistics.quantiles(ratios, n=4)
    timing = "wall clock" if args.wall else "process CPU time"
    print(
        f"threads: {torch.get_num_threads()}, rounds: {args.rounds} x {args.epochs} epochs of {x.shape[0]} samples, {timing}"
    )
    print(f"engine:       {statistics.median(rates['engine']):9.0f} samples/s (median)")
    print(f"hand-written: {statistics.median(rates['hand']):9.0f} samples/s (median)")
    best = max(rates["engine"]) / max(rates["hand"])
    print(f"ratio quartiles: {q[0]:.3f} {q[1]:.3f} {q[2]:.3f}; best engine round / best hand-written round: {best:.3f}")
    print(f"ratio: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
