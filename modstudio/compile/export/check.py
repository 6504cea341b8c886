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


def largest_difference(reference: nn.Module, run: Callable[..., object], inputs: tuple[torch.Tensor, ...]) -> float:
    """Max |reference(inputs) - run(inputs)| over all outputs (reference in eval mode)."""
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
        worst = max(worst, float((e.float() - g.float()).abs().max()) if e.numel() else 0.0)
    return worst


def argmax_agrees(reference: nn.Module, run: Callable[..., object], inputs: tuple[torch.Tensor, ...]) -> bool:
    reference.eval()
    with torch.no_grad():
        expected, got = _flat(reference(*inputs)), _flat(run(*inputs))
    return all(torch.equal(e.argmax(-1), g.argmax(-1)) for e, g in zip(expected, got))
