"""Convolution and pooling blocks: the shape rule matches torch everywhere, and errors read well."""

from __future__ import annotations

import itertools

import pytest
import torch

from modstudio.blocks import ShapeError, default_catalog
from modstudio.blocks.tensors import TensorInfo as T


def shape_of(block_id: str, info: T, **params) -> T:
    spec = default_catalog()[block_id]
    return spec.shape({**spec.defaults(), **params}, {"in": info})[0]


def message(block_id: str, info: T, **params) -> str:
    with pytest.raises(ShapeError) as caught:
        shape_of(block_id, info, **params)
    return str(caught.value)


def agrees_with_torch(block_id: str, info: T, **params) -> None:
    """The rule raises exactly when torch does, and otherwise predicts torch's output shape."""
    spec = default_catalog()[block_id]
    full = {**spec.defaults(), **params}
    try:
        predicted = spec.shape(full, {"in": info})[0].shape
    except ShapeError:
        predicted = None
    try:
        with torch.no_grad():
            actual = tuple(spec.make(full, {"in": info})(torch.zeros(1, *info.shape)).shape[1:])
    except RuntimeError:
        actual = None
    assert predicted == actual, (block_id, info, params)


@pytest.mark.parametrize("block_id", ["conv1d", "conv2d"])
def test_conv_rule_matches_torch_for_every_setting(block_id):
    for size, kernel, stride, padding, dilation in itertools.product(
        (1, 2, 3, 4, 6), (1, 2, 3, 4), (1, 2, 3), (None, 0, 1, 2), (1, 2)
    ):
        info = T((2, size)) if block_id == "conv1d" else T((2, size, size + 1))
        params = {"kernel_size": kernel, "stride": stride, "padding": padding, "dilation": dilation}
        agrees_with_torch(block_id, info, out_channels=3, **params)


def test_transposed_conv_rule_matches_torch_for_every_setting():
    for size, kernel, stride, padding, extra, dilation in itertools.product(
        range(1, 5), (1, 2, 3), (1, 2, 3), (0, 1, 2), (0, 1, 2), (1, 2)
    ):
        params = {"kernel_size": kernel, "stride": stride, "padding": padding, "output_padding": extra}
        agrees_with_torch("conv_transpose2d", T((2, size, size + 2)), out_channels=2, dilation=dilation, **params)


@pytest.mark.parametrize("block_id", ["max_pool2d", "avg_pool2d"])
def test_pool_rule_matches_torch_for_every_setting(block_id):
    for size, kernel, stride, padding in itertools.product(range(1, 7), (1, 2, 3, 4), (None, 1, 2, 3), (0, 1, 2)):
        agrees_with_torch(block_id, T((2, size, size + 1)), kernel_size=kernel, stride=stride, padding=padding)


def test_max_pool_ceil_mode_rule_matches_torch_for_every_setting():
    for size, kernel, stride, padding in itertools.product(range(1, 10), (1, 2, 3, 4), (None, 1, 2, 3), (0, 1, 2)):
        params = {"kernel_size": kernel, "stride": stride, "padding": padding, "ceil_mode": True}
        agrees_with_torch("max_pool2d", T((2, size, size + 1)), **params)


def test_ceil_mode_keeps_the_last_partial_window():
    # torchvision's SqueezeNet: 3x3 windows at stride 2 over 56 pixels give 28 rounded up, 27 down
    assert shape_of("max_pool2d", T((64, 56, 56)), kernel_size=3, stride=2, ceil_mode=True) == T((64, 28, 28))
    assert shape_of("max_pool2d", T((64, 56, 56)), kernel_size=3, stride=2) == T((64, 27, 27))


def test_unset_padding_keeps_the_size_at_stride_one():
    assert shape_of("conv2d", T((3, 28, 28)), out_channels=16, kernel_size=5) == T((16, 28, 28))
    assert shape_of("conv2d", T((3, 28, 28)), out_channels=16, kernel_size=3, dilation=2) == T((16, 28, 28))
    assert shape_of("conv2d", T((3, 28, 28)), out_channels=8, stride=2) == T((8, 14, 14))
    assert shape_of("conv1d", T((4, 50)), out_channels=8, kernel_size=7) == T((8, 50))


def test_kernel_larger_than_the_image_names_kernel_and_size():
    text = message("conv2d", T((8, 3, 3)), kernel_size=5, padding=0)
    assert "kernel 5" in text and "3x3" in text and "smaller kernel_size" in text
    text = message("conv1d", T((8, 3)), kernel_size=3, dilation=2, padding=0)
    assert "length 3" in text and "dilation 2" in text and "spanning 5" in text
    assert "window 2" in message("max_pool2d", T((8, 1, 1)))


def test_flat_input_to_conv2d_suggests_a_reshape():
    text = message("conv2d", T((784,)))
    assert "[N, channels, height, width]" in text and "[N, 784]" in text
    assert "Reshape" in text and "[1, 28, 28]" in text
    assert "Reshape" in message("max_pool2d", T((10,)))


