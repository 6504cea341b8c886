"""Attention and transformer blocks: causality, defaults of unconnected ports, agreement with
torch's reference modules, clear errors, and a small ViT compiled as a graph."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modstudio.blocks import default_catalog
from modstudio.blocks.tensors import ShapeError
from modstudio.blocks.tensors import TensorInfo as T
from modstudio.compile.graphnet import compile_project
from modstudio.compile.shapes import infer_shapes
from modstudio.graph.builder import ProjectBuilder


def build(block_id: str, inputs: dict, **params):
    spec = default_catalog()[block_id]
    return spec.make({**spec.defaults(), **params}, inputs).eval()


def shape_error(block_id: str, inputs: dict, **params) -> str:
    spec = default_catalog()[block_id]
    with pytest.raises(ShapeError) as info:
        spec.shape({**spec.defaults(), **params}, inputs)
    return str(info.value)


CAUSAL_BLOCKS = [
    ("self_attention", {}, "in"),
    ("multi_head_attention", {"num_heads": 2}, "query"),
    ("transformer_encoder_block", {"num_heads": 2}, "in"),
]


@pytest.mark.parametrize(("block_id", "params", "port"), CAUSAL_BLOCKS)
def test_causal_output_ignores_later_tokens(block_id, params, port):
    torch.manual_seed(0)
    m = build(block_id, {port: T((6, 8))}, causal=True, **params)
    x = torch.randn(2, 6, 8)
    changed = x.clone()
    changed[:, 4:] = torch.randn(2, 2, 8)
    a, b = m(x), m(changed)
    assert torch.allclose(a[:, :4], b[:, :4], atol=1e-6)
    assert not torch.allclose(a[:, 4:], b[:, 4:])


@pytest.mark.parametrize(("block_id", "params", "port"), CAUSAL_BLOCKS)
def test_without_causal_every_token_sees_later_ones(block_id, params, port):
    torch.manual_seed(0)
    m = build(block_id, {port: T((6, 8))}, **params)
    x = torch.randn(2, 6, 8)
    changed = x.clone()
    changed[:, 5] = torch.randn(2, 8)
    assert not torch.allclose(m(x)[:, 0], m(changed)[:, 0])


def test_unconnected_key_and_value_mean_self_attention():
    torch.manual_seed(0)
    m = build("multi_head_attention", {"query": T((5, 8))}, num_heads=2)
    q = torch.randn(3, 5, 8)
    assert torch.allclose(m(q), m(q, q, q))
    assert torch.allclose(m(q), m(q, None, None))


def test_unconnected_value_means_value_equals_key():
    torch.manual_seed(0)
    m = build("multi_head_attention", {"query": T((3, 8)), "key": T((7, 6))}, num_heads=2)
    q, k = torch.randn(2, 3, 8), torch.randn(2, 7, 6)
    assert m(q, k).shape == (2, 3, 8)
    assert torch.allclose(m(q, k), m(q, k, k))


def test_multi_head_attention_matches_torch():
    torch.manual_seed(0)
    m = build("multi_head_attention", {"query": T((5, 8)), "key": T((7, 8))}, num_heads=4)
    ref = nn.MultiheadAttention(8, 4, batch_first=True).eval()
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([m.q_proj.weight, m.k_proj.weight, m.v_proj.weight]))
        ref.in_proj_bias.copy_(torch.cat([m.q_proj.bias, m.k_proj.bias, m.v_proj.bias]))
        ref.out_proj.load_state_dict(m.out_proj.state_dict())
    q, k, v = torch.randn(2, 5, 8), torch.randn(2, 7, 8), torch.randn(2, 7, 8)
    assert torch.allclose(m(q, k, v), ref(q, k, v, need_weights=False)[0], atol=1e-5)


def test_self_attention_is_single_head_attention():
    torch.manual_seed(0)
    sa = build("self_attention", {"in": T((5, 8))})
    mha = build("multi_head_attention", {"query": T((5, 8))}, num_heads=1)
    wq, wk, wv = sa.qkv.weight.chunk(3)
    bq, bk, bv = sa.qkv.bias.chunk(3)
    with torch.no_grad():
        for proj, w, b in ((mha.q_proj, wq, bq), (mha.k_proj, wk, bk), (mha.v_proj, wv, bv)):
            proj.weight.copy_(w)
            proj.bias.copy_(b)
        mha.out_proj.load_state_dict(sa.proj.state_dict())
    x = torch.randn(3, 5, 8)
    assert torch.allclose(sa(x), mha(x), atol=1e-6)


def test_encoder_block_matches_torch_pre_norm_layer():
    torch.manual_seed(0)
    m = build("transformer_encoder_block", {"in": T((5, 8))}, num_heads=2, mlp_ratio=2.0)
    ref = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
    with torch.no_grad():
        ref.self_attn.in_proj_weight.copy_(m.attn.qkv.weight)
        ref.self_attn.in_proj_bias.copy_(m.attn.qkv.bias)
        ref.self_attn.out_proj.load_state_dict(m.attn.proj.state_dict())
        ref.linear1.load_state_dict(m.mlp.fc1.state_dict())
        ref.linear2.load_state_dict(m.mlp.fc2.state_dict())
        ref.norm1.load_state_dict(m.norm1.state_dict())
        ref.norm2.load_state_dict(m.norm2.state_dict())
    ref.eval()
    x = torch.randn(3, 5, 8)
    assert torch.allclose(m(x), ref(x), atol=1e-5)


def test_heads_must_divide_features():
    msg = shape_error("multi_head_attention", {"query": T((7, 30))}, num_heads=4)
    assert "30 features" in msg and "4 heads" in msg and "num_heads" in msg
    assert "[N, 7, 30]" in msg
    assert "5" in msg.split("use num_heads")[1]  # a working choice is suggested
    assert "4 heads" in shape_error("transformer_encoder_block", {"in": T((7, 30))}, num_heads=4)


def test_key_and_value_need_the_same_number_of_tokens():
    msg = shape_error("multi_head_attention", {"query": T((3, 8)), "key": T((5, 8)), "value": T((6, 8))})
    assert "same number of tokens" in msg and "5" in msg and "6" in msg


def test_causal_cross_attention_is_refused():
    msg = shape_error("multi_head_attention", {"query": T((3, 8)), "key": T((5, 8))}, causal=True)
    assert "causal" in msg and "3" in msg and "5" in msg


def test_images_into_attention_suggest_a_patch_embedding():
    msg = shape_error("self_attention", {"in": T((3, 32, 32))})
    assert "tokens [N, T, features]" in msg and "[N, 3, 32, 32]" in msg and "Patch Embedding" in msg
    msg = shape_error("multi_head_attention", {"query": T((5, 8)), "key": T((64,))})
    assert "'key'" in msg and "[N, 64]" in msg


def test_patch_size_must_divide_the_image():
    msg = shape_error("patch_embedding", {"in": T((3, 30, 32))}, patch_size=4)
    assert "height 30" in msg and "divisible by 4" in msg
    assert "2" in msg.split("divides both")[1]  # 2 divides 30 and 32
    msg = shape_error("patch_embedding", {"in": T((3, 32, 31))}, patch_size=4)
    assert "width 31" in msg and "resize or pad" in msg
    msg = shape_error("patch_embedding", {"in": T((8, 8))}, patch_size=4)
    assert "images [N, channels, height, width]" in msg


def test_class_token_comes_first_and_token_pool_reads_it():
    ct = build("class_token", {"in": T((4, 6))})
    x = torch.randn(2, 4, 6)
    y = ct(x)
    assert y.shape == (2, 5, 6)
    assert torch.equal(y[:, 1:], x)
    assert torch.equal(build("token_pool", {"in": T((5, 6))}, mode="first")(y), ct.token[0].expand(2, 6))
    assert torch.allclose(build("token_pool", {"in": T((4, 6))}, mode="mean")(x), x.mean(1))
    assert torch.equal(build("token_pool", {"in": T((4, 6))}, mode="last")(x), x[:, -1])


def test_positional_embedding_has_one_vector_per_position():
    m = build("positional_embedding", {"in": T((9, 6))})
    assert m.pos.shape == (1, 9, 6)
    x = torch.randn(2, 9, 6)
    assert torch.allclose(m(x) - x, m.pos.expand(2, -1, -1), atol=1e-6)


def _vit():
    pb = ProjectBuilder("vit-test")
    b = pb.module("main")
    x = b.input("image", [3, 16, 16])
    t = b.add("patch_embedding", "patches", x, patch_size=4, embed_dim=32)
    t = b.add("class_token", "cls", t)
    t = b.add("positional_embedding", "pos", t)
    for i in range(2):
        t = b.add("transformer_encoder_block", f"block{i}", t, num_heads=4, dropout=0.1)
    t = b.add("token_pool", "pool", t, mode="first")
    b.output("logits", b.add("linear", "head", t, out_features=10))
    return pb.project("vit")


def test_small_vit_compiles_and_trains():
    project = _vit()
    shapes = infer_shapes(project)
    assert shapes.ok
    net = compile_project(project)
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 10)
    net(torch.randn(2, 3, 16, 16)).square().mean().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_cross_attention_in_a_graph_with_value_unconnected():
    pb = ProjectBuilder("cross-test")
    b = pb.module("main")
    q = b.input("q", [4, 8])
    k = b.input("memory", [9, 6])
    a = b.add("multi_head_attention", "cross", q, port="query", num_heads=2)
    b.connect(k, a, "key")
    b.output("y", a)
    net = compile_project(pb.project("cross"))
    assert net(torch.randn(2, 4, 8), torch.randn(2, 9, 6)).shape == (2, 4, 8)


def test_wrong_heads_in_a_graph_names_the_node():
    pb = ProjectBuilder("heads-test")
    b = pb.module("main")
    x = b.input("x", [5, 10])
    b.output("y", b.add("transformer_encoder_block", "enc", x, num_heads=4))
    (problem,) = infer_shapes(pb.project("heads")).errors
    assert problem.message.startswith("Transformer Encoder Block 'enc' cannot split the 10 features")
