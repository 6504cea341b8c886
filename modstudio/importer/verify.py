"""The imported project must be what the model is: it validates, compiles, takes exactly the
model's weights, and computes the same outputs. Anything else stops the import (never a guess)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from modstudio.blocks.catalog import Catalog
from modstudio.compile.graphnet import CompileError, GraphNet
from modstudio.compile.prototypes import shared_prototypes
from modstudio.graph.model import Project
from modstudio.graph.validate import check_project

from .errors import ImportProblem
from .replay import Replays, replay_identical

TOLERANCE = 1e-4  # largest difference between the model's outputs and the project's


_INIT_FUNCTIONS = tuple(n for n in dir(nn.init) if n.endswith("_") and not n.startswith("_"))


@contextmanager
def _without_initialisation() -> Iterator[None]:
    """``torch.nn.init``'s in-place initialisers as no-ops while the check's network is built on the meta
    device (as Hugging Face's ``no_init_weights`` does): its weights are the model's, assigned next, and
    drawing them on meta goes through Python decompositions (a quarter of a ResNet-50 import)."""
    saved = {name: getattr(nn.init, name) for name in _INIT_FUNCTIONS}
    for name in saved:
        setattr(nn.init, name, lambda tensor, *args, **kwargs: tensor)
    try:
        yield
    finally:
        for name, function in saved.items():
            setattr(nn.init, name, function)


def _assigned(net: nn.Module, state: dict[str, torch.Tensor]) -> set[str]:
    """``state``'s tensors put in place of ``net``'s (as ``load_state_dict(assign=True)`` does, keys and shapes
    already checked, at a seventh of its cost: it scans the keys once per submodule); the keys assigned."""
    done: set[str] = set()
    for prefix, module in net.named_modules():
        dot = f"{prefix}." if prefix else ""
        for name, param in module._parameters.items():
            if param is not None and dot + name in state:
                module._parameters[name] = nn.Parameter(state[dot + name], requires_grad=param.requires_grad)
                done.add(dot + name)
        for name, buffer in module._buffers.items():
            if buffer is not None and name not in module._non_persistent_buffers_set and dot + name in state:
                module._buffers[name] = state[dot + name]
                done.add(dot + name)
    return done


def _flat(value: object) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _flat(v)]
    return []


def _first_sample(whole: torch.Tensor, first: torch.Tensor) -> torch.Tensor | None:
    """The first sample's part of ``whole`` (an output for the whole sample batch), shaped as ``first``
    (the output for the first sample alone): along the one dimension where they differ. None if not so."""
    if whole.dim() != first.dim():
        return None
    differ = [d for d, (a, b) in enumerate(zip(whole.shape, first.shape)) if a != b]
    if len(differ) != 1 or first.shape[differ[0]] != 1:
        return None
    return whole.narrow(differ[0], 0, 1)


def _largest(wanted: list[torch.Tensor], got: list[torch.Tensor]) -> float:
    return max((float((a.double() - b.double()).abs().max()) for a, b in zip(wanted, got) if a.numel()), default=0.0)


def _first_sample_difference(net: GraphNet, x: torch.Tensor, expected: object) -> float | None:
    """The largest difference on the first sample alone (a batch of one costs a third of the sample's
    two); None when an output has no batch dimension to take it from."""
    wanted, got = _flat(expected), _flat(net(x[:1]))
    if len(wanted) != len(got):
        return None
    if len(x) == 1:  # the sample was one: the whole of it
        return _largest(wanted, got) if all(a.shape == b.shape for a, b in zip(wanted, got)) else None
    firsts = [_first_sample(a, b) for a, b in zip(wanted, got)]
    if any(a is None for a in firsts):
        return None
    return _largest(firsts, got)  # type: ignore[arg-type]


def check_imported(
    project: Project,
    state: dict[str, torch.Tensor],
    expected: object,
    x: torch.Tensor,
    catalog: Catalog,
    replays: Replays | None = None,
) -> tuple[float, int]:
    """The largest difference between the project's outputs (with ``state``) and ``expected``, the model's
    outputs on ``x``: on the first sample, and if they differ there on all of ``x`` (a block whose output
    depends on the batch, as an MoE with a capacity, is checked on the batch the model ran); and the
    project's parameter count. ``replays``: the model's layers and their recorded calls; on a sample of
    one, a node whose layer is provably the model's own takes its recorded output (replay.py)."""
    problems = check_project(project, catalog)
    if problems:
        raise ImportProblem("the imported project does not validate: " + "; ".join(map(str, problems[:5])))
    try:
        with torch.device("meta"), _without_initialisation(), shared_prototypes():  # the model's weights come next
            net = GraphNet(project, catalog)
    except CompileError as exc:
        raise ImportProblem(f"the imported project does not compile: {exc}") from None
    own = net.state_dict()
    missing, unknown = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unknown or wrong:
        parts = [
            f"{label} {', '.join(keys[:4])}"
            for label, keys in (("missing", missing), ("unknown", unknown), ("misshapen", wrong))
            if keys
        ]
        raise ImportProblem("the model's weights do not fit the imported project: " + "; ".join(parts))
    if _assigned(net, state) != set(own):  # a block that keeps its weights its own way: torch's loader
        net.load_state_dict(state, strict=True, assign=True)
    if any(t.is_meta for t in net.buffers()):  # a buffer outside the state dict (non-persistent): built for real
        net = GraphNet(project, catalog)
        net.load_state_dict(state, strict=True)
    net.eval()
    if replays is not None and len(x) == 1:  # the check's input is the model's own sample
        replay_identical(net, replays)
    with torch.no_grad():
        difference = _first_sample_difference(net, x, expected)
        if difference is None or not difference <= TOLERANCE:  # a block mixing samples (an MoE's capacity)
            wanted, got = _flat(expected), _flat(net(x))
            if len(wanted) != len(got) or any(a.shape != b.shape for a, b in zip(wanted, got)):
                raise ImportProblem("the imported project's outputs do not have the model's shapes")
            difference = _largest(wanted, got)
    if not difference <= TOLERANCE:
        raise ImportProblem(
            f"the imported project computes other values than the model (largest difference {difference:.3g})"
        )
    return difference, sum(p.numel() for p in net.parameters())
