"""Load an export back and compare its outputs with GraphNet's on the same inputs."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import torch
from torch import nn

from modstudio.graph.model import Project

from .constructors import ExportError


def import_file(path: Path) -> ModuleType:
    """Import a generated ``.py`` under a fresh module name (TorchScript needs a real file)."""
    name = f"modstudio_export_{uuid.uuid4().hex[:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ExportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def sample_inputs(project: Project, batch: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Random inputs for the main module: one tensor per Input node, ``batch`` samples each."""
    generator = torch.Generator().manual_seed(seed)
    out: list[torch.Tensor] = []
    for node in project.main_module.input_nodes:
        shape = [batch, *(node.params.get("shape") or ())]
        if node.params.get("dtype", "float") == "long":
            out.append(torch.randint(0, 2, shape, generator=generator))
        else:
            out.append(torch.randn(shape, generator=generator))
    return tuple(out)


def _flat(value: object) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, Sequence):
        return [t for item in value for t in _flat(item)]
    raise ExportError(f"the export returned {type(value).__name__}, not tensors")


def not_finite(values: torch.Tensor) -> str | None:
    """``NaN in 12 of 14 values`` (or inf, or both), or None when every value is finite."""
    if not values.is_floating_point():
        return None
    nan, inf = int(values.isnan().sum()), int(values.isinf().sum())
    kinds = " and ".join(kind for kind, count in (("NaN", nan), ("inf", inf)) if count)
    return f"{kinds} in {nan + inf} of {values.numel()} values" if kinds else None


def weights_not_finite(state: dict[str, torch.Tensor], path: Path) -> str | None:
    """Why the weights of a file cannot be exported when some are NaN or inf, or None."""
    broken = {name: problem for name, value in state.items() if (problem := not_finite(value))}
    if not broken:
        return None
    listed = "; ".join(f"{name}: {problem}" for name, problem in list(broken.items())[:3])
    more = f"; and {len(broken) - 3} more tensors" if len(broken) > 3 else ""
    return (
        f"the weights in {path} are not all numbers ({listed}{more}), so the model's outputs would be NaN; "
        "export weights saved before the run diverged"
    )


def largest_difference(reference: nn.Module, run: Callable[..., object], inputs: tuple[torch.Tensor, ...]) -> float:
    """Max |reference(inputs) - run(inputs)| over all outputs (reference in eval mode).

    Outputs that are not finite are never a difference of 0: NaN or inf in the project's own
    outputs means there is nothing to check the export against, and in the export's outputs
    that it differs; both are an ExportError that says so."""
    reference.eval()
    with torch.no_grad():
        expected = _flat(reference(*inputs))
        got = _flat(run(*inputs))
    if len(expected) != len(got):
        raise ExportError(f"the export gives {len(got)} outputs where the project gives {len(expected)}")
    worst = 0.0
    for e, g in zip(expected, got):
        if tuple(e.shape) != tuple(g.shape):
            raise ExportError(f"the export gives shape {tuple(g.shape)} where the project gives {tuple(e.shape)}")
        problem = not_finite(e)
        if problem:
            raise ExportError(
                f"the project's outputs hold {problem} on the check inputs, so the export cannot be checked "
                "(do its weights hold NaN or inf, from a run that diverged?)"
            )
        problem = not_finite(g)
        if problem:
            raise ExportError(f"the export's outputs hold {problem} where the project's are finite")
        worst = max(worst, float((e.float() - g.float()).abs().max()) if e.numel() else 0.0)
    return worst


def argmax_agrees(reference: nn.Module, run: Callable[..., object], inputs: tuple[torch.Tensor, ...]) -> bool:
    reference.eval()
    with torch.no_grad():
        expected, got = _flat(reference(*inputs)), _flat(run(*inputs))
    return all(torch.equal(e.argmax(-1), g.argmax(-1)) for e, g in zip(expected, got))
