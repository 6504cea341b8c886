"""Text tables of an analysis dict (what ``modstudio analyze`` prints). Torch-free."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    table = [list(header), *[list(r) for r in rows]]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = []
    for row in table:
        cells = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "-" * max(len(line) for line in lines))
    return lines


def _count(value: Any) -> str:
    return "" if value is None else f"{value:,.0f}"


def _share(value: Any) -> str:
    return "" if value is None else f"{100 * value:.1f}%"


def format_costs(costs: dict[str, Any]) -> list[str]:
    rows = [
        (
            "  " * n["depth"] + n["name"],
            n["kind"],
            _count(n["params"]),
            _share(n["params_share"]),
            _count(n["flops"]) + ("" if n["exact"] else " ~"),
            _share(n["flops_share"]),
        )
        for n in costs["nodes"]
    ]
    lines = _table(("node", "type", "params", "share", "FLOPs", "share"), rows, {2, 3, 4, 5})
    modules = [
        (m["name"], _count(m["params"]), _share(m["params_share"]), _count(m["flops"]), _share(m["flops_share"]))
        for m in costs["modules"]
    ]
    lines += ["", *_table(("module (all uses)", "params", "share", "FLOPs", "share"), modules, {1, 2, 3, 4})]
    total = f"total: {_count(costs['params_total'])} parameters, " if costs.get("params_total") is not None else ""
    lines.append(f"{total}{_count(costs['flops_total'])} FLOPs per sample ({costs['convention']}; ~ approximate)")
    return lines


def format_modularity(report: dict[str, Any]) -> list[str]:
    if "q" not in report:
        return [f"modularity: {report.get('note', 'not computed')}"]
    lines = [
        f"weight-graph modularity: Q = {report['q']:.3f}  vs shuffled weights Q = "
        f"{report['shuffled_q_mean']:.3f} ± {report['shuffled_q_std']:.3f} ({len(report['shuffled_q'])} shuffles)",
        f"  {report['neurons']:,} neurons, {report['connections']:,} connections, "
        f"{len(report['layers'])} layers; {report['method']}",
    ]
    for i, group in enumerate(report["communities"][:12]):
        where = ", ".join(f"{layer} {count}" for layer, count in group["layers"].items())
        lines.append(f"  community {i + 1}: {group['size']} neurons ({where})")
    if len(report["communities"]) > 12:
        lines.append(f"  ... {len(report['communities']) - 12} more")
    return lines


def format_specialization(entries: Sequence[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for entry in entries:
        rows = entry["rows"]
        lines.append(
            f"specialization of '{entry['path']}' ({entry['source']}): NMI({rows}; expert) = {entry['nmi']:.3f}"
        )
        header = [rows, *[f"e{j}" for j in range(len(entry["matrix"][0]) if entry["matrix"] else 0)]]
        body = [[str(i), *[f"{v:,.0f}" for v in row]] for i, row in enumerate(entry["matrix"])]
        lines += ["  " + line for line in _table(header, body, set(range(1, len(header))))]
        for expert, top in enumerate(entry["top_classes"]):
            listed = ", ".join(f"{rows} {t['class']} {100 * t['share']:.0f}%" for t in top) or "no tokens"
            lines.append(f"  expert {expert}: {listed}")
    return lines


def format_ensembles(entries: Sequence[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for entry in entries:
        lines.append(f"ensemble '{entry['path']}' ({entry['members']} members, {entry['samples']} test samples):")
        matrix = entry["disagreement"]
        for i, row in enumerate(matrix):
            lines.append(f"  member {i}: " + "  ".join(f"{100 * v:5.1f}%" for v in row))
    return lines


def format_analysis(analysis: dict[str, Any]) -> str:
    lines = [
        f"{analysis.get('project', '')}: run {analysis['run']}" if "run" in analysis else analysis.get("project", "")
    ]
    lines += ["", *format_costs(analysis["costs"])]
    if "modularity" in analysis:
        lines += ["", *format_modularity(analysis["modularity"])]
    if analysis.get("specialization"):
        lines += ["", *format_specialization(analysis["specialization"])]
    if analysis.get("ensembles"):
        lines += ["", *format_ensembles(analysis["ensembles"])]
    lines += [f"note: {note}" for note in analysis.get("notes", [])]
    return "\n".join(lines)
