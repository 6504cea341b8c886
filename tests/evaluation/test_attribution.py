"""Attributions: Integrated Gradients' completeness on a linear model, saliency, Grad-CAM's shape."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modstudio.engine.data import TensorData
from modstudio.engine.evaluation.attribution import attribute, explain_sample, grad_cam
from modstudio.engine.task import Task

pytest.importorskip("captum")  # the 'explain' extra; the dev install has it


def task(width: int, shape: tuple[int, ...]) -> Task:
    return Task("classification", "y", 0, width, "x", shape, "float", 1)


def linear() -> nn.Linear:
    net = nn.Linear(4, 3)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[1.0, -2.0, 0.5, 0.0], [0.0, 3.0, -1.0, 2.0], [-0.5, 0.0, 0.0, 1.5]]))
        net.bias.copy_(torch.tensor([0.7, -0.3, 2.0]))  # a bias is not the inputs' doing: it gets no attribution
    return net.eval()


def test_integrated_gradients_of_a_linear_model_is_weight_times_input() -> None:
    net = linear()
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0], [-1.0, 0.5, 0.0, 2.0]])
    target = torch.tensor([1, 2])
    attributions = attribute(net, task(3, (4,)), x, target, "integrated_gradients")
    expected = net.weight.detach()[target] * (x - 0.0)  # baseline 0
    torch.testing.assert_close(attributions, expected, rtol=1e-5, atol=1e-5)
    # completeness: they add up to f(x) - f(baseline) for the target class
    gap = (net(x) - net(torch.zeros_like(x))).gather(1, target[:, None])[:, 0]
    torch.testing.assert_close(attributions.sum(dim=1), gap.detach(), rtol=1e-5, atol=1e-5)


def test_saliency_of_a_linear_model_is_the_absolute_weight() -> None:
    net = linear()
    x = torch.randn(3, 4)
    got = attribute(net, task(3, (4,)), x, 0, "saliency")
    torch.testing.assert_close(got, net.weight.detach()[0].abs().expand(3, 4))


def test_a_chosen_sample_reports_completeness() -> None:
    net = linear()
    data = TensorData("t", torch.tensor([[1.0, 2.0, 3.0, 4.0]]), torch.tensor([0]), "classification", num_classes=3)
    out = explain_sample(net, task(3, (4,)), data, 0, 1, "integrated_gradients")
    assert out["map"] == pytest.approx([0.0, 6.0, -3.0, 8.0], abs=1e-5)
    assert out["completeness"]["sum"] == pytest.approx(out["completeness"]["output_difference"], abs=1e-4)


def test_grad_cam_covers_the_image() -> None:
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 10)).eval()
    cam = grad_cam(net, task(10, (1, 8, 8)), torch.randn(5, 1, 8, 8), torch.arange(5))
    assert cam is not None and cam.shape == (5, 8, 8) and bool((cam >= 0).all())
    assert grad_cam(linear(), task(3, (4,)), torch.randn(2, 4), 0) is None  # no convolution: nothing to show
