"""Importing ResNet-50 (``modstudio import``'s work, without writing files) against ``torch.fx.symbolic_trace``
of the same model alone.

The import traces each module, runs the model on a sample input (one sample here: nothing in a
ResNet tells one from two), builds the project and checks it against the model (a compiled network
run on the sample, its convolutions and other layers identical to the model's taking the model's
recorded outputs); the baseline only traces. Rounds alternate the two; prints the median times and,
last, ``ratio: X`` = import / trace (goal: at most 5).

    python bench/import_speed.py [--rounds 5] [--size 32] [--threads N]

One torch thread by default (``--threads 0``: torch's own choice, one per core): the import's two
forward passes on a small input are where threads count, and on a shared, loaded machine torch's
default threads wait on each other (on 2 busy cores: 0.9-3.6 s instead of 0.14-0.2 s).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import torch

from modstudio.importer.api import import_model

REFERENCE = Path(__file__).resolve().parent.parent / "tests" / "importer" / "resnet.py"


def _resnet50() -> torch.nn.Module:
    spec = importlib.util.spec_from_file_location("resnet_reference", REFERENCE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["resnet_reference"] = module
    spec.loader.exec_module(module)
    return module.resnet50().eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=32, help="image side of the sample input (default 32)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1; 0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = _resnet50()
    shape = (1, 3, args.size, args.size)
    import_model(model, input_shape=shape)  # warm-up: first calls load code paths
    torch.fx.symbolic_trace(model)
    imports: list[float] = []
    traces: list[float] = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        torch.fx.symbolic_trace(model)
        traces.append(time.perf_counter() - start)
        start = time.perf_counter()
        import_model(model, input_shape=shape)
        imports.append(time.perf_counter() - start)
    trace, imported = statistics.median(traces), statistics.median(imports)
    print(f"torch.fx.symbolic_trace(resnet50): {trace * 1000:.1f} ms (median of {args.rounds})")
    print(f"import_model(resnet50, {list(shape)}): {imported * 1000:.1f} ms (median of {args.rounds})")
    print(f"ratio: {imported / trace:.2f}")


if __name__ == "__main__":
    main()
