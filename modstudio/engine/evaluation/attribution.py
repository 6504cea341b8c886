"""Attributions with Captum (the ``explain`` extra): what the network looks at.

- ``integrated_gradients`` (Sundararajan et al. 2017) from an all-zero baseline: the
  attributions of a sample add up to f(x) − f(baseline) (completeness), so for a linear model
  they are weight × (input − baseline);
- ``saliency``: the absolute gradient of the class score with respect to the input;
- Grad-CAM (``LayerGradCam``) on the last convolution, upsampled to the input's size.

For one chosen sample and class (``explain_sample``), for every sample of the gallery (its
predicted and its true class), and averaged (absolute values) over the samples of each class and
over the samples each expert, branch or member handled (what each expert attends to).
"""

from __future__ import annotations

import importlib.util
from typing import Any

import torch
from torch import nn

from modstudio.engine.data import TensorData
from modstudio.engine.errors import EngineError
from modstudio.engine.task import Task

from .routes import RoutedLayer

METHODS = ("integrated_gradients", "saliency")
MISSING = "attributions need Captum, the 'explain' extra: pip install 'modstudio[explain]'"
STEPS = 32  # Integrated Gradients' Riemann steps
AVERAGED = 64  # samples per class or per expert in the averages


def captum_missing() -> str | None:
    """Why attributions cannot be computed here (Captum is not installed), or None."""
    return MISSING if importlib.util.find_spec("captum") is None else None


def _forward(net: nn.Module, task: Task) -> Any:
    def forward(x: torch.Tensor) -> torch.Tensor:
        out = net(x)
        if isinstance(out, tuple):
            out = out[task.index]
        return out.float().reshape(out.shape[0], -1)

    return forward


def attribute(
    net: nn.Module, task: Task, x: torch.Tensor, target: torch.Tensor | int, method: str = "integrated_gradients"
) -> torch.Tensor:
    """Attributions of ``x`` [N, ...] for class (or output) ``target``, the shape of ``x``."""
    if captum_missing():
        raise EngineError(MISSING, "settings")
    if not x.dtype.is_floating_point:
        raise EngineError("attributions need real-valued inputs; this network takes token ids", "task")
    from captum.attr import IntegratedGradients, Saliency

    forward = _forward(net, task)
    x = x.detach().float().clone().requires_grad_(True)
    if method == "saliency":
        return Saliency(forward).attribute(x, target=target, abs=True).detach()
    if method != "integrated_gradients":
        raise EngineError(f"no attribution method '{method}' (methods: {', '.join(METHODS)})", "settings")
    return (
        IntegratedGradients(forward).attribute(x, baselines=torch.zeros_like(x), target=target, n_steps=STEPS).detach()
    )


def last_conv(net: nn.Module) -> tuple[str, nn.Module] | None:
    convs = [(name, m) for name, m in net.named_modules() if isinstance(m, nn.Conv2d)]
    return convs[-1] if convs else None


def grad_cam(net: nn.Module, task: Task, x: torch.Tensor, target: torch.Tensor | int) -> torch.Tensor | None:
    """Grad-CAM of the last Conv2d for ``target``, upsampled to the image: [N, H, W] (None without a conv)."""
    found = last_conv(net)
    if found is None or x.dim() != 4:
        return None
    from captum.attr import LayerAttribution, LayerGradCam

    cam = LayerGradCam(_forward(net, task), found[1]).attribute(
        x.detach().float(), target=target, relu_attributions=True
    )
    return LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), "bilinear")[:, 0].detach()


def _map(attr: torch.Tensor) -> list[Any]:
    """What is drawn: images summed over channels, other samples one value per feature."""
    if attr.dim() == 4:
        attr = attr.sum(dim=1)
    return attr.tolist()


def _mean_abs(net: nn.Module, task: Task, x: torch.Tensor, target: torch.Tensor, method: str) -> list[Any]:
    values = attribute(net, task, x, target, method).abs()
    if values.dim() == 4:
        values = values.sum(dim=1)
    return values.mean(dim=0).tolist()


def explain_sample(
    net: nn.Module, task: Task, data: TensorData, index: int, target: int, method: str
) -> dict[str, Any]:
    """One chosen sample and class: its attribution map (and Grad-CAM), with the completeness check."""
    if not 0 <= index < len(data):
        raise EngineError(f"there is no sample {index} in the split (it has {len(data)})", "settings")
    if task.kind == "classification" and not 0 <= target < task.width:
        raise EngineError(f"there is no class {target} (the network gives {task.width})", "settings")
    x = data.x[index : index + 1]
    attr = attribute(net, task, x, target, method)
    x = x.float()
    out: dict[str, Any] = {"index": index, "target": target, "method": method, "map": _map(attr)[0]}
    if method == "integrated_gradients":
        with torch.no_grad():
            forward = _forward(net, task)
            gap = float(forward(x)[0, target] - forward(torch.zeros_like(x))[0, target])
        out["completeness"] = {"sum": float(attr.sum()), "output_difference": gap}
    cam = grad_cam(net, task, x, target)
    if cam is not None:
        out["grad_cam"] = cam[0].tolist()
    return out


def attributions(
    net: nn.Module,
    task: Task,
    data: TensorData,
    result: dict[str, Any],
    layers: list[RoutedLayer],
    method: str = "integrated_gradients",
) -> dict[str, Any]:
    """Maps for the gallery samples, and averages per class and per expert (see the module's docstring)."""
    x = data.x.float()
    index = torch.tensor([g["index"] for g in result["gallery"]], dtype=torch.long)
    classify = task.kind == "classification"
    predicted = torch.tensor([g["predicted"] if classify else 0 for g in result["gallery"]], dtype=torch.long)
    true = torch.tensor([g["true"] if classify else 0 for g in result["gallery"]], dtype=torch.long)
    out: dict[str, Any] = {"method": method, "gallery_predicted": [], "gallery_true": []}
    if index.numel():
        out["gallery_predicted"] = _map(attribute(net, task, x[index], predicted, method))
        out["gallery_true"] = _map(attribute(net, task, x[index], true, method))
        cam = grad_cam(net, task, x[index], predicted)
        if cam is not None:
            out["gallery_grad_cam"] = cam.tolist()
            out["grad_cam_layer"] = last_conv(net)[0]  # type: ignore[index]
    with torch.no_grad():
        outputs = _forward(net, task)(x)
    chosen = outputs.argmax(-1) if classify else torch.zeros(len(data), dtype=torch.long)
    if classify:
        out["per_class"] = {}
        for c, name in enumerate(result["class_names"]):
            members = torch.nonzero(data.y.long() == c).flatten()[:AVERAGED]
            if members.numel():
                out["per_class"][name] = _mean_abs(net, task, x[members], torch.full_like(members, c), method)
    out["per_expert"] = {}
    for layer in layers:
        if layer.kind == "ensemble":
            continue
        choice = torch.from_numpy(layer.choice())
        maps = {}
        for unit, name in enumerate(layer.names):
            members = torch.nonzero(choice == unit).flatten()[:AVERAGED]
            if members.numel():
                maps[name] = _mean_abs(net, task, x[members], chosen[members], method)
        out["per_expert"][layer.path] = maps
    return out
