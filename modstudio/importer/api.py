"""``import_model``: a PyTorch model in, a checked ModStudio project and its weights out;
``write_import``: both files written together, or neither."""

from __future__ import annotations

import inspect
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from modstudio.blocks.catalog import Catalog, default_catalog
from modstudio.graph.model import Project

from .convert import Walker
from .defs import build_project
from .errors import ImportProblem, NotMappable
from .options import weights_path
from .registry import Importers
from .replay import Layers, Replays
from .samples import one_sample_suffices
from .source import load_weights, make_model
from .trace import Calls, record_calls
from .verify import check_imported

Progress = Callable[[str, float], None]
SAMPLE_BATCH = 2  # two samples, so that an op that mixes samples of a batch shows (one where none can: samples.py)


@dataclass
class ImportReport:
    source: str
    parameters: int
    modules: int  # ModuleDefs, main included
    nodes: int
    max_difference: float  # imported project vs the model, on a sample input, eval mode
    seconds: float
    unused: int = 0  # parameters of the model its forward never uses: not in the project

    def summary(self) -> str:
        return (
            f"imported {self.source}: {self.parameters:,} parameters, {self.modules} module"
            f"{'s' if self.modules != 1 else ''}, {self.nodes} nodes; outputs agree to {self.max_difference:.1e}"
            + (f"; {self.unused:,} parameters its forward never uses are left out" if self.unused else "")
        )


@dataclass
class Imported:
    project: Project
    # keyed as the compiled project's GraphNet names them; the model's own tensors (shared, not copied)
    state_dict: dict[str, torch.Tensor]
    report: ImportReport


def _sample(model: nn.Module, shape: tuple[int, ...], batch: int, layers: Layers) -> tuple[torch.Tensor, Any, Calls]:
    """A sample input of ``shape`` (batch replaced by ``batch``), the model's output on it and every
    submodule's: real numbers, or indices below the smallest embedding table when the model only
    runs on indices. ``layers``: filled with the torch layers' calls."""
    size = (batch, *shape[1:])
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(size, generator=generator)
    try:
        with torch.no_grad():
            return (x, *record_calls(model, lambda: model(x), layers))
    except Exception as exc:
        tables = [m.num_embeddings for m in model.modules() if isinstance(m, nn.Embedding)]
        if not tables:
            raise ImportProblem(f"the model does not run on an input of shape {list(shape)}: {_line(exc)}") from None
        indices = torch.randint(0, min(tables), size, generator=generator)
        layers.clear()
        try:
            with torch.no_grad():
                return (indices, *record_calls(model, lambda: model(indices), layers))
        except Exception as exc2:
            raise ImportProblem(f"the model does not run on an input of shape {list(shape)}: {_line(exc2)}") from None


def _takes_one_input(model: nn.Module) -> None:
    """An ImportProblem, before anything runs, when the model's forward needs more than one input: the
    import gives it one tensor of the input shape (a project's network has one Input per tensor it takes,
    and the import makes one)."""
    try:
        signature = inspect.signature(model.forward)
    except (TypeError, ValueError):  # a forward Python cannot describe: running it tells
        return
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    needed = [p.name for p in signature.parameters.values() if p.kind in kinds and p.default is p.empty]
    if len(needed) > 1:
        raise ImportProblem(
            f"{type(model).__name__}.forward takes {len(needed)} inputs ({', '.join(needed)}); the import gives the "
            "model one tensor of the input shape: import a module whose forward takes one"
        )


def _copied(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_copied(v) for v in value)
    return value


def _line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


