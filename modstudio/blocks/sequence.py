"""Recurrent blocks: RNN, GRU and LSTM over sequences [N, T, features] (batch first)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modstudio.graph.schema import ParamSpec

from .costs import recurrent_flops, tokens_of
from .importing import Convert, Mapped, NoBlock, lacks, rule
from .spec import BlockSpec, Inputs, Layer, Params, require_float, single
from .tensors import ShapeError, TensorInfo

_HINTS = {
    2: "add a Reshape before it, e.g. to [T, 1] for one feature per time step",
    4: "turn feature maps into a sequence first, e.g. Reshape to [C, H*W] then Permute [2, 1]",
}


def require_sequence(x: TensorInfo) -> None:
    """Raise a readable ShapeError unless ``x`` is a float sequence [N, T, features]."""
    require_float(x)
    if x.rank != 3:
        hint = _HINTS.get(x.rank, "add a Reshape before it")
        raise ShapeError(f"expects a sequence [N, T, features] but receives {x}; {hint}")


def _recurrent_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    require_sequence(x)
    width = params["hidden_size"] * (2 if params["bidirectional"] else 1)
    if params["output"] == "last":
        return (TensorInfo((width,)),)
    return (TensorInfo((x.shape[0], width)),)


def _in_rnn(state: Mapping[str, Any]) -> dict[str, Any]:
    """torch's weights live in the block layer's ``rnn``."""
    return {"rnn." + key: value for key, value in state.items()}


def _import_torch_recurrent(m: Any) -> Mapped | NoBlock:
    if not m.batch_first or not m.bias or getattr(m, "proj_size", 0):
        return NoBlock("batch_first=False, bias=False or proj_size (the block reads [N, T, features] with biases)")
    params: dict[str, Any] = {
        "hidden_size": m.hidden_size,
        "num_layers": m.num_layers,
        "bidirectional": m.bidirectional,
        "dropout": m.dropout,
        "output": "sequence",
    }
    if m.mode.startswith("RNN_"):
        params["nonlinearity"] = m.nonlinearity
    return Mapped(params, weights=_in_rnn)


def _import_recurrent(kind: str) -> Convert:
    """torch's RNN/GRU/LSTM of that kind, or ModStudio's Recurrent layer holding one."""

    def convert(m: Any) -> Mapped | NoBlock:
        rnn = getattr(m, "rnn", m)
        if type(rnn).__name__ != kind:
            return NoBlock(f"is a {type(rnn).__name__}, not a {kind}")
        if rnn is m:
            return _import_torch_recurrent(m)
        why = lacks(m, "last", "hidden_size", "bidirectional")
        mapped = why or _import_torch_recurrent(rnn)
        if isinstance(mapped, NoBlock):
            return mapped
        return Mapped({**mapped.params, "output": "last" if m.last else "sequence"})

    return convert


def _recurrent(block_id: str, title: str, doc: str, extra: tuple[ParamSpec, ...] = ()) -> BlockSpec:
    def arguments(params: Params, inputs: Inputs) -> dict:
        return {
            "kind": block_id,
            "input_size": single(inputs).shape[-1],
            "hidden_size": params["hidden_size"],
            "num_layers": params["num_layers"],
            "bidirectional": params["bidirectional"],
            "dropout": params["dropout"],
            "last": params["output"] == "last",
            "nonlinearity": params.get("nonlinearity", "tanh"),
        }

    def flops(params: Params, inputs: Inputs, outputs) -> int:
        steps, features = tokens_of(single(inputs))
        directions = 2 if params["bidirectional"] else 1
        return recurrent_flops(block_id, steps, features, params["hidden_size"], params["num_layers"], directions)

    return BlockSpec(
        id=block_id,
        title=title,
        category="Sequence",
        doc=doc,
        params=(
            ParamSpec("hidden_size", "int", 64, "size of the hidden state per direction", min=1, max=100_000),
            ParamSpec("num_layers", "int", 1, "number of stacked recurrent layers", min=1, max=64),
            ParamSpec("bidirectional", "bool", False, "also read the sequence backwards; doubles the output size"),
            ParamSpec(
                "dropout",
                "float",
                0.0,
                "dropout between stacked layers (no effect with one layer)",
                min=0.0,
                max=1.0,
                max_exclusive=True,
            ),
            ParamSpec(
                "output",
                "choice",
                "sequence",
                "'sequence': the output at every step [N, T, H]; 'last': the final state [N, H]",
                choices=("sequence", "last"),
            ),
            *extra,
        ),
        shape=_recurrent_shape,
        layer=Layer("modstudio.blocks.layers.sequence.Recurrent", arguments),
        importer=rule((f"torch.nn.{title}", "*.Recurrent"), _import_recurrent(title), returns=0),
        flops=flops,
    )


_OUTPUT_DOC = (
    "The input size is taken from what is connected. With output 'sequence' it gives the "
    "output at every step [N, T, hidden_size]; with 'last' it gives the final state of the "
    "last layer [N, hidden_size], ready for a classifier. Bidirectional doubles the size: "
    "the forward direction's final state (after the last step) followed by the backward "
    "direction's (after the first step)."
)

SPECS = (
    _recurrent(
        "rnn",
        "RNN",
        "A plain (Elman) recurrent network over a sequence [N, T, features]: one small module "
        "reused at every time step, carrying a hidden state forward. Cheap, but it forgets over "
        "long sequences; prefer GRU or LSTM beyond a few dozen steps. " + _OUTPUT_DOC,
        (ParamSpec("nonlinearity", "choice", "tanh", "non-linearity of the recurrent step", choices=("tanh", "relu")),),
    ),
    _recurrent(
        "gru",
        "GRU",
        "A gated recurrent unit over a sequence [N, T, features]: the same gated module is "
        "reused at every time step, with update and reset gates that decide what to keep. "
        "Nearly as good as an LSTM at long-range memory with fewer parameters. " + _OUTPUT_DOC,
    ),
    _recurrent(
        "lstm",
        "LSTM",
        "A long short-term memory network over a sequence [N, T, features]: one gated cell "
        "reused at every time step, with a separate memory cell guarded by input, forget and "
        "output gates, so it remembers over long sequences. The standard recurrent choice for "
        "time series and text. " + _OUTPUT_DOC,
    ),
)
