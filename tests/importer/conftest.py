"""Shared helpers for the import tests: a reference model imported, compiled with its weights, exported."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from modstudio.blocks import default_catalog
from modstudio.compile.export.check import import_file
from modstudio.compile.export.python_code import generate_python
from modstudio.compile.graphnet import GraphNet

HERE = Path(__file__).resolve().parent


def parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def difference(a: nn.Module, b: nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        return float((a(x).double() - b(x).double()).abs().max())


def compiled(imported) -> GraphNet:
    """The imported project's network with the imported weights, in eval mode."""
    net = GraphNet(imported.project, default_catalog())
    net.load_state_dict(imported.state_dict, strict=True)
    return net.eval()


def exported(project, net: GraphNet, folder: Path) -> nn.Module:
    """The project as generated Python code, with the network's weights, in eval mode."""
    code = generate_python(project, net, default_catalog())
    path = folder / "exported_model.py"
    path.write_text(code.source, encoding="utf-8")
    model = getattr(import_file(path), code.top_class)()
    model.load_state_dict(net.state_dict(), strict=True)
    return model.eval()


def load_plugin(name: str):
    """A plugin module of tests/importer/plugins, imported as the plugin loader would."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / "plugins" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def catalog():
    return default_catalog()
