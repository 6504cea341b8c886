"""What ``modstudio search`` prints: the search it starts, a line per trial, the best trial or the Pareto front."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modstudio.engine.search.study import TrialRow, pareto_front

if TYPE_CHECKING:
    from modstudio.engine.search.runner import Search


def shown(value: Any) -> str:
    """A value in a line: whole numbers with thousands separators, others to 4 significant digits."""
    if isinstance(value, (bool, str)):
        return str(value)
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 1000):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def values_text(row: TrialRow, objectives: list[str]) -> str:
    if row.values is None:
        return ""
    return ", ".join(f"{name} {shown(value)}" for name, value in zip(objectives, row.values, strict=False))


def trial_line(row: TrialRow, objectives: list[str]) -> str:
    """``trial 3  COMPLETE  4.2 s  node:main/moe.num_experts=4, training.learning_rate=0.0031 -> accuracy 0.93``."""
    took = f"  {row.duration_s:.1f} s" if row.duration_s is not None else ""
    params = ", ".join(f"{target}={shown(value)}" for target, value in row.params.items())
    result = values_text(row, objectives)
    if row.state == "PRUNED" and row.intermediate:
        last = max(row.intermediate)
        result = f"pruned after epoch {last} ({shown(row.intermediate[last])})"
    elif row.state == "FAIL":
        result = row.error or "failed"
    return f"trial {row.number}  {row.state}{took}  {params}" + (f" -> {result}" if result else "")


def header_lines(search: Search, rows: list[TrialRow]) -> list[str]:
    options = search.options
    several = len(options.objectives) > 1
    done = sum(1 for r in rows if r.state in ("COMPLETE", "PRUNED", "FAIL"))
    lines = [
        f"search: study '{options.study_name}' in {options.storage}",
        f"  {len(search.dimensions)} dimensions: {', '.join(d.target for d in search.dimensions)}",
        f"  objectives {', '.join(options.objectives)} ({'NSGA-II' if several else 'TPE'}); "
        f"{options.trials} trials, {done} already done; {options.jobs} at once",
    ]
    if several:
        lines.append(
            "  no pruning: Optuna cannot prune a study of several objectives, so every trial trains to the end"
        )
    elif search.prunes:
        lines.append("  trials behind the median of the others' validation curves are pruned (Optuna's MedianPruner)")
    return lines


def best_lines(rows: list[TrialRow], objectives: list[str]) -> tuple[list[str], bool]:
    """The best trial (one objective) or the Pareto front (several), and whether any trial completed."""
    states: dict[str, int] = {}
    for row in rows:
        states[row.state] = states.get(row.state, 0) + 1
    counts = ", ".join(f"{n} {state.lower()}" for state, n in sorted(states.items()))
    lines = [f"{len(rows)} trials in the study ({counts or 'none'})"]
    front = pareto_front(rows, objectives)
    if not front:
        lines.append("no trial completed")
        return lines, False
    front.sort(key=lambda r: r.values or [])
    title = "best trial:" if len(objectives) == 1 else f"Pareto front ({len(front)} trials):"
    lines.append(title)
    for row in front:
        params = ", ".join(f"{target}={shown(value)}" for target, value in row.params.items())
        lines.append(f"  trial {row.number}: {values_text(row, objectives)}  ({params}); run folder {row.run_dir}")
    return lines, True
