"""Statistics over time: per-module histograms of weights, activations and gradients, dead ReLU units and
the update/weight ratio, measured every ``training.statistics_every`` steps (off by default).

A recording step costs little more than a plain one and nothing is kept between records:

- forward hooks exist only during a recording step's forward pass (:meth:`StatisticsRecorder.watching`
  registers them and removes them); each hook keeps a small copy of its module's output (at most
  ``SAMPLE`` values) and, for a ReLU layer, measures the dead-unit share;
- after ``backward`` the gradients are sampled the same way and the weights are copied; after the
  optimizer's step the weights are sampled and the norms of their change taken;
- all the histograms of a record are then counted at once on the device (:func:`histogram_rows`:
  ``bincount`` on the CPU, ``torch.histc`` on an accelerator) into one small tensor that reaches the host
  in one copy (one sync), and becomes a :class:`~modstudio.engine.statistics_message.Statistics` message.

A module is a node of the network, named by its dotted path (``block1.fc``): the block nodes of the main
module and, inside a module used as a block, its own nodes. A histogram spans the finite values of its
tensor in ``bins`` equal bins (NaN and ±inf are counted apart), so a record's range follows the tensor
and a view can lay records side by side on a common scale; a tensor of more than ``SAMPLE`` values is
measured on an evenly strided sample of them (the shares stay, the cost stays small). A unit of a ReLU
layer is one element of its output for one sample (a neuron of a dense layer, a channel at one position
of a convolution); it is dead when it is zero for every sample of the batch (measured on the whole output).
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
SAMPLE = 4096  # a larger tensor's histogram is of an evenly strided sample of about this many values
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
        self._samples: dict[tuple[str, str], torch.Tensor] = {}  # (path, quantity) -> values for a histogram
        self._parts: dict[tuple[str, str], torch.Tensor] = {}  # (path, field) -> a scalar or two on the device
        self._before: dict[str, list[torch.Tensor]] = {}  # the weights before the optimizer's step

    def due(self, step: int) -> bool:
        """Whether the step that brings the step count to ``step`` is recorded."""
        return step % self.every == 0

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Forward hooks on every recorded module while the block runs (a recording step's forward)."""
        self._samples.clear()
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
                self._samples[(path, "activations")] = sample(tensors)
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
                    self._samples[(path, "gradients")] = sample(grads)
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
                    self._samples[(path, "weights")] = sample(params)
                    before = self._before[path]
                    moved = _norm(torch._foreach_sub([p.detach() for p in params], before))
                    self._parts[(path, "update_ratio")] = torch.stack([moved, _norm(before)]).float()
        samples = list(self._samples.values())
        pieces = [histogram_rows(samples, self.bins).reshape(-1)] if samples else []
        pieces += list(self._parts.values())
        values = torch.cat([p.to(pieces[0].device) for p in pieces]).cpu().tolist() if pieces else []
        width = max((len(x) for x in samples), default=0)  # every row was padded to this many values with NaN
        fields: dict[str, dict[str, object]] = {}
        at = 0
        for (path, name), values_of in self._samples.items():
            part = values[at : at + self.bins + 3]
            at += self.bins + 3
            part[-1] -= width - len(values_of)  # the padding is not the tensor's
            fields.setdefault(path, {})[name] = _histogram(part, self.bins)
        for (path, name), tensor in self._parts.items():
            part = values[at : at + tensor.numel()]
            at += tensor.numel()
            if name == "dead_share":
                fields.setdefault(path, {})[name] = part[0]
            else:  # update_ratio
                moved, size = part
                fields.setdefault(path, {})[name] = moved / size if size > 0 and math.isfinite(moved) else None
        self._samples.clear()
        self._parts.clear()
        self._before.clear()
        modules = {path: ModuleStatistics(**fields[path]) for path, _ in self.modules if path in fields}  # type: ignore[arg-type]
        return Statistics(step=step, epoch=epoch, modules=modules, bins=self.bins)


def sample(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The values of ``tensors`` as one float32 copy (later in-place ops cannot change it); more than
    ``SAMPLE`` values become an evenly strided sample, every k-th with k odd so rows and channels do not
    alias, taken from each tensor before anything is copied."""
    flat = [t.detach().reshape(-1) for t in tensors]
    total = sum(t.numel() for t in flat)
    if total > SAMPLE:
        stride = (total + SAMPLE - 1) // SAMPLE | 1
        flat = [t[::stride] for t in flat]
    if len(flat) == 1:
        return flat[0].to(torch.float32, copy=True)
    return torch.cat([t.float() for t in flat])


def histogram_rows(samples: list[torch.Tensor], bins: int, histc: bool | None = None) -> torch.Tensor:
    """[len(samples), bins + 3] on their device, with no host sync, all samples at once: per sample, counts
    of its finite values in ``bins`` equal bins between their smallest and largest, then that smallest,
    largest and the count of non-finite values plus the NaN padding the row got (``max length - length``).

    A value's bin is found by arithmetic and counted with ``bincount`` on the CPU (faster there than
    ``histc``) or ``histc`` on an accelerator (``bincount`` would sync to size its output); non-finite
    values are set to 0 for the arithmetic and taken back out of the bin 0 went to. A sample with no
    finite value gets a smallest above its largest. ``histc``: count with ``torch.histc`` (None: unless on the CPU)."""
    rows = torch.nn.utils.rnn.pad_sequence(samples, batch_first=True, padding_value=math.nan)
    big = torch.finfo(torch.float32).max
    low = torch.nan_to_num(rows, nan=big, posinf=big, neginf=big).amin(dim=1)  # the finite values' smallest
    high = torch.nan_to_num(rows, nan=-big, posinf=-big, neginf=-big).amax(dim=1)
    bad = rows.shape[1] - (rows.abs() <= big).sum(dim=1)  # NaN compares false, ±inf is larger
    span = torch.where(high > low, high - low, torch.ones_like(high))
    scale = (bins / span).unsqueeze(1)

    def bin_of(values: torch.Tensor) -> torch.Tensor:
        return ((values - low.unsqueeze(1)) * scale).floor_().clamp_(0, bins - 1)

    offsets = torch.arange(rows.shape[0], device=rows.device).unsqueeze(1) * bins
    where = bin_of(torch.nan_to_num(rows, nan=0.0, posinf=0.0, neginf=0.0)) + offsets
    size = rows.shape[0] * bins
    if not (rows.device.type != "cpu" if histc is None else histc):
        counts = torch.bincount(where.reshape(-1).to(torch.int64), minlength=size).float()
    else:
        counts = torch.histc(where.reshape(-1), bins=size, min=0, max=size)
    zero_bin = (bin_of(rows.new_zeros(rows.shape[0], 1)) + offsets).reshape(-1).to(torch.int64)
    counts = counts.index_add(0, zero_bin, -bad.float())
    return torch.cat([counts.reshape(-1, bins), torch.stack([low, high, bad.float()], dim=1)], dim=1)


def histogram_parts(x: torch.Tensor, bins: int) -> torch.Tensor:
    """[bins + 3] for one tensor (see :func:`histogram_rows`)."""
    return histogram_rows([sample([x])], bins)[0]


def _histogram(part: list[float], bins: int) -> Histogram:
    counts, (low, high, bad) = part[:bins], part[bins:]
    if low > high:  # nothing finite
        low = high = 0.0
    return Histogram(low=low, high=high, counts=tuple(counts), nonfinite=int(bad))


def _tensors(output: object) -> list[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, (tuple, list)):
        return [t for t in output if isinstance(t, torch.Tensor)]
    return []


def _norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(tensors)))
