"""One pass of a trained network over sequence data, keeping each conditional layer's choices per
token (torch): what :func:`modstudio.engine.doctor.sequences.sequence_routing` measures.

A layer counts as seeing sequences when its input is [batch, positions, features]. Top-k MoE
layers give their k picks (the router's scores, as the layer ranks them, no noise in eval mode);
other conditional layers their first choice (the probe's capture).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from modstudio.blocks.catalog import Catalog
from modstudio.compile.probes import probes_of

from .sequences import SequenceRouting, sequence_routing

MAX_SEQUENCES = 512


def sequence_choices(net: nn.Module, x: torch.Tensor, batch: int = 128) -> list[SequenceRouting]:
    """The sequence measures of every conditional layer of ``net`` that sees sequences, over the
    first sequences of ``x`` (the inputs' integer values count as token ids when they are ids:
    an integer tensor, or a single feature that only holds whole numbers)."""
    x = x[:MAX_SEQUENCES]
    probes = probes_of(net)
    modules = dict(net.named_modules())
    shapes: dict[str, tuple[int, ...]] = {}
    picks: dict[str, list[torch.Tensor]] = {path: [] for path in probes}
    handles = []

    def hook(path: str, module: nn.Module) -> Any:
        def keep(_: nn.Module, args: tuple[Any, ...], out: Any) -> None:
            inputs = args[0] if args and isinstance(args[0], torch.Tensor) else None
            if inputs is None or inputs.dim() != 3:
                return
            shapes[path] = tuple(inputs.shape[:2])
            k = 1 if getattr(module, "gate", "") in ("switch", "expert_choice") else int(getattr(module, "k", 1))
            if hasattr(module, "router_scores") and not hasattr(module, "groups"):
                scores = module.router_scores(inputs.reshape(-1, inputs.shape[-1]))[1]
                chosen = scores.topk(min(k, scores.shape[-1]), dim=-1).indices
            elif module.probe.captured is not None:
                chosen = module.probe.captured.reshape(-1, 1)
            else:
                return
            picks[path].append(chosen.reshape(inputs.shape[0], inputs.shape[1], -1).cpu())

        return keep

    for path in probes:
        module = modules[path]
        module.probe.capture = True
        handles.append(module.register_forward_hook(hook(path, module)))
    try:
        with torch.no_grad():
            for start in range(0, x.shape[0], batch):
                net(x[start : start + batch])
    finally:
        for handle in handles:
            handle.remove()
        for path in probes:
            modules[path].probe.capture = False
            modules[path].probe.captured = None
    tokens = _token_ids(x)
    out = []
    for path, chunks in picks.items():
        if not chunks:
            continue
        choices = torch.cat(chunks).numpy()
        ids = tokens if tokens is not None and tuple(tokens.shape[:2]) == choices.shape[:2] else None
        out.append(sequence_routing(path, choices, probes[path].num_experts, None if ids is None else ids.numpy()))
    return out


def _token_ids(x: torch.Tensor) -> torch.Tensor | None:
    if x.dim() == 2 and not x.is_floating_point():
        return x.long()
    if x.dim() == 3 and x.shape[-1] == 1 and bool((x == x.round()).all()) and x.unique().numel() <= 1000:
        return x[..., 0].long()
    return None


def run_sequences(run: Path, catalog: Catalog) -> list[SequenceRouting]:
    """The measures on a run's test split (else its validation split), with its best weights."""
    from modstudio.engine.analysis.report import load_run, project_dir_of
    from modstudio.engine.data import make_splits

    project, net = load_run(run, catalog)
    inputs = project.main_module.input_nodes
    if len(inputs) != 1:
        return []
    shape = tuple(inputs[0].params.get("shape") or ())
    splits = make_splits(project.data, project_dir_of(run), shape or None)
    data = splits.test if splits.test is not None else splits.val
    return [] if data is None else sequence_choices(net, data.x)
