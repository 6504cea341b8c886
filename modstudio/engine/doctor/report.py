"""The doctor on a run folder, torch-free: its routing and loss records read, the diagnoses made,
printed as ``modstudio doctor`` shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modstudio.engine.errors import EngineError
from modstudio.engine.records.run_files import check_json_lines
from modstudio.engine.records.run_history import find_run, weights_of
from modstudio.graph.model import Project
from modstudio.graph.schema import BlockCatalog

from .diagnoses import Diagnosis, diagnose
from .fixes import FixError, layer_node
from .history import RoutingHistory
from .thresholds import DEFAULT, Thresholds


def find_run_folder(project_file: Path, run: str) -> Path:
    """A run folder given as a path, or ``latest``: the newest run beside the project with routing records."""
    return find_run(project_file, run, lambda folder: (folder / "routing.jsonl").is_file(), "routing records")


def read_history(run_folder: Path) -> RoutingHistory:
    """The run's routing reports and losses; a damaged line is a RunFileError naming the file."""
    history = RoutingHistory()
    history.add_records(
        check_json_lines(run_folder / "routing.jsonl").records, check_json_lines(run_folder / "metrics.jsonl").records
    )
    return history


def layer_params(project: Project, catalog: BlockCatalog, paths: list[str]) -> dict[str, dict[str, Any]]:
    """Each probed layer's parameters in ``project`` (its block's defaults filled in); a layer the
    project no longer has is left out (its diagnoses come without fixes)."""
    out: dict[str, dict[str, Any]] = {}
    for path in paths:
        try:
            out[path] = layer_node(project, catalog, path).params
        except (FixError, KeyError):
            continue
    return out


def diagnose_run(
    run_folder: Path, project: Project, catalog: BlockCatalog, t: Thresholds = DEFAULT
) -> tuple[RoutingHistory, list[Diagnosis]]:
    history = read_history(run_folder)
    if not history.reports:
        raise EngineError(
            f"{run_folder.name} has no routing records: its network has no conditional layer, or it stopped "
            "before its first report",
            "settings",
        )
    return history, diagnose(history, layer_params(project, catalog, list(history.reports)), t)


def has_weights(run_folder: Path) -> bool:
    return weights_of(run_folder) is not None


def format_diagnoses(run_folder: Path, history: RoutingHistory, diagnoses: list[Diagnosis]) -> str:
    layers = len(history.reports)
    count = f"{len(diagnoses)} problem{'s' if len(diagnoses) != 1 else ''}" if diagnoses else "no problems"
    lines = [f"run {run_folder.name}: {count} in {layers} conditional layer{'s' if layers != 1 else ''}"]
    for number, found in enumerate(diagnoses, start=1):
        lines.append(f"{number}. {found.kind} · {found.where}: {found.sentence}")
        lines.append("   evidence: " + evidence_text(found.evidence))
        for i, fix in enumerate(found.fixes, start=1):
            lines.append(f"   fix {number}.{i}{' (suggested)' if i == 1 else ''}: {fix.label}")
        if not found.fixes:
            lines.append("   no automatic fix")
    if not diagnoses:
        lines.append("healthy: no diagnosis passed its threshold")
    return "\n".join(lines)


def evidence_text(evidence: Mapping[str, Any]) -> str:
    def show(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        if isinstance(value, list):
            return "[" + ", ".join(show(v) for v in value[:16]) + (", …" if len(value) > 16 else "") + "]"
        if isinstance(value, Mapping):
            return "{" + ", ".join(f"{k} {show(v)}" for k, v in value.items()) + "}"
        return str(value)

    return ", ".join(f"{key.replace('_', ' ')} {show(value)}" for key, value in evidence.items())


def why_no_sequences(project: Project, catalog: BlockCatalog, paths: list[str]) -> str | None:
    """The sentence saying that no conditional layer of ``project`` sees sequences (its probe paths
    ``paths``), by the inputs shape inference gives them; None when one takes [batch, positions, features],
    or when it cannot be told here (a layer inside a composition's members, a shape problem): then the
    sequence pass itself finds out."""
    from modstudio.compile.shapes import ShapeInference

    if not paths:
        return None
    shapes = ShapeInference(project, catalog).run()
    if shapes.errors:
        return None
    taken = []
    for path in paths:
        inputs = _layer_inputs(project, shapes, path)
        if not inputs:
            return None
        if inputs[0].rank == 3:
            return None
        taken.append(f"'{path}' takes {inputs[0]}")
    return "No conditional layer of this run sees sequences ([batch, positions, features]): " + "; ".join(taken)


def _layer_inputs(project: Project, shapes: Any, path: str) -> list[Any]:
    """The inputs of the node a probe path names, through module nodes only ([] when not found)."""
    parts = path.split(".")
    for i, part in enumerate(parts):
        module = project.modules.get(shapes.module)
        node = next((n for n in module.nodes if n.name == part), None) if module is not None else None
        if node is None or node.id not in shapes.nodes:
            return []
        if i == len(parts) - 1:
            ports = list(shapes.nodes[node.id].inputs.values())
            first = ports[0] if ports else None
            return (first[:1] if isinstance(first, list) else [first]) if first is not None else []
        if node.module is None or node.id not in shapes.children:
            return []
        shapes = shapes.children[node.id]
    return []
