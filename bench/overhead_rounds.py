"""What the overhead benches share (probes, statistics, tracker): a step timed in wall and process CPU time,
rounds that alternate the two variants so a busy machine hurts both alike, and the per-round ratios printed with
their quartiles, CPU first and wall last (the goal), then ``ratio: X``."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

Sample = tuple[float, float]  # (wall, process CPU) seconds per step


def timed(step: Callable[[], None], steps: int) -> Sample:
    """(wall, process CPU) seconds per step over ``steps`` calls; CPU time is less hurt by a busy machine."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    return (time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps


def alternate(run: Callable[[str], Sample], rounds: int) -> dict[str, list[Sample]]:
    """``run("off")`` and ``run("on")`` once a round, in turns: off first in even rounds, on first in odd ones."""
    samples: dict[str, list[Sample]] = {"off": [], "on": []}
    for r in range(rounds):
        for key in ("off", "on") if r % 2 == 0 else ("on", "off"):
            samples[key].append(run(key))
    return samples


def report(samples: dict[str, list[Sample]], off: str, on: str, detail: str) -> None:
    """Print each unit's medians and the median per-round ratio on / off with its quartiles; last, the wall
    ratio as ``ratio: X``."""
    ratio = 0.0
    for i, unit in ((1, "cpu "), (0, "wall")):  # wall last: it is the goal
        off_t = [s[i] for s in samples["off"]]
        on_t = [s[i] for s in samples["on"]]
        ratios = [b / a for a, b in zip(off_t, on_t)]
        low, _, high = statistics.quantiles(ratios, n=4)
        ratio = statistics.median(ratios)
        print(
            f"{unit}: {off} {statistics.median(off_t) * 1e3:.3f} ms/step, {on} {statistics.median(on_t) * 1e3:.3f} "
            f"ms/step; per-round ratio median {ratio:.4f}, quartiles {low:.3f}-{high:.3f} ({detail})"
        )
    print(f"ratio: {ratio:.4f}")
