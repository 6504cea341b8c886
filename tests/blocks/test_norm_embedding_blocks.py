"""Normalization, Dropout and Embedding blocks: what they accept, and what they say otherwise."""

from __future__ import annotations

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


def test_batch_norm_picks_the_right_variant():
    assert shape_of("batch_norm1d", T((16,))) == T((16,))
    assert shape_of("batch_norm1d", T((16, 20))) == T((16, 20))
    assert "BatchNorm2d" in message("batch_norm1d", T((3, 8, 8)))
    assert "BatchNorm1d" in message("batch_norm2d", T((16,)))
    assert "Embedding" in message("batch_norm2d", T((3, 8, 8), "long"))


def test_norm_layers_take_sizes_from_the_input():
    catalog = default_catalog()
    spec = catalog["batch_norm2d"]
    assert spec.make(spec.defaults(), {"in": T((12, 4, 4))}).num_features == 12
    spec = catalog["layer_norm"]
    assert spec.make(spec.defaults(), {"in": T((6, 10))}).normalized_shape == (10,)
    spec = catalog["group_norm"]
    norm = spec.make({**spec.defaults(), "num_groups": 4}, {"in": T((12, 3, 3))})
    assert (norm.num_groups, norm.num_channels) == (4, 12)


def test_group_norm_channels_must_be_divisible():
    text = message("group_norm", T((12, 4, 4)), num_groups=8)
    assert "12" in text and "8" in text and "divisible" in text
    assert "1, 2, 3, 4, 6, 12" in text


def test_layer_norm_normalises_each_token():
    spec = default_catalog()["layer_norm"]
    norm = spec.make(spec.defaults(), {"in": T((5, 8))})
    out = norm(torch.randn(2, 5, 8) * 3 + 1)
    assert torch.allclose(out.mean(dim=-1), torch.zeros(2, 5), atol=1e-5)


def test_dropout_rejects_dropping_everything():
    p = default_catalog()["dropout"].param("p")
    assert p.check(1.0) == "must be < 1, not 1"
    assert p.check(0.99) is None
    assert default_catalog()["dropout"].category == "Regularization"


def test_embedding_adds_a_vector_dimension():
    assert shape_of("embedding", T((12,), "long"), embedding_dim=32) == T((12, 32))
    assert shape_of("embedding", T((), "long"), embedding_dim=8) == T((8,))


def test_embedding_needs_indices():
    text = message("embedding", T((12,)))
    assert "indices" in text and "long" in text and "[N, 12]" in text and "Linear" in text
