"""``export_project``: one entry point for every format (used by the CLI and the GUI)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from modstudio.blocks.catalog import Catalog, default_catalog
from modstudio.blocks.layers.moe import MixtureOfExperts
from modstudio.compile.graphnet import CompileError, GraphNet
from modstudio.compile.memory import export_memory_problem
from modstudio.compile.weights import WeightsError, apply_project_weights, fit_problems, read_tensors
from modstudio.graph.model import Project
from modstudio.graph.validate import check_project

from . import formats
from .check import argmax_agrees, import_file, largest_difference, sample_inputs, weights_not_finite
from .constructors import ExportError
from .destination import check_destination, put_in_place, staging_folder
from .python_code import PythonModule, generate_python

FORMATS = ("python", "torchscript", "pt2", "onnx")  # the torchrun folder: modstudio.engine.torchrun
SUFFIXES = {"python": ".py", "torchscript": ".pt", "pt2": ".pt2", "onnx": ".onnx"}
TOLERANCE = 1e-4  # the check refuses an artifact that differs more from GraphNet
CHECK_BATCHES = (1, 7)


@dataclass
class ExportResult:
    path: Path
    format: str
    top_class: str
    max_difference: float | None = None  # vs GraphNet on the check inputs; None when not run
    notes: list[str] = field(default_factory=list)


def build_network(
    project: Project,
    weights: str | Path | None = None,
    catalog: Catalog | None = None,
    base_dir: str | Path | None = None,
) -> GraphNet:
    """The project's GraphNet with the weights of a ``.safetensors`` file, or else fresh ones
    from the training seed with the project's own starting and grafted weights loaded
    (``base_dir``: where their relative paths start, the project file's folder)."""
    catalog = catalog or default_catalog()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(project.training.seed)
            net = GraphNet(project, catalog)
    except CompileError as exc:
        raise ExportError(f"the project does not compile: {exc}") from None
    if weights is not None:
        load_weights(net, Path(weights))
    else:
        try:
            apply_project_weights(net, project, Path(base_dir) if base_dir is not None else None)
        except WeightsError as exc:
            raise ExportError(str(exc)) from None
    return net.eval()


def load_weights(net: nn.Module, path: Path) -> None:
    try:
        state = read_tensors(path)
    except WeightsError as exc:
        raise ExportError(str(exc)) from None
    problems = fit_problems(state, net.state_dict(), owner="project")
    if problems:
        raise ExportError(f"the weights in {path} do not fit this project: {'; '.join(problems)}")
    problem = weights_not_finite(state, path)
    if problem:
        raise ExportError(problem)
    net.load_state_dict(state, strict=True)


def _fixed_batch(net: nn.Module) -> bool:
    return any(isinstance(m, MixtureOfExperts) and m.gate == "expert_choice" for m in net.modules())


def export_project(
    project: Project,
    fmt: str,
    out: str | Path,
    *,
    weights: str | Path | None = None,
    catalog: Catalog | None = None,
    force: bool = False,
    base_dir: str | Path | None = None,
) -> ExportResult:
    """Write one export of the project's main module to ``out``; checked against GraphNet.

    ``weights``: a ``.safetensors`` state dict (a run's best.safetensors); without it, fresh
    weights from the training seed. ``base_dir``: where the project's relative data paths start.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown format '{fmt}'; choose one of {', '.join(FORMATS)}")
    out = Path(out)
    check_destination(out, force)
    if fmt == "onnx" and not formats.onnx_available():
        raise ExportError(f"ONNX export needs the onnx extra: {formats.ONNX_HINT}")
    unfixed = check_project(project, catalog or default_catalog())  # only a project opened for repair has any
    if unfixed:
        count = len(unfixed)
        raise ExportError(f"the project has {count} problem{'s' if count != 1 else ''} to fix first: {unfixed[0]}")
    too_large = export_memory_problem(project, catalog)  # before any weight is allocated
    if too_large:
        raise ExportError(too_large)
    net = build_network(project, weights, catalog, base_dir)
    code = generate_python(project, net, catalog)
    with staging_folder(out) as work:
        (work / "model.py").write_text(code.source, encoding="utf-8")
        model = getattr(import_file(work / "model.py"), code.top_class)()
        model.load_state_dict(net.state_dict(), strict=True)
        model.eval()
        result = ExportResult(out, fmt, code.top_class)
        staged = work / ("artifact" + SUFFIXES[fmt])
        _write(fmt, project, net, model, code, staged, result, Path(base_dir) if base_dir else None)
        put_in_place(staged, out)
    return result


def _write(
    fmt: str,
    project: Project,
    net: GraphNet,
    model: nn.Module,
    code: PythonModule,
    staged: Path,
    result: ExportResult,
    base_dir: Path | None,
) -> None:
    batches = CHECK_BATCHES
    dynamic = True
    if fmt in ("pt2", "onnx") and _fixed_batch(net):
        dynamic, batches = False, (project.data.batch_size,)
        result.notes.append(
            f"expert-choice gates depend on the token count: exported for a fixed batch of {project.data.batch_size}"
        )
    example = sample_inputs(project, max(2, batches[-1]) if dynamic else batches[0])
    if fmt == "python":
        staged.write_text(code.source, encoding="utf-8")
        run = model
    elif fmt == "torchscript":
        result.notes.append(formats.TORCHSCRIPT_DEPRECATED)
        result.notes += formats.save_torchscript(model, example, staged)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning)  # said once, in the notes
            run = torch.jit.load(str(staged))
    elif fmt == "pt2":
        formats.save_pt2(model, example, staged, dynamic)
        run = torch.export.load(str(staged)).module()
    else:  # onnx
        formats.save_onnx(model, example, staged, dynamic)
        if not formats.onnxruntime_available():
            result.notes.append(f"onnxruntime is not installed: the file was not run ({formats.ONNX_HINT})")
            return
        _check_onnx(net, staged, project, batches, result)
        return
    worst = max(largest_difference(net, run, sample_inputs(project, b, seed=b)) for b in batches)
    result.max_difference = worst
    if worst > TOLERANCE:
        raise ExportError(f"the {fmt} export differs from the project by {worst:.2g} (more than {TOLERANCE})")


def _check_onnx(net: GraphNet, path: Path, project: Project, batches: tuple[int, ...], result: ExportResult) -> None:
    def run(*inputs: torch.Tensor) -> list[torch.Tensor]:
        return formats.run_onnx(path, inputs)

    checks = [sample_inputs(project, b, seed=b) for b in batches]
    result.max_difference = max(largest_difference(net, run, inputs) for inputs in checks)
    if result.max_difference > TOLERANCE and not all(argmax_agrees(net, run, inputs) for inputs in checks):
        raise ExportError(f"the ONNX export differs from the project by {result.max_difference:.2g}")
