"""The memory estimate: exact parameters and optimizer state against torch on real models, every
weight given to one node, the heaviest node named, human sizes; nothing allocated to estimate."""

from __future__ import annotations

import pytest
import torch

from modstudio.blocks import default_catalog
from modstudio.compile.graphnet import GraphNet
from modstudio.compile.memory import (
    MemoryEstimate,
    estimate_memory,
    export_refusal,
    format_memory,
    human_size,
    training_refusal,
)
from modstudio.engine.session import make_optimizer
from modstudio.graph.model import Project
from modstudio.library import load_template

TRILLION = 1_000_006_000_002  # 2 -> 10^6 -> 10^6 -> 2: each Linear within its out_features maximum


def huge_mlp() -> Project:
    """mlp_2d with fc1 and fc2 at the largest out_features a Linear allows: about 10^12 parameters."""
    project = load_template("mlp_2d", default_catalog())
    for node in project.main_module.nodes:
        if node.name in ("fc1", "fc2"):
            node.params["out_features"] = 1_000_000
    return project


def _state_bytes(optimizer: torch.optim.Optimizer) -> int:
    return sum(
        t.numel() * t.element_size()
        for state in optimizer.state.values()
        for key, t in state.items()
        if key != "step" and isinstance(t, torch.Tensor)
    )


@pytest.mark.parametrize(
    ("template", "optimizer", "momentum"),
    [("cnn_digits", "adam", 0.9), ("moe_2d", "adamw", 0.9), ("mlp_2d", "sgd", 0.9), ("mlp_2d", "sgd", 0.0)],
)
def test_parameters_and_optimizer_state_equal_torchs_on_a_real_model(template, optimizer, momentum):
    project = load_template(template, default_catalog())
    project.training.optimizer, project.training.momentum = optimizer, momentum
    estimate = estimate_memory(project)
    torch.manual_seed(0)
    net = GraphNet(project, default_catalog())
    params = list(net.parameters())
    assert estimate.parameters == sum(p.numel() for p in params)
    assert estimate.weights == estimate.gradients == sum(p.numel() * p.element_size() for p in params)
    opt = make_optimizer(net, project)
    for p in params:  # every parameter gets a gradient in training (a batch may skip an expert)
        p.grad = torch.zeros_like(p)
    opt.step()
    assert estimate.optimizer_state == _state_bytes(opt)
    assert (
        estimate.optimizer_state == {"adam": 2, "adamw": 2, "sgd": 1 if momentum else 0}[optimizer] * estimate.weights
    )


def test_every_weight_belongs_to_exactly_one_node_nested_modules_and_experts_included():
    for template in ("resnet18", "moe_2d"):
        estimate = estimate_memory(load_template(template, default_catalog()))
        assert sum(n.weights for n in estimate.nodes) == estimate.weights, template
    paths = {n.path for n in estimate_memory(load_template("resnet18", default_catalog())).nodes}
    assert "layer2_0.down_conv" in paths  # a node inside a module, named by its path


def test_activations_are_every_nodes_output_for_one_batch():
    project = load_template("mlp_2d", default_catalog())  # fc1, relu1, fc2, relu2: 64 wide; head: 2
    project.data.batch_size = 10
    estimate = estimate_memory(project)
    assert estimate.activations == 10 * (4 * 64 + 2) * 4
    assert {n.path: n.activations for n in estimate.nodes}["head"] == 10 * 2 * 4


def test_frozen_nodes_have_no_gradients_or_optimizer_state():
    project = load_template("mlp_2d", default_catalog())
    project.main_module.node_named("fc2").frozen = True  # type: ignore[union-attr]
    estimate = estimate_memory(project)
    fc2 = (64 * 64 + 64) * 4
    assert estimate.gradients == estimate.weights - fc2
    assert estimate.optimizer_state == 2 * (estimate.weights - fc2)


def test_a_trillion_parameters_are_estimated_without_allocating_and_fc2_is_named():
    estimate = estimate_memory(huge_mlp())
    assert estimate.parameters == TRILLION
    assert human_size(estimate.weights) == "4.0 TB" and human_size(estimate.training) == "16.0 TB"
    limit = (16 * 2**30, "a 17.2 GB test limit")
    refusal = training_refusal(estimate, limit)
    assert refusal is not None and refusal.startswith(
        "'fc2' holds 4.0 TB of float32 weights: training needs about 16.0 TB (weights 4.0 TB, gradients 4.0 TB, "
        "optimizer state 8.0 TB, activations 1.0 GB per batch of 64), more than a 17.2 GB test limit"
    )
    assert export_refusal(estimate, limit) == (
        "'fc2' holds 4.0 TB of float32 weights: exporting needs about 8.0 TB (the weights, 4.0 TB, twice: "
        "the network and the exported model), more than a 17.2 GB test limit; nothing was written."
    )


def test_a_batch_too_large_names_the_node_with_the_largest_activations():
    project = load_template("cnn_digits", default_catalog())
    project.data.batch_size = 1_000_000
    estimate = estimate_memory(project)
    refusal = training_refusal(estimate, (10**9, "a 1.0 GB test limit"))
    assert refusal is not None
    assert refusal.startswith("'conv1' gives ") and " of activations per batch of 1000000: " in refusal
    assert export_refusal(estimate, (10**9, "a 1.0 GB test limit")) is None  # its weights are small


def test_a_small_network_fits_and_the_line_says_each_part():
    estimate = estimate_memory(load_template("cnn_digits", default_catalog()))
    assert training_refusal(estimate) is None and export_refusal(estimate) is None  # this machine's memory
    assert format_memory(estimate) == (
        "memory for training: weights 54.8 KB, gradients 54.8 KB, optimizer state 109.6 KB (adam), "
        f"activations {human_size(estimate.activations)} per batch of 64; about {human_size(estimate.training)} in all"
    )


def test_human_sizes():
    sizes = [0, 999, 1000, 54_824, 4_000_024_000_008, 2.5e15]
    assert [human_size(n) for n in sizes] == ["0 B", "999 B", "1.0 KB", "54.8 KB", "4.0 TB", "2.5 PB"]
    assert MemoryEstimate(1, 4, 4, "adam", 8, 1, 2).training == 18
