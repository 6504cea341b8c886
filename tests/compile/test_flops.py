"""FLOPs per sample from the inferred shapes: hand-computed values, and torch's own count."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from modstudio.blocks import default_catalog
from modstudio.compile.flops import count_flops
from modstudio.compile.graphnet import GraphNet
from modstudio.graph.builder import ProjectBuilder
from modstudio.graph.model import Project
from modstudio.library import load_template


def one_block(shape: list[int], block: str, **params: object) -> Project:
    pb = ProjectBuilder("tests/flops", default_catalog())
    b = pb.module("main")
    b.output("y", b.add(block, "layer", b.input("x", shape), **params))
    return pb.project("one block")


def flops_of(project: Project) -> int:
    return count_flops(project).total


def test_linear_counts_two_flops_per_multiply_add_plus_the_bias() -> None:
    assert flops_of(one_block([20], "linear", out_features=30)) == 2 * 20 * 30 + 30  # 1,230
    assert flops_of(one_block([20], "linear", out_features=30, bias=False)) == 1200
    assert flops_of(one_block([5, 20], "linear", out_features=30)) == 5 * 1230  # per token


def test_conv2d_counts_every_output_element_including_groups() -> None:
    # 3 -> 16 channels, 3x3, 'same' padding on 32x32: each of 16*32*32 outputs sums 3*9 products
    assert (
        flops_of(one_block([3, 32, 32], "conv2d", out_channels=16, kernel_size=3)) == 2 * 3 * 9 * 16 * 1024 + 16 * 1024
    )
    # stride 2, no padding: 15x15 outputs
    assert flops_of(one_block([3, 32, 32], "conv2d", out_channels=8, kernel_size=3, stride=2, padding=0)) == (
        2 * 3 * 9 * 8 * 225 + 8 * 225
    )
    # 4 groups: each output channel sees 8 / 4 input channels
    grouped = one_block([8, 16, 16], "group_conv2d", out_channels=16, kernel_size=3, groups=4)
    assert flops_of(grouped) == 2 * 2 * 9 * 16 * 256 + 16 * 256


@pytest.mark.parametrize(
    "shape, block, params",
    [
        ([20], "linear", {"out_features": 30, "bias": False}),
        ([3, 32, 32], "conv2d", {"out_channels": 16, "kernel_size": 5, "stride": 2, "bias": False}),
        ([8, 16, 16], "group_conv2d", {"out_channels": 16, "kernel_size": 3, "groups": 4, "bias": False}),
        ([4, 40], "conv1d", {"out_channels": 6, "kernel_size": 3, "dilation": 2, "bias": False}),
        ([6, 12, 12], "depthwise_separable_conv2d", {"out_channels": 10, "kernel_size": 3, "bias": False}),
        ([4, 8, 8], "locally_connected2d", {"out_channels": 5, "kernel_size": 3, "bias": False}),
    ],
)
def test_multiply_adds_agree_with_torchs_flop_counter(shape: list[int], block: str, params: dict) -> None:
    project = one_block(shape, block, **params)
    net = GraphNet(project, default_catalog())
    with FlopCounterMode(display=False) as counter:
        net(torch.randn(1, *shape))
    assert flops_of(project) == counter.get_total_flops()


def test_mixture_of_experts_counts_the_router_and_the_active_experts_only() -> None:
    project = load_template("moe_2d", default_catalog())  # 4 experts 2 -> 16 -> 2, Switch gate (top-1)
    expert = (2 * 2 * 16 + 16) + 16 + (2 * 16 * 2 + 2)  # fc1, ReLU, out
    router = 2 * 2 * 4 + 3 * 4  # logits, softmax
    counted = count_flops(project)
    assert counted.total == router + expert + 2 * 2  # + weighting the chosen expert's output
    assert counted.by_module["Expert"] == pytest.approx(expert)  # one expert's worth per sample, over 4 experts
    project.main_module.node_named("moe").params.update(gate="topk", k=2)
    assert flops_of(project) == router + 2 * expert + 2 * 2 * 2


def test_module_references_add_up_and_each_node_gets_its_share() -> None:
    pb = ProjectBuilder("tests/flops/nested", default_catalog())
    block = pb.module("Block")
    block.output("y", block.add("relu", "act", block.add("linear", "fc", block.input("x"), out_features=10)))
    main = pb.module("main")
    h = main.use("Block", "b2", main.use("Block", "b1", main.input("x", [10])))
    main.output("y", main.add("linear", "head", h, out_features=2))
    counted = count_flops(pb.project("nested"))
    per_block = 2 * 10 * 10 + 10 + 10
    rows = {row.path: row for row in counted.nodes}
    assert rows["b1"].flops == rows["b2"].flops == per_block and rows["b1.fc"].depth == 1
    assert counted.total == 2 * per_block + 2 * 10 * 2 + 2
    assert counted.by_module["Block"] == 2 * per_block
    assert counted.share(rows["head"].flops) == pytest.approx(42 / counted.total)
    assert not rows["b1.act"].exact and rows["b1.fc"].exact
