"""Example inputs for the sequence and attention blocks: (params, inputs) pairs checked by test_catalog."""

from modstudio.blocks.tensors import TensorInfo as T

_RECURRENT_CASES = [
    ({"hidden_size": 8}, {"in": T((5, 3))}),
    ({"hidden_size": 6, "output": "last"}, {"in": T((4, 3))}),
    ({"hidden_size": 5, "bidirectional": True}, {"in": T((4, 2))}),
    ({"hidden_size": 5, "bidirectional": True, "output": "last"}, {"in": T((4, 2))}),
    ({"hidden_size": 4, "num_layers": 2, "dropout": 0.2, "bidirectional": True, "output": "last"}, {"in": T((6, 3))}),
    ({"hidden_size": 4, "num_layers": 3, "dropout": 0.5}, {"in": T((1, 7))}),
]

EXAMPLES = {
    "rnn": [*_RECURRENT_CASES, ({"hidden_size": 4, "nonlinearity": "relu", "output": "last"}, {"in": T((5, 2))})],
    "gru": _RECURRENT_CASES,
    "lstm": _RECURRENT_CASES,
    "self_attention": [({}, {"in": T((5, 8))}), ({"causal": True, "dropout": 0.1}, {"in": T((4, 6))})],
    "multi_head_attention": [
        ({"num_heads": 2}, {"query": T((5, 8))}),
        ({"num_heads": 4, "causal": True}, {"query": T((6, 8))}),
        ({"num_heads": 2, "dropout": 0.1}, {"query": T((5, 8)), "key": T((7, 8)), "value": T((7, 8))}),
        ({"num_heads": 2}, {"query": T((5, 8)), "key": T((7, 6)), "value": T((7, 10))}),
        ({"num_heads": 1}, {"query": T((3, 4)), "key": T((6, 5))}),
        ({"num_heads": 2}, {"query": T((3, 4)), "value": T((3, 6))}),
    ],
    "transformer_encoder_block": [
        ({"num_heads": 2}, {"in": T((5, 8))}),
        ({"num_heads": 4, "mlp_ratio": 2.0, "dropout": 0.1, "causal": True}, {"in": T((3, 16))}),
    ],
    "patch_embedding": [
        ({"patch_size": 4, "embed_dim": 16}, {"in": T((3, 8, 12))}),
        ({"patch_size": 7, "embed_dim": 8}, {"in": T((1, 28, 28))}),
    ],
    "positional_embedding": [({}, {"in": T((5, 8))})],
    "class_token": [({}, {"in": T((4, 6))})],
    "token_pool": [
        ({"mode": "first"}, {"in": T((4, 6))}),
        ({"mode": "mean"}, {"in": T((4, 6))}),
        ({"mode": "last"}, {"in": T((4, 6))}),
    ],
}
