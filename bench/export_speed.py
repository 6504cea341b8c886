"""Forward time of the exported Python module and its TorchScript against GraphNet.

Same weights, same inputs, eval mode, no grad. Rounds alternate the three (order rotated
each round) so machine noise hits them alike; each round gives a ratio export / GraphNet from
its own timings (load that comes and goes then moves both alike), and the median of those is
printed per template and format; the last line is the worst of them, ``ratio: X`` (goal: at
most 1.02).
MoE templates are left out: GraphNet's default sorted dispatch and the export's static loop
are different algorithms (bench/moe_dispatch.py compares those).

    python bench/export_speed.py [--rounds 40] [--steps 20] [--batch 64] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from modstudio.compile.export import build_network, export_project
from modstudio.compile.export.check import import_file, sample_inputs
from modstudio.library import load_template

TEMPLATES = ("mlp_2d", "cnn_digits", "vit_tiny")


def timed(run: Callable[[torch.Tensor], object], x: torch.Tensor, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        run(x)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in TEMPLATES:
            project = load_template(name)
            net = build_network(project)
            export_project(project, "python", Path(tmp) / f"{name}.py")
            export_project(project, "torchscript", Path(tmp) / f"{name}.pt")
            model = import_file(Path(tmp) / f"{name}.py").Model().eval()
            model.load_state_dict(net.state_dict())
            scripted = torch.jit.load(str(Path(tmp) / f"{name}.pt"))
            (x,) = sample_inputs(project, args.batch)
            runs = {"graphnet": net, "python": model, "torchscript": scripted}
            for run in runs.values():  # warm-up (TorchScript optimises on its first calls)
                timed(run, x, 5)
            times: dict[str, list[float]] = {key: [] for key in runs}
            keys = list(runs)
            for r in range(args.rounds):
                for key in keys[r % 3 :] + keys[: r % 3]:
                    times[key].append(timed(runs[key], x, args.steps))
            base = statistics.median(times["graphnet"])
            for key in ("python", "torchscript"):
                ratio = statistics.median(t / g for t, g in zip(times[key], times["graphnet"]))
                worst = max(worst, ratio)
                print(f"{name:12s} {key:12s} {ratio:.3f}  ({base / args.steps * 1e3:.2f} ms per GraphNet forward)")
    print(f"ratio: {worst:.3f}")


if __name__ == "__main__":
    main()
