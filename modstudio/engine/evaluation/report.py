"""``--report DIR``: the evaluation as one self-contained HTML page (PNGs inlined, tables) that opens
in any browser, with the main pictures beside it as PNG files and the numbers as ``evaluation.json``.

Every text that comes from the project or the data (names, class labels, paths) is HTML-escaped.
The page needs neither torch nor Captum: the attribution maps are already numbers in the result.
"""

from __future__ import annotations

import base64
import json
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from modstudio.engine.runs import jsonable
from modstudio.graph.io import write_atomic

from . import pictures

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; color: #282c34; margin: 24px auto; max-width: 1100px; padding: 0 16px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0; } td, th { border: 1px solid #dde; padding: 3px 8px; }
td.n { text-align: right; font-variant-numeric: tabular-nums; } th { background: #f3f5f9; }
table.grid td { border: none; text-align: center; vertical-align: top; font-size: 12px; padding: 4px 10px 10px 0; }
.muted { color: #666; }
"""


def _img(data: bytes, alt: str) -> str:
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return escape(str(value))


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{_number(v)}</td>'
            if isinstance(v, (int, float)) or v is None
            else f"<td>{escape(str(v))}</td>"
            for v in row
        )
        + "</tr>"
        for row in rows
    )
    head = f"<tr>{head}</tr>" if any(header) else ""  # a table of facts has no header row
    return f"<table>{head}{body}</table>"


def _grid(cells: list[str], columns: int) -> str:
    """Pictures with captions in rows of ``columns`` (a table: every browser, and Qt's rich text, lays it out)."""
    rows = [cells[i : i + columns] for i in range(0, len(cells), columns)]
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="grid">{body}</table>'


def _summary(result: dict[str, Any]) -> str:
    facts = [
        ("project", result["project"]),
        ("run", result["run"]),
        ("weights", result["weights"]),
        ("split", f"{result['split']} ({result['samples']} samples of {result['dataset']})"),
    ]
    if result["task"] == "classification":
        facts += [("accuracy", f"{result['accuracy']:.4f}"), ("ECE", f"{result['calibration']['ece']:.4f}")]
        averages = result["averages"]
        facts.append(("macro F1", f"{averages['macro_f1']:.4f}"))
    else:
        facts += [("R²", f"{result['r2']:.4f}"), ("MAE", f"{result['mae']:.4g}"), ("RMSE", f"{result['rmse']:.4g}")]
    return _table(["", ""], [[k, v] for k, v in facts])


def _classes(result: dict[str, Any], files: dict[str, bytes]) -> str:
    names = result["class_names"]
    files["confusion.png"] = pictures.confusion_png(result["confusion"], names)
    files["reliability.png"] = pictures.reliability_png(result["calibration"])
    per_class = _table(
        ["class", "precision", "recall", "F1", "support"],
        [[r["class"], r["precision"], r["recall"], r["f1"], r["support"]] for r in result["per_class"]],
    )
    shares = _table(["true \\ predicted", *names], [[n, *row] for n, row in zip(names, result["confusion_normalized"])])
    counts = _table(["true \\ predicted", *names], [[n, *row] for n, row in zip(names, result["confusion"])])
    bins = _table(
        ["confidence bin", "samples", "mean confidence", "accuracy"],
        [
            [f"{b['lower']:.1f}–{b['upper']:.1f}", b["count"], b["confidence"], b["accuracy"]]
            for b in result["calibration"]["bins"]
        ],
    )
    return (
        "<h2>Confusion matrix and classes</h2>"
        + f"<p>{_img(files['confusion.png'], 'confusion matrix')}</p>"
        + per_class
        + f"<h3>Counts</h3>{counts}<h3>Normalised (share of each true class)</h3>{shares}<h2>Calibration</h2>"
        + f"<p>{_img(files['reliability.png'], 'reliability diagram')}</p>"
        + bins
    )


def _gallery(result: dict[str, Any], files: dict[str, bytes]) -> str:
    classify = result["task"] == "classification"
    names = result.get("class_names", [])
    label = (lambda c: names[c] if 0 <= c < len(names) else str(c)) if classify else (lambda v: v)
    title = "Misclassified samples" if classify else "Largest residuals"
    items = result["gallery"]
    if not items:
        return f"<h2>{title}</h2><p>None: every sample of the split is classified right.</p>"
    attributions = result.get("attributions", {})
    parts = [f"<h2>{title}</h2>"]
    if result["sample_kind"] == "points" and "points" in result:
        points = result["points"]
        if classify:
            files["points.png"] = pictures.points_png(points["x"], points["true"], points["predicted"])
            parts.append(_img(files["points.png"], "samples"))
    if result["sample_kind"] == "image":
        figures = []
        for i, (item, sample) in enumerate(zip(items, result["gallery_inputs"])):
            shown = [_img(pictures.sample_png(sample, 84), "sample")]
            for key, what in (("gallery_predicted", "attribution"), ("gallery_grad_cam", "Grad-CAM")):
                maps = attributions.get(key, [])
                if i < len(maps):
                    shown.append(_img(pictures.sample_png(sample, 84, maps[i]), what))
            caption = _caption(item, label, classify)
            figures.append(f"{_grid(shown, len(shown))}{caption}")
        parts.append(_grid(figures, 3 if "gallery_grad_cam" in attributions else 4))
        if attributions:
            parts.append(
                f'<p class="muted">Beside each sample: {escape(attributions["method"].replace("_", " "))} for the '
                "predicted class (red raises its score, blue lowers it)"
                + (
                    f"; Grad-CAM of layer {escape(attributions['grad_cam_layer'])}"
                    if "grad_cam_layer" in attributions
                    else ""
                )
                + ".</p>"
            )
    else:
        rows = [
            [
                item["index"],
                label(item["true"]),
                label(item["predicted"]),
                item["confidence"] if classify else None,
                ", ".join(f"{k}: {v}" for k, v in item["routes"].items()),
                values_text(sample),
            ]
            for item, sample in zip(items, result["gallery_inputs"])
        ]
        parts.append(_table(["sample", "true", "predicted", "confidence", "went to", "values"], rows))
    return "".join(parts)


def values_text(sample: Any, count: int = 12) -> str:
    """The first values of a sample (a row, a sequence) as short numbers."""
    flat = np.asarray(sample, dtype=np.float64).ravel()
    return " ".join(f"{v:.3g}" for v in flat[:count]) + (" …" if flat.size > count else "")


def _caption(item: dict[str, Any], label: Any, classify: bool) -> str:
    text = (
        f"#{item['index']}: true {escape(str(label(item['true'])))}, predicted {escape(str(label(item['predicted'])))}"
    )
    if classify:
        text += f" ({item['confidence']:.0%})"
    for path, unit in item["routes"].items():
        text += f"<br>{escape(path)} → {escape(unit)}"
    return text


def _experts(result: dict[str, Any]) -> str:
    if not result["experts"]:
        return (
            "<h2>Per module and per expert</h2><p>This network has no experts, branches, gates or ensemble members.</p>"
        )
    names = result.get("class_names", [])
    parts = ["<h2>Per module and per expert</h2>"]
    classify = result["task"] == "classification"
    for layer in result["experts"]:
        parts.append(f"<h3>{escape(layer['path'])} ({escape(layer['kind'].replace('_', ' '))})</h3>")
        metric = "accuracy" if classify else "mae"
        removed = {r["name"]: r for r in layer.get("what_if", {}).get("removed", [])}
        what = layer.get("what_if", {}).get("metric", "")
        rows = [
            [u["name"], u["samples"], u["share"], u.get(metric), removed.get(u["name"], {}).get(what)]
            for u in layer["units"]
        ]
        header = ["part", "samples", "share", "accuracy of its samples" if classify else "MAE of its samples"]
        parts.append(_table([*header, f"{what} without it" if what else "without it"], rows))
        if classify:
            figures = [
                _img(pictures.confusion_png(u["confusion"], names, u["name"]), u["name"])
                for u in layer["units"]
                if u["samples"]
            ]
            parts.append(_grid(figures, 2))
        if "disagreement" in layer:
            members = [u["name"] for u in layer["units"]]
            parts.append("<p>Member disagreement (share of samples two members classify differently):</p>")
            parts.append(_table(["", *members], [[m, *row] for m, row in zip(members, layer["disagreement"])]))
    return "".join(parts)


def _averaged(result: dict[str, Any]) -> str:
    attributions = result.get("attributions")
    if not attributions:
        note = result.get("attributions_note")
        return f"<h2>Attributions</h2><p>{escape(note)}</p>" if note else ""
    parts = [f"<h2>Attributions ({escape(attributions['method'].replace('_', ' '))}, mean |value|)</h2>"]
    groups = [("per class", attributions.get("per_class", {}))]
    groups += [(f"per part of {path}", maps) for path, maps in attributions.get("per_expert", {}).items()]
    for title, maps in groups:
        if not maps:
            continue
        figures = _grid(
            [
                f"{_img(pictures.map_png(values, 84), str(name))}<br>{escape(str(name))}"
                for name, values in maps.items()
            ],
            8,
        )
        parts.append(f"<h3>{escape(title)}</h3>{figures}")
    return "".join(parts)


def _explained(result: dict[str, Any]) -> str:
    explained = result.get("explained")
    if not explained:
        return ""
    shown = []
    if result["sample_kind"] == "image" and explained.get("input") is not None:
        shown.append(_img(pictures.sample_png(explained["input"], 128), "sample"))
        shown.append(_img(pictures.sample_png(explained["input"], 128, explained["map"]), "attribution"))
        if "grad_cam" in explained:
            shown.append(_img(pictures.sample_png(explained["input"], 128, explained["grad_cam"]), "Grad-CAM"))
    else:
        shown.append(_img(pictures.map_png(explained["map"], 256), "attribution"))
    what = "class" if result["task"] == "classification" else "output"
    text = f"Sample {explained['index']}, {what} {explained['target']}, {escape(explained['method'].replace('_', ' '))}"
    if "completeness" in explained:
        c = explained["completeness"]
        text += f": attributions sum to {c['sum']:.4f}; f(x) − f(baseline) = {c['output_difference']:.4f}"
    return f"<h2>Chosen sample</h2>{_grid(shown, 3)}<p>{text}</p>"


def report_html(result: dict[str, Any], files: dict[str, bytes] | None = None) -> str:
    """The whole page; ``files`` receives the main pictures by file name."""
    files = {} if files is None else files
    body = [f"<h1>Evaluation of {escape(result['project'])}</h1>", _summary(result)]
    if result["task"] == "classification":
        body.append(_classes(result, files))
    else:
        files["residuals.png"] = pictures.residuals_png(result["residuals"]["predicted"], result["residuals"]["true"])
        body.append(f"<h2>Residuals</h2>{_img(files['residuals.png'], 'residuals')}")
    body += [_gallery(result, files), _experts(result), _averaged(result), _explained(result)]
    if result.get("notes"):
        body.append("<h2>Notes</h2><ul>" + "".join(f"<li>{escape(n)}</li>" for n in result["notes"]) + "</ul>")
    title = escape(f"Evaluation of {result['project']}")
    return f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{STYLE}</style></head><body>{"".join(body)}</body></html>\n'


def write_report(result: dict[str, Any], folder: Path) -> Path:
    """``folder``/index.html (written last, atomically), the main PNGs and evaluation.json."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file, not a folder")
    files: dict[str, bytes] = {}
    page = report_html(result, files)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        write_atomic(folder / name, data)
    write_atomic(folder / "evaluation.json", (json.dumps(jsonable(result), indent=1) + "\n").encode())
    target = folder / "index.html"
    write_atomic(target, page.encode())
    return target
