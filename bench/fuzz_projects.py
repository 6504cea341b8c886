"""Mutated project files through load, validation, shape inference and a meta-device build.

    python bench/fuzz_projects.py [N] [--seed S] [--show]

Mutates every template and library file in resources/ (see tests/graph/project_fuzzer.py for the
mutations) N times in all (default 2000), seeded and reproducible. A mutant may load, be refused
with named problems (ProjectError) or have shape problems (CompileError); anything else is a
traceback, counted and summarised by type and last frame. ``--show`` prints each distinct
traceback with the start of the file that caused it. The last line is ``tracebacks: K``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.graph.project_fuzzer import Outcome, fuzz  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("count", nargs="?", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", action="store_true", help="print each distinct traceback")
    args = parser.parse_args()
    start = time.perf_counter()
    step = max(1, args.count // 10)

    def progress(done: int, outcome: Outcome) -> None:
        if done % step == 0:
            elapsed = time.perf_counter() - start
            print(f"{done}/{args.count} mutants, {elapsed:.0f} s, tracebacks so far: {outcome.traceback_count}")

    outcome = fuzz(args.count, args.seed, progress)
    elapsed = time.perf_counter() - start
    print(
        f"{args.count} mutants (seed {args.seed}) in {elapsed:.1f} s: {outcome.loaded} loaded and built, "
        f"{outcome.refused} refused with named problems, {outcome.shape_problems} with shape problems; "
        f"slowest mutant {outcome.slowest:.2f} s"
    )
    for key, n in sorted(outcome.counts.items(), key=lambda item: -item[1]):
        print(f"  {n:6d}  {key}")
        if args.show:
            trace, text = outcome.tracebacks[key]
            print(trace)
            print("  mutant (start):", text[:600].replace("\n", " "))
    print(f"tracebacks: {outcome.traceback_count}")
    return 1 if outcome.traceback_count else 0


if __name__ == "__main__":
    raise SystemExit(main())