def test_sequence_to_conv2d_points_to_conv1d():
    text = message("conv2d", T((16, 100)))
    assert "Conv1d" in text and "[1, 16, 100]" in text


def test_wrong_rank_for_conv1d():
    assert "Reshape to [1, 64]" in message("conv1d", T((64,)))
    assert "Conv2d" in message("conv1d", T((3, 8, 8)))


def test_indices_into_a_convolution_suggest_an_embedding():
    assert "Embedding" in message("conv2d", T((3, 8, 8), "long"))
    assert "Embedding" in message("conv1d", T((10,), "long"))


def test_groups_must_divide_both_channel_counts():
    text = message("group_conv2d", T((6, 8, 8)), out_channels=8, groups=4)
    assert "divisible" in text and "6" in text and "4" in text
    assert "groups 1, 2" in text  # the common divisors of 6 and 8
    text = message("group_conv2d", T((8, 8, 8)), out_channels=6, groups=4)
    assert "6 out_channels" in text


def test_group_conv_and_separable_conv_weights():
    spec = default_catalog()["group_conv2d"]
    conv = spec.make({**spec.defaults(), "out_channels": 8, "groups": 4}, {"in": T((8, 5, 5))})
    assert conv.weight.shape == (8, 2, 3, 3)
    spec = default_catalog()["depthwise_separable_conv2d"]
    block = spec.make({**spec.defaults(), "out_channels": 16}, {"in": T((4, 5, 5))})
    assert block.depthwise.weight.shape == (4, 1, 3, 3) and block.depthwise.groups == 4
    assert block.pointwise.weight.shape == (16, 4, 1, 1)


def test_transposed_conv_upsamples_and_checks_output_padding():
    assert shape_of("conv_transpose2d", T((8, 7, 7)), out_channels=4) == T((4, 14, 14))
    text = message("conv_transpose2d", T((8, 7, 7)), stride=2, output_padding=2)
    assert "output_padding 2" in text and "stride (2)" in text
    assert "less padding" in message("conv_transpose2d", T((8, 1, 1)), kernel_size=1, stride=1, padding=1)


def test_pooling_padding_at_most_half_the_window():
    text = message("max_pool2d", T((3, 8, 8)), kernel_size=2, padding=2)
    assert "padding 2" in text and "0 to 1" in text


def test_pooling_stride_defaults_to_the_window():
    assert shape_of("max_pool2d", T((3, 9, 8)), kernel_size=3) == T((3, 3, 2))
    assert shape_of("avg_pool2d", T((3, 9, 8)), kernel_size=3, stride=1) == T((3, 7, 6))


def test_global_and_adaptive_pooling():
    assert shape_of("global_avg_pool", T((64, 7, 5))) == T((64,))
    assert shape_of("adaptive_avg_pool2d", T((64, 13, 9)), height=2, width=3) == T((64, 2, 3))
    text = message("global_avg_pool", T((64, 10)))
    assert "[N, channels, height, width]" in text and "[N, 64, 10]" in text
    spec = default_catalog()["global_avg_pool"]
    x = torch.randn(2, 3, 4, 5)
    assert torch.allclose(spec.make({}, {"in": T((3, 4, 5))})(x), x.mean(dim=(2, 3)), atol=1e-6)


def small_cnn(image: list[int], first_kernel: int = 3):
    from modstudio.graph.builder import ProjectBuilder

    pb = ProjectBuilder("cnn")
    b = pb.module("main")
    h = b.add("conv2d", "c", b.input("x", image), out_channels=8, kernel_size=first_kernel, padding=0)
    h = b.add("relu", "act", b.add("batch_norm2d", "bn", h))
    h = b.add("max_pool2d", "pool", h)
    h = b.add("depthwise_separable_conv2d", "sep", h, out_channels=12)
    h = b.add("low_rank_locally_connected2d", "lrlc", h, out_channels=12, rank=2)
    h = b.add("global_avg_pool", "gap", b.add("group_norm", "gn", h, num_groups=4))
    b.output("y", b.add("linear", "head", b.add("dropout", "drop", h, p=0.1), out_features=3), task="classification")
    return pb.project("cnn")


def test_a_small_cnn_compiles_and_trains():
    from modstudio.compile.graphnet import GraphNet
    from modstudio.compile.shapes import infer_shapes

    project = small_cnn([1, 12, 12])
    shapes = infer_shapes(project)
    assert shapes.ok, shapes.errors
    net = GraphNet(project)
    out = net(torch.randn(4, 1, 12, 12))
    assert out.shape == (4, 3)
    out.square().mean().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_the_canvas_sentence_names_the_node_kernel_and_image():
    from modstudio.compile.shapes import infer_shapes

    shapes = infer_shapes(small_cnn([1, 3, 3], first_kernel=5))
    assert shapes.errors[0].message.startswith("Conv2d 'c' with kernel 5 cannot slide over a 3x3 input; ")
