"""Statistics over time: per-module histograms of weights, activations and gradients, dead ReLU units and
the update/weight ratio, measured every ``training.statistics_every`` steps (off by default).

A recording step costs little more than a plain one and nothing is kept between records:

- forward hooks exist only during a recording step's forward pass (:meth:`StatisticsRecorder.watching`
  registers them and removes them); each hook reduces its module's output at once to a histogram
  (``torch.histc`` on the tensor's device) and, for a ReLU layer, the dead-unit share;
- after ``backward`` the gradients are reduced the same way and the weights are copied; after the
  optimizer's step the weights' histograms and the norms of their change are taken;
- everything lands in one small tensor per record that reaches the host in one copy (one sync),
  and becomes a :class:`~modstudio.engine.statistics_message.Statistics` message.

A module is a node of the network, named by its dotted path (``block1.fc``): the block nodes of the main
module and, inside a module used as a block, its own nodes. A histogram spans the finite values of its
tensor in ``bins`` equal bins (NaN and ±inf are counted apart), so a record's range follows the tensor
and a view can lay records side by side on a common scale. A unit of a ReLU layer is one element of its
output for one sample (a neuron of a dense layer, a channel at one position of a convolution); it is dead
when it is zero for every sample of the batch.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
from torch import nn

from modstudio.compile.graphnet import GraphNet
from modstudio.engine.statistics_message import Histogram, ModuleStatistics, Statistics

BINS = 32
MAX_MODULES = 128  # the first modules in forward order; more make every record large for little
RELU_LAYERS = (nn.ReLU, nn.ReLU6)


def recorded_modules(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """(dotted path, module) of every node a record covers, in the order the forward runs them."""
    if not isinstance(net, GraphNet):
        return list(net.named_children())
    out: list[tuple[str, nn.Module]] = []
    for step in net.plan.steps:
        child = net.get_submodule(step.target)
        if isinstance(child, GraphNet):
            out += [(f"{step.target}.{path}", module) for path, module in recorded_modules(child)]
        else:
            out.append((step.target, child))
    return out


class StatisticsRecorder:
    """Measures the modules of ``net`` on the steps :meth:`due` names (see the module's docstring)."""

    def __init__(self, net: nn.Module, every: int, bins: int = BINS, max_modules: int = MAX_MODULES) -> None:
        if every < 1:
            raise ValueError(f"statistics are recorded every n >= 1 steps, not every {every}")
        self.every = every
        self.bins = bins
        found = recorded_modules(net)
        self.left_out = max(len(found) - max_modules, 0)  # modules beyond the limit (the trainer says so)
        self.modules = found[:max_modules]
        self.parameters = {path: [p for p in module.parameters()] for path, module in self.modules}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._parts: dict[tuple[str, str], torch.Tensor] = {}  # (path, field) -> small tensor on the device
        self._before: dict[str, list[torch.Tensor]] = {}  # the weights before the optimizer's step

    def due(self, step: int) -> bool:
        """Whether the step that brings the step count to ``step`` is recorded."""
        return step % self.every == 0

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Forward hooks on every recorded module while the block runs (a recording step's forward)."""
        self._parts.clear()
        self._before.clear()
        self._handles = [module.register_forward_hook(self._hook(path)) for path, module in self.modules]
        try:
            yield
        finally:
            for handle in self._handles:
                handle.remove()
            self._handles = []

    def _hook(self, path: str):  # type: ignore[no-untyped-def]
        relu = isinstance(dict(self.modules)[path], RELU_LAYERS)

        def hook(module: nn.Module, inputs: object, output: object) -> None:
            tensors = [t for t in _tensors(output) if t.is_floating_point()]
            if not tensors:
                return
            with torch.no_grad():
                self._parts[(path, "activations")] = histogram_parts(_flat(tensors), self.bins)
                if relu and tensors[0].ndim >= 1 and tensors[0].shape[0] > 0:
                    out = tensors[0].detach().reshape(tensors[0].shape[0], -1)
                    self._parts[(path, "dead_share")] = (out == 0).all(dim=0).float().mean().reshape(1)

        return hook

    def after_backward(self) -> None:
        """The gradients as ``backward`` left them (before clipping), and a copy of the weights."""
        with torch.no_grad():
            for path, params in self.parameters.items():
                grads = [p.grad for p in params if p.grad is not None]
                if grads:
                    self._parts[(path, "gradients")] = histogram_parts(_flat(grads), self.bins)
                if params:
                    self._before[path] = [p.detach().clone() for p in params]

    def finish(self, step: int, epoch: int) -> Statistics:
        """The record of this step (after the optimizer's step; or with only the activations, after a
        failed one); the one host sync of the record."""
        with torch.no_grad():
            for path, params in self.parameters.items():
                if not params:
                    continue
                if path in self._before:  # the step was taken: weights now, and how far they moved
                    self._parts[(path, "weights")] = histogram_parts(_flat(params), self.bins)
                    before = self._before[path]
                    moved = _norm([p.detach().float() - b.float() for p, b in zip(params, before)])
                    self._parts[(path, "update_ratio")] = torch.stack([moved, _norm([b.float() for b in before])])
        keys = list(self._parts)
        values: list[float] = []
        if keys:
            device = self._parts[keys[0]].device
            values = torch.cat([self._parts[k].to(device) for k in keys]).cpu().tolist()
        self._parts.clear()
        self._before.clear()
        return Statistics(step=step, epoch=epoch, modules=self._message_modules(keys, values), bins=self.bins)

    def _message_modules(self, keys: list[tuple[str, str]], values: list[float]) -> dict[str, ModuleStatistics]:
        fields: dict[str, dict[str, object]] = {}
        at = 0
        for path, name in keys:
            width = (
                self.bins + 3 if name in ("activations", "gradients", "weights") else 1 if name == "dead_share" else 2
            )
            part = values[at : at + width]
            at += width
            entry = fields.setdefault(path, {})
            if name == "dead_share":
                entry[name] = part[0]
            elif name == "update_ratio":
                moved, size = part
                entry[name] = moved / size if size > 0 and math.isfinite(moved) else None
            else:
                entry[name] = _histogram(part, self.bins)
        return {path: ModuleStatistics(**fields[path]) for path, _ in self.modules if path in fields}  # type: ignore[arg-type]


def histogram_parts(x: torch.Tensor, bins: int) -> torch.Tensor:
    """[bins + 3] on x's device, with no host sync: counts of the finite values in ``bins`` equal bins
    between their smallest and largest, then that smallest, largest and the count of non-finite values."""
    x = x.detach().float().reshape(-1)
    finite = torch.isfinite(x)
    low = torch.where(finite, x, math.inf).amin() if x.numel() else x.new_zeros(())
    high = torch.where(finite, x, -math.inf).amax() if x.numel() else x.new_zeros(())
    span = high - low
    span = torch.where(span > 0, span, torch.ones_like(span))
    scaled = torch.where(finite, (x - low) / span, -1.0)  # non-finite values fall outside [0, 1]: not counted
    counts = torch.histc(scaled, bins=bins, min=0.0, max=1.0)
    bad = (~finite).sum().float()
    return torch.cat([counts, torch.stack([low, high, bad])])


def _histogram(part: list[float], bins: int) -> Histogram:
    counts, (low, high, bad) = part[:bins], part[bins:]
    if not (math.isfinite(low) and math.isfinite(high)):  # nothing finite
        low = high = 0.0
    return Histogram(low=low, high=high, counts=tuple(counts), nonfinite=int(bad))


def _tensors(output: object) -> list[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, (tuple, list)):
        return [t for t in output if isinstance(t, torch.Tensor)]
    return []


def _flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    flat = [t.detach().reshape(-1) for t in tensors]
    return flat[0] if len(flat) == 1 else torch.cat([t.float() for t in flat])


def _norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in tensors]))
