"""Cost of the tracker on a train step of a plain PyTorch loop (issue 21: tracked / untracked at most 1.03).

A mixture of experts (8 experts, top-2, over [N, 16, 32] token batches) is exported by ModStudio
(the Python export, the form people train in their own scripts), imported back as a plain module
and trained in a hand-written loop: forward, task loss + aux losses, backward, Adam step. One copy
trains untracked; an identical copy calls ``tracker.step(loss=loss)`` after each step, with the
tracker following its MoE layer (routing reports every ``--every`` steps, metrics lines as the
engine writes them). Rounds of ``--steps`` steps alternate between the two (order swapped each
round); the last line is the median per-round ratio tracked/untracked, ``ratio: X``.

    python bench/track_overhead.py [--rounds 40] [--steps 20] [--batch 64] [--every 20] [--threads N]
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from overhead_rounds import alternate, report, timed
from torch import nn

from modstudio.compile.export import export_project
from modstudio.graph.builder import ProjectBuilder
from modstudio.graph.model import Project
from modstudio.track import Tracker

TOKENS, DIM, EXPERTS, CLASSES = 16, 32, 8, 4


def project() -> Project:
    pb = ProjectBuilder("track_bench")
    e = pb.module("Expert")
    h = e.add("gelu", "act", e.add("linear", "fc1", e.input("x"), out_features=2 * DIM))
    e.output("y", e.add("linear", "fc2", h, out_features=DIM))
    b = pb.module("main")
    x = b.input("x", [TOKENS, DIM])
    h = b.add("moe", "moe1", x, experts=["Expert"], num_experts=EXPERTS, gate="topk", k=2)
    h = b.add("flatten", "flat", h)
    b.output("y", b.add("linear", "head", h, out_features=CLASSES), task="classification")
    return pb.project("track_bench")


def exported_model(folder: Path) -> nn.Module:
    result = export_project(project(), "python", folder / "model.py")
    spec = importlib.util.spec_from_file_location("track_bench_model", folder / "model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return getattr(module, result.top_class)()


def make_step(net: nn.Module, x: torch.Tensor, y: torch.Tensor, tracker: Tracker | None) -> Callable[[], None]:
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    aux = [m for m in net.modules() if hasattr(m, "aux_losses")]

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        for module in aux:
            loss = loss + sum(module.aux_losses.values())
        loss.backward()
        optimizer.step()
        if tracker is not None:
            tracker.step(loss=loss)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--steps", type=int, default=20, help="steps per timed round")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--every", type=int, default=20, help="steps between routing reports")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        untracked = exported_model(Path(tmp)).train()
        tracked = copy.deepcopy(untracked)
        x = torch.randn(args.batch, TOKENS, DIM)
        y = torch.randint(0, CLASSES, (args.batch,))
        with Tracker(Path(tmp) / "run", tracked, every=args.every) as tracker:
            assert list(tracker.followed.probes) == ["moe1"], tracker.followed.probes
            steps = {"off": make_step(untracked, x, y, None), "on": make_step(tracked, x, y, tracker)}
            for step in steps.values():
                timed(step, args.steps)  # warm up
            print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
            print(
                f"exported moe (topk, {EXPERTS} experts, k=2) on [{args.batch}, {TOKENS}, {DIM}] in a plain loop; "
                f"step = forward, loss + aux, backward, Adam; tracker reports routing every {args.every} steps"
            )
            samples = alternate(lambda key: timed(steps[key], args.steps), args.rounds)
        reports = (Path(tmp) / "run" / "routing.jsonl").read_text().count("\n")
        print(f"routing reports written: {reports}")
    report(samples, "untracked", "tracked", f"{args.rounds} rounds x {args.steps} steps")


if __name__ == "__main__":
    main()
