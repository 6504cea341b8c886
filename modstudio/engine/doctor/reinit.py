"""Re-initialise a dead expert from a live one (torch): the run's weights, with the dead expert's
tensors (and its router row) copied from the live expert plus small noise, written beside the
project as its starting weights. The project edit that points ``training.init_weights`` at the
file is :func:`modstudio.engine.doctor.fixes.fix_operation` (undo puts the old setting back; the
file stays, unused).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from safetensors.torch import save_file

from modstudio.compile.weights import read_tensors
from modstudio.engine.errors import EngineError
from modstudio.engine.records.run_history import weights_of
from modstudio.engine.surgery.experts import noisy_copy
from modstudio.graph.io import replace_atomically

from .fixes import Fix
from .thresholds import DEFAULT


def reinit_file_name(project_file: Path, fix: Fix) -> str:
    layer = re.sub(r"[^A-Za-z0-9_-]+", "-", fix.layer or "network")
    return f"{project_file.stem}.doctor-{layer}-expert{fix.expert}.safetensors"


def reinitialised(state: dict[str, torch.Tensor], fix: Fix, noise: float, seed: int = 0) -> dict[str, torch.Tensor]:
    """``state`` with expert ``fix.expert`` of layer ``fix.layer`` set to expert ``fix.source``'s
    tensors plus normal noise (``noise`` × each tensor's std, :func:`noisy_copy`: a tensor that is not
    floating point is copied exactly); the same for the rows of the layer's
    own tensors that have one row per expert (the router, the noise router, a hierarchical MoE's
    secondary gate)."""
    prefix = f"{fix.layer}." if fix.layer else ""
    dead, live = f"{prefix}experts.{fix.expert}.", f"{prefix}experts.{fix.source}."
    generator = torch.Generator().manual_seed(seed)
    out = dict(state)
    copied = 0

    experts = {key[len(prefix) :].split(".")[1] for key in state if key.startswith(f"{prefix}experts.")}
    for key, tensor in state.items():
        if key.startswith(dead):
            source = live + key[len(dead) :]
            if source not in state or state[source].shape != tensor.shape:
                raise EngineError(f"expert {fix.source} of '{fix.layer}' has no tensor like {key}", "settings")
            out[key] = noisy_copy(state[source], noise, generator)
            copied += 1
        elif _router_rows(key, prefix, tensor, len(experts)):  # router, noise, a secondary gate: a row per expert
            row = tensor.clone()
            row[fix.expert] = noisy_copy(tensor[fix.source], noise, generator)
            out[key] = row.contiguous()
    if copied == 0:
        raise EngineError(f"the run's weights hold no tensors of expert {fix.expert} of '{fix.layer}'", "settings")
    return out


def _router_rows(key: str, prefix: str, tensor: torch.Tensor, experts: int) -> bool:
    """A tensor of the layer itself (not of an expert) with one row per expert."""
    rest = key[len(prefix) :]
    return (
        key.startswith(prefix)
        and not rest.startswith("experts.")
        and "." not in rest.rsplit(".", 1)[0]  # the layer's own Linear (router.weight), not a deeper module
        and tensor.dim() >= 1
        and tensor.shape[0] == experts
    )


def write_reinit_weights(project_file: Path, run_folder: Path, fix: Fix, seed: int = 0) -> str:
    """Write the starting weights for ``fix`` beside ``project_file``; the name to store in
    ``training.init_weights`` (relative to the project file)."""
    source = weights_of(run_folder)
    if source is None:
        raise EngineError(f"{run_folder.name} has no weights to re-initialise an expert from", "settings")
    state = reinitialised(read_tensors(source), fix, DEFAULT.reinit_noise, seed)
    name = reinit_file_name(project_file, fix)
    replace_atomically(project_file.parent / name, lambda temporary: save_file(state, str(temporary)))
    return name
