"""Cost of the routing probes on a train step (issue 3, "Routing probes": at most 3% more).

A GraphNet with an ``moe`` block (8 experts, top-2) on [N, 16, 32] token batches trains with
probes off and, on an identical copy, with probes on as the engine runs them: ``enable_probes``,
``set_probe_labels`` every step, ``take()`` of every probe every 10 steps. A step is forward,
task loss + aux losses, backward, Adam step. Rounds of ``--steps`` steps alternate between the
two (order swapped each round); the last line is the median per-round ratio on/off, ``ratio: X``.

    python bench/probe_overhead.py [--rounds 40] [--steps 10] [--batch 64] [--gate topk] [--threads N]
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from overhead_rounds import alternate, report, timed

from modstudio.compile.graphnet import GraphNet
from modstudio.compile.probes import aux_loss, enable_probes, probes_of, set_probe_labels
from modstudio.graph.builder import ProjectBuilder
from modstudio.graph.model import Project

TOKENS, DIM, EXPERTS, CLASSES = 16, 32, 8, 4


def project(gate: str) -> Project:
    pb = ProjectBuilder("probe_bench")
    e = pb.module("Expert")
    h = e.add("gelu", "act", e.add("linear", "fc1", e.input("x"), out_features=2 * DIM))
    e.output("y", e.add("linear", "fc2", h, out_features=DIM))
    b = pb.module("main")
    x = b.input("x", [TOKENS, DIM])
    h = b.add("moe", "moe1", x, experts=["Expert"], num_experts=EXPERTS, gate=gate, k=2)
    h = b.add("flatten", "flat", h)
    b.output("y", b.add("linear", "head", h, out_features=CLASSES), task="classification")
    return pb.project("probe_bench")


def make_step(net: GraphNet, x: torch.Tensor, y: torch.Tensor, probed: bool) -> Callable[[], None]:
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    probes = probes_of(net)
    enable_probes(net, probed)
    count = 0

    def step() -> None:
        nonlocal count
        if probed:
            set_probe_labels(net, y, CLASSES)
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y) + aux_loss(net)
        loss.backward()
        optimizer.step()
        count += 1
        if probed and count % 10 == 0:
            facts = {path: probe.take() for path, probe in probes.items()}
            assert facts["moe1"]["steps"] == 10

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--steps", type=int, default=10, help="steps per timed round (a multiple of 10)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--gate", default="topk", choices=("topk", "noisy_topk", "switch", "expert_choice"))
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    off = GraphNet(project(args.gate)).train()
    on = copy.deepcopy(off)
    x = torch.randn(args.batch, TOKENS, DIM)
    y = torch.randint(0, CLASSES, (args.batch,))
    steps = {"off": make_step(off, x, y, False), "on": make_step(on, x, y, True)}
    for step in steps.values():
        timed(step, args.steps)  # warm up
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print(
        f"GraphNet moe ({args.gate}, {EXPERTS} experts, k=2) on [{args.batch}, {TOKENS}, {DIM}]; "
        f"train step = forward, loss + aux, backward, Adam"
    )
    samples = alternate(lambda key: timed(steps[key], args.steps), args.rounds)
    report(samples, "probes off", "on", f"{args.rounds} rounds x {args.steps} steps")


if __name__ == "__main__":
    main()
