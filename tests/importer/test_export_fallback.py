"""Where torch.fx cannot follow a forward (control flow on sizes), torch.export traces that module
at the same level, and its aten ops map with the same rules."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

from modstudio.importer.api import import_model
from modstudio.importer.errors import NotMappable

from .conftest import compiled, difference, parameters


class Block(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] == self.fc.in_features:  # torch.fx cannot follow this
            x = torch.cat([self.act(self.fc(x)) + x, x.permute(0, 2, 1).transpose(1, 2)], dim=1)
        return x[:, 0]


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = Block(8)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(x))


class Ranked(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > 0:
            return torch.topk(x, 2, dim=-1).values
        return x


def test_a_module_fx_cannot_trace_is_exported_at_its_level() -> None:
    torch.manual_seed(0)
    model = Net().eval()
    imported = import_model(model, input_shape=(1, 4, 8))
    block = imported.project.modules["Block"]
    assert {n.block for n in block.nodes} >= {"linear", "relu", "add", "concat", "token_pool"}
    net = compiled(imported)
    assert parameters(net) == parameters(model)
    assert difference(model, net, torch.randn(3, 4, 8)) <= 1e-5


def test_an_exported_op_without_a_block_is_named_with_its_line() -> None:
    with pytest.raises(NotMappable) as caught:
        import_model(Ranked(), input_shape=(1, 5))
    lines, first = inspect.getsourcelines(Ranked.forward)
    line = first + next(i for i, text in enumerate(lines) if "topk" in text)
    assert f"torch.ops.aten.topk at test_export_fallback.py:{line} has no block" in str(caught.value)
