"""Recurrent layers with one output tensor (the block has a single output port)."""

from __future__ import annotations

import torch
from torch import nn


class Recurrent(nn.Module):
    """A batch-first RNN, GRU or LSTM that returns the whole output sequence
    [N, T, H*dirs] or, with ``last=True``, the final state of the last layer [N, H*dirs].

    For a bidirectional layer the final state is the forward direction's state after the
    last step followed by the backward direction's state after the first step, the same
    values as ``h_n`` of the last layer (for an LSTM: its hidden state, not the cell).
    The wrapped torch module is ``self.rnn``.
    """

    def __init__(
        self,
        kind: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        last: bool = False,
        nonlinearity: str = "tanh",
    ) -> None:
        super().__init__()
        extra = {"nonlinearity": nonlinearity} if kind == "rnn" else {}
        kinds = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
        self.rnn = kinds[kind](
            input_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,  # torch warns: it only acts between layers
            **extra,
        )
        self.hidden_size = hidden_size
        self.bidirectional = bidirectional
        self.last = last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rnn(x)[0]
        if not self.last:
            return out
        if self.bidirectional:
            h = self.hidden_size
            return torch.cat([out[:, -1, :h], out[:, 0, h:]], dim=-1)
        return out[:, -1]

    def extra_repr(self) -> str:
        return f"output={'last' if self.last else 'sequence'}"
