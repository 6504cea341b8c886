"""Functional ops and tensor methods become blocks, and the project computes what they compute."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from modstudio.importer.api import import_model
from modstudio.importer.errors import NotMappable

from .conftest import compiled, difference


class Mapped(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, padding=1)
        self.proj = nn.Linear(8, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.conv(x))
        y = torch.cat([y, torch.sigmoid(y)], dim=1)  # [N, 16, 6, 6]
        y = F.max_pool2d(y, 2) + F.avg_pool2d(y, 2)  # [N, 16, 3, 3]
        t = y.flatten(2).transpose(1, 2)  # tokens [N, 9, 16]
        t = t.view(t.size(0), 9, 2, 8).permute(0, 1, 3, 2).reshape(t.shape[0], 9, 16)
        t = t.reshape(t.shape[0], 18, 8)
        t = F.gelu(self.proj(t)) * torch.tanh(t) + F.silu(t)
        t = F.dropout(F.softmax(t, dim=-1), p=0.1, training=self.training)
        pooled = t.mean(dim=1)  # [N, 8]
        return self.head(torch.flatten(pooled, 1))


def test_functional_ops_and_methods_become_blocks_that_compute_the_same() -> None:
    torch.manual_seed(0)
    model = Mapped().eval()
    imported = import_model(model, input_shape=(1, 4, 6, 6))
    blocks = {n.block for n in imported.project.main_module.nodes}
    expected = {"relu", "sigmoid", "concat", "max_pool2d", "avg_pool2d", "add", "permute", "reshape"}
    expected |= {"gelu", "multiply", "tanh", "silu", "softmax", "dropout", "token_pool", "linear", "conv2d"}
    assert expected <= blocks
    net = compiled(imported)
    assert difference(model, net, torch.randn(5, 4, 6, 6)) <= 1e-5


class Slopes(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 6)
        self.other = nn.Linear(4, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.leaky_relu(self.fc(x), 0.2) + F.leaky_relu(self.other(x))
        return F.elu(y, alpha=0.5) * F.elu(y)


def test_leaky_relu_and_elu_keep_their_numbers() -> None:
    torch.manual_seed(0)
    model = Slopes().eval()
    imported = import_model(model, input_shape=(1, 4))
    number = {"leaky_relu": ("negative_slope", 0.01), "elu": ("alpha", 1.0)}  # a default is not written down
    params = sorted(
        (n.block, n.params.get(*number[n.block])) for n in imported.project.main_module.nodes if n.block in number
    )
    assert params == [("elu", 0.5), ("elu", 1.0), ("leaky_relu", 0.01), ("leaky_relu", 0.2)]
    x = torch.randn(7, 4) * 3  # both signs, so the slopes count
    assert difference(model, compiled(imported), x) <= 1e-6


class MixesTheBatch(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(1, -1)


class Broadcasts(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale(x)  # [N, 4] * [N, 1]


class ScalesBySize(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / math.sqrt(x.size(-1))  # math on a traced size: traced (math's functions wrapped on a retry)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (ScalesBySize(), "operator.truediv at test_functional_ops.py:{line} has no block"),
        (
            MixesTheBatch(),
            "Tensor.view at test_functional_ops.py:{line} from [2, 4] to [1, 8] mixes samples of the batch",
        ),
        (
            Broadcasts(),
            # nothing in it could tell one sample from two: sampled on one, the input shape's batch
            "operator.mul at test_functional_ops.py:{line} of shapes [1, 4] and [1, 1] (broadcasting) has no block",
        ),
    ],
)
def test_what_a_block_would_only_approximate_is_refused(model: nn.Module, message: str) -> None:
    with pytest.raises(NotMappable) as caught:
        import_model(model, input_shape=(1, 4))
    lines, first = inspect.getsourcelines(type(model).forward)
    line = first + len(lines) - 1  # the return line
    assert message.format(line=line) in str(caught.value)


class WithASpareHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.spare = nn.Linear(4, 2)  # never called

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def test_parameters_the_forward_never_uses_are_left_out_and_said() -> None:
    imported = import_model(WithASpareHead(), input_shape=(1, 4))
    assert imported.report.parameters == 20 and imported.report.unused == 10
    assert "10 parameters its forward never uses are left out" in imported.report.summary()


class MultiHeadAttention(nn.Module):
    """A user's own class that shares its name and attributes with ModStudio's layer, not its forward."""

    def __init__(self) -> None:
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(4, 4) for _ in range(4))
        self.num_heads, self.dropout, self.causal = 1, 0.0, False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_proj(F.relu(self.q_proj(x)) + self.v_proj(x))


def test_a_users_class_named_like_a_modstudio_layer_is_traced_not_taken_for_it() -> None:
    model = nn.Sequential(MultiHeadAttention()).eval()
    imported = import_model(model, input_shape=(1, 3, 4))
    assert "MultiHeadAttention" in imported.project.modules  # its own ModuleDef, from its forward
    assert difference(model, compiled(imported), torch.randn(2, 3, 4)) <= 1e-5
