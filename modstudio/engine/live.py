"""What the live dashboard sees besides the routing facts: gradient norms and decision regions.

- :class:`GradientNorms`: the L2 norm of the gradient of each top-level submodule of the
  network (the main module's nodes), measured right after ``backward`` on report steps only,
  with one host sync for all of them.
- :class:`RegionGrid`: for 2-D inputs, the network evaluated on a G x G grid over the training
  data's bounds (+5% margin): the predicted class at each grid point and, for every probed
  layer, the expert (or branch) the router sends that point to. Arrays are row-major:
  ``grid[row, col]`` lies at x = xmin + (col + 0.5)·(xmax - xmin)/G, y = ymin + (row + 0.5)·(ymax - ymin)/G.
  The grid pass runs in eval mode under ``no_grad`` with the probes' recording off, so the
  training statistics never see it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from modstudio.compile.probes import RoutingProbe
from modstudio.engine.errors import EngineError
from modstudio.engine.protocol import Regions
from modstudio.engine.task import Task

MAX_POINTS = 600  # training points drawn over the regions (first regions message only)


class GradientNorms:
    """Gradient L2 norm per top-level submodule that has trainable parameters."""

    def __init__(self, net: nn.Module) -> None:
        self.groups: list[tuple[str, list[nn.Parameter]]] = []
        for name, child in net.named_children():
            params = [p for p in child.parameters() if p.requires_grad]
            if params:
                self.groups.append((name, params))

    def __bool__(self) -> bool:
        return bool(self.groups)

    def measure(self) -> dict[str, float]:
        """Norms of the gradients present now (call after ``backward``); one host sync in all."""
        names: list[str] = []
        norms: list[torch.Tensor] = []
        for name, params in self.groups:
            grads = [p.grad.detach().float() for p in params if p.grad is not None]
            if not grads:
                continue
            names.append(name)
            norms.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))
        if not norms:
            return {}
        values = torch.stack(norms).cpu().tolist()
        return {name: float(value) for name, value in zip(names, values)}


def is_plane(x: torch.Tensor) -> bool:
    """True for inputs with two features per sample (points in the plane: moons, regimes, circles...)."""
    return x.ndim == 2 and x.shape[1] == 2


class RegionGrid:
    """Decision regions and expert regions of a network whose input is a point in the plane."""

    def __init__(
        self,
        x: torch.Tensor,
        labels: torch.Tensor | None,
        device: torch.device,
        size: int = 64,
        seed: int = 0,
    ) -> None:
        if not 2 <= size <= 512:
            raise EngineError(f"region_grid must be between 2 and 512 grid points per side, got {size}", "settings")
        if not is_plane(x):
            raise ValueError(f"decision regions need inputs of shape [N, 2], got {list(x.shape)}")
        x = x.detach().float().cpu()
        low, high = x.min(dim=0).values, x.max(dim=0).values
        margin = (high - low).clamp_min(1e-6) * 0.05
        low, high = low - margin, high + margin
        self.size = size
        self.extent = [float(low[0]), float(high[0]), float(low[1]), float(high[1])]
        cells = (torch.arange(size, dtype=torch.float32) + 0.5) / size
        xs = low[0] + cells * (high[0] - low[0])
        ys = low[1] + cells * (high[1] - low[1])
        rows, cols = torch.meshgrid(ys, xs, indexing="ij")
        self.grid = torch.stack([cols.reshape(-1), rows.reshape(-1)], dim=1).to(device)
        generator = torch.Generator().manual_seed(seed)
        pick = torch.randperm(x.shape[0], generator=generator)[:MAX_POINTS]
        self.points = x[pick].numpy().astype(np.float32)
        one_each = labels is not None and labels.ndim == 1 and labels.shape[0] == x.shape[0]
        self.labels = labels.detach().cpu()[pick].numpy().astype(np.int64) if one_each else None
        self._points_sent = False

    def picture(self, net: nn.Module, probes: dict[str, RoutingProbe], task: Task, epoch: int, step: int) -> Regions:
        """The ``regions`` message for the network as it is now; leaves the network and probes as they were."""
        out, experts = self._evaluate(net, probes, task)
        g = self.size
        predicted = values = points = labels = None
        if task.kind == "classification":
            dtype = np.uint8 if out.shape[1] <= 256 else np.int32
            predicted = out.argmax(dim=1).view(g, g).cpu().numpy().astype(dtype)
        else:
            values = out[:, 0].view(g, g).float().cpu().numpy()
        if not self._points_sent:
            self._points_sent = True
            points, labels = self.points, self.labels
        extent = (self.extent[0], self.extent[1], self.extent[2], self.extent[3])
        return Regions(
            epoch=epoch,
            step=step,
            extent=extent,
            size=g,
            predicted=predicted,
            values=values,
            experts=experts,
            points=points,
            labels=labels,
        )

    def _evaluate(
        self, net: nn.Module, probes: dict[str, RoutingProbe], task: Task
    ) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
        was_training = net.training
        saved = {path: (probe.enabled, probe.capture) for path, probe in probes.items()}
        tokens = self.size * self.size
        try:
            for probe in probes.values():
                probe.enabled, probe.capture, probe.captured = False, True, None
            net.eval()
            with torch.no_grad():
                out = net(self.grid)
                if isinstance(out, tuple):
                    out = out[task.index]
            experts: dict[str, np.ndarray] = {}
            for path, probe in probes.items():
                choice = probe.captured
                if choice is not None and choice.numel() == tokens:  # one choice per grid point
                    experts[path] = choice.view(self.size, self.size).to(torch.int32).cpu().numpy()
        finally:
            for path, probe in probes.items():
                probe.enabled, probe.capture = saved[path]
                probe.captured = None
            net.train(was_training)
        return out.reshape(tokens, -1), experts