def import_model(
    source: str | nn.Module,
    *,
    args: dict[str, Any] | None = None,
    input_shape: tuple[int, ...],
    weights: Path | None = None,
    progress: Progress | None = None,
    catalog: Catalog | None = None,
    importers: Importers | None = None,
) -> Imported:
    """Import the model SOURCE names (``path/to/file.py:Name`` or ``package.module:Name``; or an
    ``nn.Module`` already made) as a project. Raises :class:`ImportProblem` with a sentence for a bad
    input, :class:`NotMappable` listing every op or layer without a block."""
    tell = progress or (lambda text, fraction: None)
    started = time.perf_counter()
    catalog = catalog or default_catalog()
    tell("loading the model", 0.0)
    if isinstance(source, nn.Module):
        model, label, made_at = source, type(source).__name__, ""
    else:
        (model, made_at), label = make_model(source, args or {}), source
    if weights is not None:
        load_weights(model, Path(weights))
    was_training = model.training
    model.eval()
    try:
        _takes_one_input(model)
        walker = Walker(catalog, importers or Importers(catalog))
        one = one_sample_suffices(model, walker.importers, walker.graph_of)
        layers: Layers = {}
        x, expected, calls = _sample(model, tuple(input_shape), 1 if one else SAMPLE_BATCH, layers)
        expected = _copied(expected)  # the trace's runs may change recorded outputs in place (``out += x``)
        tell("tracing", 0.1)
        walker.calls = calls
        total = max(1, sum(1 for m in model.modules() if next(m.children(), None) is not None))  # those traced
        walker.traced = lambda path, count: tell(
            f"tracing {path or type(model).__name__}", 0.1 + 0.5 * min(1.0, count / total)
        )
        main = walker.instance(model, "", (x,), "model", lambda: made_at)
        if walker.unmapped or main is None:
            raise NotMappable(walker.unmapped)
        tell("building the project", 0.6)
        project = build_project(walker.instances, main, catalog, type(model).__name__)
        state = main.state()  # the model's own tensors, detached: write_import copies them into the file
        tell("checking the project against the model", 0.8)
        difference, used = check_imported(project, state, expected, x, catalog, Replays(main.sources(), layers))
    finally:
        model.train(was_training)
    count = sum(p.numel() for p in model.parameters())
    nodes = sum(len(m.nodes) for m in project.modules.values())
    seconds = time.perf_counter() - started
    report = ImportReport(label, used, len(project.modules), nodes, difference, seconds, count - used)
    tell("done", 1.0)
    return Imported(project, state, report)


def _lay_out(project: Project) -> None:
    """Positions for every module's nodes, left to right, so that the file opens readably."""
    from modstudio.graph.layout import layered_positions

    for name, module in project.modules.items():
        project.ui.positions.setdefault(name, layered_positions(module))


def write_import(imported: Imported, out: Path, force: bool = False) -> tuple[Path, Path]:
    """Write the project and its starting weights (``training.init_weights``) side by side; both or neither."""
    from safetensors.torch import save_file

    from modstudio.graph.io import copy_mode, project_to_json

    out = Path(out)
    weights = weights_path(out)
    for path in (out, weights):
        if path.exists() and not force:
            raise ImportProblem(f"{path} already exists (use --force to overwrite it)")
    if not out.parent.is_dir():
        raise ImportProblem(f"cannot write {out}: folder {out.parent} does not exist")
    imported.project.training.init_weights = weights.name
    _lay_out(imported.project)
    staged: list[str] = []
    try:
        fd, weights_tmp = tempfile.mkstemp(prefix=".import-", suffix=".safetensors", dir=out.parent)
        os.close(fd)
        staged.append(weights_tmp)
        save_file({k: v.detach().clone().contiguous() for k, v in imported.state_dict.items()}, weights_tmp)
        fd, project_tmp = tempfile.mkstemp(prefix=".import-", suffix=".msproj", dir=out.parent)
        staged.append(project_tmp)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(project_to_json(imported.project))
        copy_mode(weights, weights_tmp)  # mkstemp's 0600 would hide the files from the person's group
        copy_mode(out, project_tmp)
        os.replace(weights_tmp, weights)
        try:
            os.replace(project_tmp, out)
        except OSError:
            weights.unlink(missing_ok=True)  # a project file or neither: no weights without their project
            raise
    except OSError as exc:
        raise ImportProblem(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        for path in staged:
            if os.path.exists(path):
                os.unlink(path)
    return out, weights
