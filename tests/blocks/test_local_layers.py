"""Locally connected layers against slow, obviously correct references."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from modstudio.blocks import ShapeError, default_catalog
from modstudio.blocks.layers.local import LocallyConnected2d, LowRankLocallyConnected2d
from modstudio.blocks.tensors import TensorInfo as T


def slow_locally_connected(x: torch.Tensor, kernels: torch.Tensor, stride: int, padding: int) -> torch.Tensor:
    """Explicit loops: output (i, j) = sum of kernels[i, j] (an [O, C, k, k] bank) times the window at (i, j)."""
    out_h, out_w, out_channels, _, k, _ = kernels.shape
    x = F.pad(x, (padding,) * 4)
    out = torch.zeros(x.shape[0], out_channels, out_h, out_w, dtype=x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, :, i * stride : i * stride + k, j * stride : j * stride + k]  # [N, C, k, k]
            for o in range(out_channels):
                out[:, o, i, j] = (window * kernels[i, j, o]).sum(dim=(1, 2, 3))
    return out


@pytest.mark.parametrize(("kernel", "stride", "padding"), [(3, 1, 1), (2, 2, 0), (3, 2, 1)])
def test_locally_connected_matches_explicit_loops(kernel, stride, padding):
    torch.manual_seed(0)
    layer = LocallyConnected2d(2, 3, (5, 6), kernel, stride=stride, padding=padding).double()
    x = torch.randn(2, 2, 5, 6, dtype=torch.double)
    out_h, out_w = layer.output_size
    kernels = layer.weight.detach().reshape(out_h, out_w, 3, 2, kernel, kernel)
    want = slow_locally_connected(x, kernels, stride, padding) + layer.bias.detach()
    assert torch.allclose(layer(x), want)


def test_locally_connected_weights_are_untied():
    torch.manual_seed(0)
    layer = LocallyConnected2d(1, 1, (4, 4), 3, padding=1, bias=False)
    x = torch.ones(1, 1, 4, 4)
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[5] = 1.0  # only position (1, 1) of the 4x4 output has a filter
    out = layer(x)
    assert out[0, 0, 1, 1] == 9.0 and out.sum() == 9.0


def test_low_rank_with_rank_one_is_a_convolution():
    torch.manual_seed(0)
    layer = LowRankLocallyConnected2d(2, 3, (6, 5), 3, rank=1, stride=2, padding=1)
    with torch.no_grad():
        layer.row_logits.normal_()  # softmax over one kernel is 1 whatever the logits
        layer.bias.normal_()
    x = torch.randn(2, 2, 6, 5)
    want = F.conv2d(x, layer.bases.weight, layer.bias.flatten(), stride=2, padding=1) + layer.spatial_bias
    assert torch.allclose(layer(x), want, atol=1e-6)


def test_low_rank_equals_a_locally_connected_layer_with_mixed_kernels():
    torch.manual_seed(0)
    rank, out_channels = 3, 2
    layer = LowRankLocallyConnected2d(2, out_channels, (5, 4), 3, rank=rank, padding=1, bias=False).double()
    with torch.no_grad():
        layer.row_logits.normal_()
        layer.col_logits.normal_()
    x = torch.randn(2, 2, 5, 4, dtype=torch.double)
    w = layer.combining_weights().detach()  # [rank, out_h, out_w]
    assert torch.allclose(w.sum(dim=0), torch.ones_like(w[0]))
    bases = layer.bases.weight.detach().reshape(rank, out_channels, 2, 3, 3)
    kernels = torch.einsum("rhw,rocij->hwocij", w, bases)  # the kernel at each position
    assert torch.allclose(layer(x), slow_locally_connected(x, kernels, 1, 1))


def test_low_rank_starts_as_the_averaged_convolution():
    layer = LowRankLocallyConnected2d(1, 1, (4, 4), 3, rank=4, padding=1)
    assert torch.allclose(layer.combining_weights(), torch.full((4, 4, 4), 0.25))


@pytest.mark.parametrize("layer_type", [LocallyConnected2d, LowRankLocallyConnected2d])
def test_local_layers_export_and_build_without_memory(layer_type):
    extra = {"rank": 2} if layer_type is LowRankLocallyConnected2d else {}
    layer = layer_type(2, 3, (5, 5), 3, padding=1, **extra)
    x = torch.randn(1, 2, 5, 5)
    exported = torch.export.export(layer, (x,)).module()
    assert torch.allclose(exported(x), layer(x))
    with torch.device("meta"):
        meta = layer_type(64, 64, (32, 32), 3, **extra)
    assert all(p.is_meta for p in meta.parameters())


def test_local_block_shapes_and_errors():
    spec = default_catalog()["locally_connected2d"]
    params = {**spec.defaults(), "out_channels": 8}
    assert spec.shape(params, {"in": T((3, 10, 10))}) == (T((8, 10, 10)),)
    assert spec.make(params, {"in": T((3, 10, 10))}).weight.shape == (100, 8, 27)
    with pytest.raises(ShapeError, match="Reshape"):
        spec.shape(params, {"in": T((300,))})
    with pytest.raises(ShapeError, match="kernel 7 cannot slide over a 3x3 input"):
        spec.shape({**params, "kernel_size": 7, "padding": 0}, {"in": T((3, 3, 3))})
