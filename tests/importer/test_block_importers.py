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
