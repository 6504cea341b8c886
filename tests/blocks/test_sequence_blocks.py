"""Recurrent blocks: what 'last' means, parameter names, errors, and use inside a graph."""

from __future__ import annotations

import warnings

import pytest
import torch

from modstudio.blocks import default_catalog
from modstudio.blocks.tensors import ShapeError
from modstudio.blocks.tensors import TensorInfo as T
from modstudio.compile.graphnet import compile_project
from modstudio.graph.builder import ProjectBuilder


def build(block_id: str, x: T, **params):
    spec = default_catalog()[block_id]
    full = {**spec.defaults(), **params}
    return spec.make(full, {"in": x}).eval()


def shape_error(block_id: str, x: T, **params) -> str:
    spec = default_catalog()[block_id]
    with pytest.raises(ShapeError) as info:
        spec.shape({**spec.defaults(), **params}, {"in": x})
    return str(info.value)


@pytest.mark.parametrize("block_id", ["rnn", "gru", "lstm"])
def test_last_is_the_last_step_of_the_sequence(block_id):
    torch.manual_seed(0)
    seq = build(block_id, T((6, 3)), hidden_size=5, num_layers=2)
    last = build(block_id, T((6, 3)), hidden_size=5, num_layers=2, output="last")
    last.load_state_dict(seq.state_dict())
    x = torch.randn(4, 6, 3)
    assert torch.allclose(last(x), seq(x)[:, -1])


@pytest.mark.parametrize("block_id", ["rnn", "gru", "lstm"])
def test_bidirectional_last_is_both_final_states_of_the_top_layer(block_id):
    torch.manual_seed(0)
    m = build(block_id, T((6, 3)), hidden_size=5, num_layers=2, bidirectional=True, output="last")
    x = torch.randn(4, 6, 3)
    _, h_n = m.rnn(x)
    h_n = h_n[0] if block_id == "lstm" else h_n  # an LSTM returns (h_n, c_n)
    expected = torch.cat([h_n[-2], h_n[-1]], dim=-1)  # top layer: forward, then backward
    assert m(x).shape == (4, 10)
    assert torch.allclose(m(x), expected, atol=1e-6)


def test_parameter_names_follow_torch():
    m = build("lstm", T((6, 3)), hidden_size=5, bidirectional=True)
    names = {name for name, _ in m.named_parameters()}
    assert {"rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.weight_ih_l0_reverse"} <= names


def test_rnn_nonlinearity_is_used():
    assert build("rnn", T((6, 3)), nonlinearity="relu").rnn.nonlinearity == "relu"


def test_dropout_with_one_layer_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = build("gru", T((6, 3)), dropout=0.3)
    assert m.rnn.dropout == 0.0
    assert build("gru", T((6, 3)), dropout=0.3, num_layers=2).rnn.dropout == 0.3


def test_flat_input_is_refused_with_a_fix():
    msg = shape_error("lstm", T((64,)))
    assert "sequence [N, T, features]" in msg
    assert "[N, 64]" in msg
    assert "Reshape" in msg


def test_images_are_refused_with_a_fix():
    msg = shape_error("gru", T((3, 8, 8)))
    assert "[N, 3, 8, 8]" in msg
    assert "Permute" in msg


def test_token_ids_need_an_embedding():
    msg = shape_error("rnn", T((10,), "long"))
    assert "Embedding" in msg


def test_sequence_classifier_trains_in_a_graph():
    pb = ProjectBuilder("seq-test")
    b = pb.module("main")
    x = b.input("x", [12, 3])
    h = b.add("lstm", "lstm1", x, hidden_size=8, num_layers=2, bidirectional=True, output="last")
    y = b.add("linear", "head", h, out_features=4)
    b.output("y", y)
    net = compile_project(pb.project("seq"))
    assert "lstm1.rnn.weight_ih_l0" in dict(net.named_parameters())
    out = net(torch.randn(5, 12, 3))
    assert out.shape == (5, 4)
    out.square().mean().backward()
    assert all(p.grad is not None for p in net.parameters())
