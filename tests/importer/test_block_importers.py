"""Layers recognised by the importers on the blocks' own specs: each becomes its block and computes
what the torch layer computes with the imported weights; a setting the block lacks is refused by name."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modstudio.importer.api import import_model
from modstudio.importer.errors import NotMappable

from .conftest import compiled, difference


def _blocks(imported) -> list[str]:
    return [n.block for n in imported.project.main_module.nodes if n.block not in ("input", "output")]


def test_rms_norm_imports_as_its_block_with_its_eps_and_scale() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.RMSNorm(8, eps=1e-3)).eval()
    with torch.no_grad():
        model[1].weight.uniform_(0.5, 2.0)  # not the starting ones: the scale is carried over
    imported = import_model(model, input_shape=(1, 6))
    assert _blocks(imported) == ["linear", "rms_norm"]
    norm = next(n for n in imported.project.main_module.nodes if n.block == "rms_norm")
    assert norm.params["eps"] == 1e-3
    assert difference(model, compiled(imported), torch.randn(4, 6)) <= 1e-5


def test_rms_norm_without_an_eps_is_refused_by_name() -> None:
    model = nn.Sequential(nn.Linear(6, 8), nn.RMSNorm(8)).eval()
    with pytest.raises(NotMappable) as caught:
        import_model(model, input_shape=(1, 6))
    assert "eps=None" in str(caught.value)


def test_hardswish_imports_as_its_block_and_computes_the_same() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Hardswish(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2)).eval()
    imported = import_model(model, input_shape=(1, 3, 8, 8))
    assert _blocks(imported) == ["conv2d", "hardswish", "flatten", "linear"]
    x = 4 * torch.randn(3, 3, 8, 8)  # past -3 and 3, where hard swish bends
    assert difference(model, compiled(imported), x) <= 1e-5


class Encoder(nn.Module):
    def __init__(self, **settings) -> None:
        super().__init__()
        self.embed = nn.Linear(5, 16)
        options = {"dropout": 0.1, "batch_first": True, "norm_first": True, "activation": "gelu"} | settings
        self.layer1 = nn.TransformerEncoderLayer(16, 2, 24, **options)
        self.layer2 = nn.TransformerEncoderLayer(16, 2, 24, **options)
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layer2(self.layer1(self.embed(x))).mean(dim=1))


def test_torchs_pre_norm_gelu_encoder_layer_imports_as_the_encoder_block_with_its_weights() -> None:
    torch.manual_seed(0)
    model = Encoder().eval()
    imported = import_model(model, input_shape=(1, 7, 5))
    assert _blocks(imported).count("transformer_encoder_block") == 2
    block = next(n for n in imported.project.main_module.nodes if n.block == "transformer_encoder_block")
    assert block.params == {"num_heads": 2, "mlp_ratio": 1.5, "dropout": 0.1}
    net = compiled(imported)
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in model.parameters())
    assert difference(model, net, torch.randn(3, 7, 5)) <= 1e-5


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"norm_first": False}, "norm_first=False (post-norm"),
        ({"activation": "relu"}, "an activation other than 'gelu'"),
        ({"batch_first": False}, "batch_first=False"),
        ({"layer_norm_eps": 1e-6}, "layer_norm_eps=1e-06"),
    ],
)
def test_other_encoder_layers_are_refused_naming_the_setting(settings, reason) -> None:
    with pytest.raises(NotMappable) as caught:
        import_model(Encoder(**settings).eval(), input_shape=(1, 7, 5))
    assert reason in str(caught.value) and "TransformerEncoderLayer 'layer1'" in str(caught.value)


def test_a_layer_after_a_refused_one_is_listed_too_when_its_settings_alone_rule_the_block_out() -> None:
    model = Encoder(norm_first=False).eval()
    model.layer2 = nn.TransformerEncoderLayer(16, 2, 24, batch_first=True, norm_first=True)  # ReLU: refused too
    with pytest.raises(NotMappable) as caught:
        import_model(model, input_shape=(1, 7, 5))
    listed = [str(u) for u in caught.value.unmapped]
    assert len(listed) == 2
    assert "TransformerEncoderLayer 'layer1'" in listed[0] and "norm_first=False" in listed[0]
    assert "TransformerEncoderLayer 'layer2'" in listed[1] and "an activation other than 'gelu'" in listed[1]
