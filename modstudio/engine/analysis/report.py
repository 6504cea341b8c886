"""The analysis of a project and of one of its runs, as one JSON-ready dict (``analysis.json``).

costs       parameters and FLOPs per sample per node (nested modules included) and per
            ModuleDef, with their share of the total
modularity  Newman's Q of the trained weight graph vs shuffled twins, and the communities
specialization   per conditional node: class (or region) x expert matrix, NMI, top classes
ensembles   per ensemble: pairwise disagreement of the members on the test split
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modstudio.blocks.catalog import Catalog, default_catalog
from modstudio.compile.graphnet import CompileError, GraphNet, build_on_meta
from modstudio.compile.weights import fit_problems
from modstudio.engine.errors import EngineError
from modstudio.engine.records.run_files import RunFileError, damaged_files
from modstudio.engine.records.run_history import ANALYSIS_FILE, RUNS_SUFFIX, read_analysis, weights_of
from modstudio.engine.records.run_history import find_run as records_find_run
from modstudio.engine.runs import RunFolder, jsonable
from modstudio.graph.io import write_atomic
from modstudio.graph.model import Project

from .costs import project_costs
from .modularity import modularity_report, weight_layers
from .specialization import ensemble_disagreement, routing_matrices, specialization


def find_run(project_file: Path | None, run: str) -> Path:
    """A run folder: a path, or ``latest`` (the newest run with weights beside the project file)."""
    return records_find_run(project_file, run, lambda folder: weights_of(folder) is not None, "saved weights")


def project_dir_of(run_folder: Path) -> Path:
    """Where the trained project's file was: ``<dir>/<stem>.runs/<run>`` -> ``<dir>``."""
    parent = run_folder.resolve().parent
    return parent.parent if parent.name.endswith(RUNS_SUFFIX) else run_folder


def load_run(run_folder: Path, catalog: Catalog) -> tuple[Project, GraphNet]:
    """The project as trained and its network with the run's best (else last) weights; a damaged
    file is a RunFileError (an EngineError) naming it."""
    folder = RunFolder(run_folder)
    project = folder.load_project(catalog)
    name = "best" if folder.has("best.safetensors") else "last"
    if not folder.has(f"{name}.safetensors"):
        raise EngineError(f"{run_folder} has no weights (best.safetensors or last.safetensors)", "settings")
    try:
        net = GraphNet(project, catalog)
    except CompileError as exc:
        raise EngineError(f"the run's project does not compile: {exc}", "shape") from None
    state = folder.load_weights(name)
    problems = fit_problems(state, net.state_dict())
    if problems:
        raise EngineError(f"{name}.safetensors does not fit the run's project: {'; '.join(problems)}", "settings")
    net.load_state_dict(state)
    return project, net.eval()


def _routing(folder: RunFolder, notes: list[str]) -> tuple[str, dict[str, np.ndarray]]:
    lines = folder.check_lines("routing.jsonl")
    if lines.half_written:
        notes.append("routing.jsonl: its half-written last line was skipped (the run was writing it when it ended)")
    try:
        return routing_matrices(lines.records)
    except ValueError as exc:
        raise RunFileError("routing.jsonl", str(exc)) from None


def _damage_notes(run_folder: Path, weights: str) -> list[str]:
    """Damaged files the analysis does not read, as notes (what it reads is checked where it is read)."""
    used = ("project.msproj", f"{weights}.safetensors")
    return [f"{p} (not used here)" for p in damaged_files(run_folder) if not p.startswith(used)]


def _test_inputs(project: Project, run_folder: Path) -> torch.Tensor | None:
    from modstudio.engine.data import make_splits

    inputs = project.main_module.input_nodes
    if len(inputs) != 1:
        return None
    shape = tuple(inputs[0].params.get("shape") or ())
    splits = make_splits(project.data, project_dir_of(run_folder), shape or None)
    data = splits.test if splits.test is not None else splits.val
    return None if data is None else data.x


def analyze_run(run_folder: Path, catalog: Catalog | None = None, shuffles: int = 5, seed: int = 0) -> dict[str, Any]:
    """Everything about one run; raises EngineError naming the problem."""
    catalog = catalog or default_catalog()
    run_folder = Path(run_folder)
    project, net = load_run(run_folder, catalog)
    weights = "best" if (run_folder / "best.safetensors").is_file() else "last"
    notes = _damage_notes(run_folder, weights)
    rows = "region" if project.data.dataset == "regimes" else "class"
    source, matrices = _routing(RunFolder(run_folder), notes)
    conditional = [
        {"path": path, "rows": rows, "source": source, **specialization(matrix)} for path, matrix in matrices.items()
    ]
    ensembles: list[dict[str, Any]] = []
    if any(type(m).__name__ == "Ensemble" for m in net.modules()):
        try:
            x = _test_inputs(project, run_folder)
            if x is not None:
                ensembles = ensemble_disagreement(net, x)
        except EngineError as exc:
            notes.append(f"ensemble disagreement not computed: {exc.message}")
    return {
        "run": str(run_folder),
        "project": project.name,
        "weights": weights,
        "costs": project_costs(project, catalog, net),
        "modularity": modularity_report(weight_layers(project, net), shuffles, seed),
        "specialization": conditional,
        "ensembles": ensembles,
        "notes": notes,
    }


def analyze_project(project: Project, catalog: Catalog | None = None) -> dict[str, Any]:
    """The torch-free part plus parameter counts on the meta device (no weights, no run)."""
    catalog = catalog or default_catalog()
    try:
        net = build_on_meta(project, catalog)
    except CompileError as exc:
        raise EngineError(f"the network cannot be analysed: {exc}", "shape") from None
    return {"project": project.name, "costs": project_costs(project, catalog, net)}


def save_analysis(run_folder: Path, analysis: dict[str, Any]) -> Path:
    target = Path(run_folder) / ANALYSIS_FILE
    write_atomic(target, (json.dumps(jsonable(analysis), indent=1) + "\n").encode())
    return target


__all__ = ["analyze_project", "analyze_run", "find_run", "read_analysis", "save_analysis"]
