"""FLOP rules shared by the block specs (no torch): FLOPs per sample from the inferred shapes.

Conventions: one multiply-add counts as 2 FLOPs; a bias add as 1 per output element. Counts
are exact for the multiply-adds of Linear, Conv1d/2d (groups included), depthwise-separable
and transposed convolutions, locally connected layers, attention (projections, scores and
the weighted sum) and RNN/GRU/LSTM gates; element-wise work is approximate (a spec marks its
rule ``flops_exact=False``): activations 1 FLOP per element, softmax 3 per element, batch norm
2, layer/group norm 5, RMS norm 4, pooling one per window element; reshapes, concatenation, dropout
and embedding lookups count 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from .spec import FlopRule, Inputs, Params
from .tensors import TensorInfo


def numel(info: TensorInfo) -> int:
    return math.prod(info.shape)


def product(values: tuple) -> int:
    """The product of shape entries with ``*`` alone (no ``math.prod``), so that constructor
    arguments stay plain arithmetic that exported code can print as an expression."""
    total = values[0]
    for value in values[1:]:
        total = total * value
    return total


def first(inputs: Inputs, port: str = "in") -> TensorInfo:
    value = inputs[port]
    return value[0] if isinstance(value, list) else value


def bias(params: Params, out: TensorInfo) -> int:
    return numel(out) if params.get("bias", True) else 0


def linear_flops(in_features: int, out_features: int, tokens: int = 1, bias: bool = True) -> int:
    return tokens * (2 * in_features * out_features + (out_features if bias else 0))


def conv_flops(in_channels: int, out_channels: int, kernel: int, out_sizes: tuple[int, ...], groups: int = 1) -> int:
    """Multiply-adds of a convolution (no bias): every output element sums Cin/groups x k^d products."""
    return 2 * (in_channels // groups) * kernel ** len(out_sizes) * out_channels * math.prod(out_sizes)


def attention_flops(tq: int, tk: int, dim: int, key_dim: int, value_dim: int, heads: int) -> int:
    """Projections (with biases), scores q·k, softmax over the scores, weighted sum, output projection."""
    projections = linear_flops(dim, dim, tq) + linear_flops(key_dim, dim, tk) + linear_flops(value_dim, dim, tk)
    scores = 2 * tq * tk * dim
    softmax = 3 * heads * tq * tk
    mixing = 2 * tq * tk * dim
    return projections + scores + softmax + mixing + linear_flops(dim, dim, tq)


def recurrent_flops(kind: str, steps: int, features: int, hidden: int, layers: int, directions: int) -> int:
    """Per step, per layer and direction: gates W_ih x + W_hh h (two biases), plus the gate arithmetic."""
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[kind]
    pointwise = {"rnn": 1, "gru": 6, "lstm": 9}[kind] * hidden  # non-linearities and state updates
    total = 0
    for layer in range(layers):
        width = features if layer == 0 else hidden * directions
        per_step = 2 * gates * hidden * (width + hidden) + 2 * gates * hidden + pointwise
        total += directions * steps * per_step
    return total


def tokens_of(x: TensorInfo) -> tuple[int, int]:
    """(tokens, features): [T, D] -> (T, D), [D] -> (1, D)."""
    return (x.shape[0], x.shape[1]) if len(x.shape) == 2 else (1, x.shape[-1])


def per_element(factor: float, port: str = "out") -> FlopRule:
    """``factor`` FLOPs per element of the output on ``port`` (of the input where there is none)."""

    def rule(params: Params, inputs: Inputs, outputs: Mapping[str, TensorInfo]) -> int:
        return round(factor * numel(outputs[port] if port in outputs else first(inputs)))

    return rule


def per_input_element(factor: float) -> FlopRule:
    def rule(params: Params, inputs: Inputs, outputs: Mapping[str, TensorInfo]) -> int:
        return round(factor * numel(first(inputs)))

    return rule


def zero(params: Params, inputs: Inputs, outputs: Mapping[str, TensorInfo]) -> int:
    """Reshapes, concatenation, dropout, lookups: no arithmetic."""
    return 0
