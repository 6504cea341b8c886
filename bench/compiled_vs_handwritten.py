"""Train-step time of GraphNet against the same network written by hand in PyTorch.

Both networks get the same weights; rounds of timed steps alternate between them (order
swapped each round) so machine noise hits both alike. Prints the median ratio
(GraphNet / hand-written) per network; the last line is the worst of them, ``ratio: X``.

    python bench/compiled_vs_handwritten.py [--rounds 60] [--steps 10] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from modstudio.compile.graphnet import GraphNet
from modstudio.library import load_template


class HandMLP(nn.Module):
    """What a PyTorch user writes for the mlp_2d template."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(2, 64)
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Linear(64, 64)
        self.relu2 = nn.ReLU()
        self.head = nn.Linear(64, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.relu2(self.fc2(self.relu1(self.fc1(x)))))


class HandCNN(nn.Module):
    """What a PyTorch user writes for the cnn_digits template."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(32 * 2 * 2, 64)
        self.relu3 = nn.ReLU()
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.head(self.relu3(self.fc1(self.flatten(x))))


def make_step(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        optimizer.step()

    return step


def timed(step: Callable[[], None], steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def compare(
    name: str, template: str, hand: nn.Module, x: torch.Tensor, y: torch.Tensor, rounds: int, steps: int
) -> float:
    graph = GraphNet(load_template(template))
    hand.load_state_dict(graph.state_dict(), strict=True)  # same names, same weights
    with torch.no_grad():
        assert torch.equal(graph(x), hand(x)), "the two networks must compute the same function"
    steps_of = {"graphnet": make_step(graph, x, y), "hand": make_step(hand, x, y)}
    for step in steps_of.values():
        timed(step, steps)  # warm up
    ratios = []
    for r in range(rounds):
        order = ("graphnet", "hand") if r % 2 == 0 else ("hand", "graphnet")
        t = {key: timed(steps_of[key], steps) for key in order}
        ratios.append(t["graphnet"] / t["hand"])
    ratio = statistics.median(ratios)
    low, _, high = statistics.quantiles(ratios, n=4)
    t_hand = timed(steps_of["hand"], steps) * 1e3
    print(
        f"{name:<4} batch {x.shape[0]}: hand-written {t_hand:.3f} ms/step, "
        f"ratio median {ratio:.4f} (quartiles {low:.3f}-{high:.3f}; {rounds} rounds x {steps} steps)"
    )
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    n = args.batch
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    ratios = [
        compare("MLP", "mlp_2d", HandMLP(), torch.randn(n, 2), torch.randint(0, 2, (n,)), args.rounds, args.steps),
        compare(
            "CNN", "cnn_digits", HandCNN(), torch.randn(n, 1, 8, 8), torch.randint(0, 10, (n,)), args.rounds, args.steps
        ),
    ]
    print(f"ratio: {max(ratios):.4f}")


if __name__ == "__main__":
    main()
