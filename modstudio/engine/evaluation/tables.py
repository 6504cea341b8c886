"""The evaluation as plain text tables (what ``modstudio evaluate`` prints); numbers only, no torch."""

from __future__ import annotations

from typing import Any


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    return "\n".join(_row([str(c) for c in r], widths) for r in [header, *rows])


def _f(value: Any) -> str:
    return "–" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def format_evaluation(result: dict[str, Any]) -> str:
    lines = [
        f"{result['project']}: run {result['run']} ({result['weights']} weights), {result['split']} split, "
        f"{result['samples']} samples" + (f", on {result['device']}" if result.get("device") else "")
    ]
    if result["task"] == "classification":
        lines.append(
            f"accuracy {result['accuracy']:.4f}, macro F1 {result['averages']['macro_f1']:.4f}, "
            f"expected calibration error {result['calibration']['ece']:.4f}"
        )
        lines += ["", "per class:"]
        lines.append(
            table(
                ["class", "precision", "recall", "F1", "support"],
                [
                    [r["class"], _f(r["precision"]), _f(r["recall"]), _f(r["f1"]), str(r["support"])]
                    for r in result["per_class"]
                ],
            )
        )
        names = result["class_names"]
        lines += ["", "confusion matrix (rows: true, columns: predicted):"]
        lines.append(table(["", *names], [[n, *map(str, row)] for n, row in zip(names, result["confusion"])]))
        lines.append(f"\n{len(result['gallery'])} misclassified samples kept for the gallery (most confident first)")
    else:
        lines.append(f"R² {result['r2']:.4f}, MAE {result['mae']:.4g}, RMSE {result['rmse']:.4g}")
    for layer in result["experts"]:
        lines += ["", f"{layer['path']} ({layer['kind'].replace('_', ' ')}):"]
        metric = "accuracy" if result["task"] == "classification" else "mae"
        what = layer.get("what_if", {})
        removed = {r["name"]: r.get(what.get("metric", "")) for r in what.get("removed", [])}
        header = ["part", "samples", "share", metric]
        if what:
            header.append(f"{what['metric']} without it")
        rows = []
        for u in layer["units"]:
            row = [u["name"], str(u["samples"]), f"{u['share']:.1%}", _f(u.get(metric))]
            if what:
                row.append(_f(removed.get(u["name"])))
            rows.append(row)
        lines.append(table(header, rows))
        if "disagreement" in layer:
            members = [u["name"] for u in layer["units"]]
            lines.append("member disagreement:")
            lines.append(table(["", *members], [[m, *map(_f, row)] for m, row in zip(members, layer["disagreement"])]))
    explained = result.get("explained")
    if explained and "completeness" in explained:
        c = explained["completeness"]
        lines.append(
            f"\nsample {explained['index']}, {'class' if result['task'] == 'classification' else 'output'} "
            f"{explained['target']}: Integrated Gradients sum {c['sum']:.4f}, "
            f"f(x) − f(0) = {c['output_difference']:.4f}"
        )
    lines += [f"note: {n}" for n in result.get("notes", [])]
    return "\n".join(lines)
