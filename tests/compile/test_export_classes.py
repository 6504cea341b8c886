"""Exported code reads like hand-written PyTorch: a class per ModuleDef with its module params as
``__init__`` arguments, inner params as expressions of them, and layer constructors that write only
what differs from torch's defaults, with keywords that torch 2.4 (the oldest torch the package
accepts) takes."""

from __future__ import annotations

import ast
from dataclasses import replace

import pytest
import torch

from modstudio.blocks import default_catalog
from modstudio.blocks.catalog import Catalog
from modstudio.blocks.spec import Layer, single
from modstudio.compile.export import build_network, export_project
from modstudio.compile.export.check import import_file, sample_inputs
from modstudio.graph.builder import ProjectBuilder
from modstudio.library import load_template

# The arguments of each torch.nn class the built-in blocks (and the classes an export carries) use,
# in the order of torch 2.4's documented signatures (https://pytorch.org/docs/2.4/nn.html).
TORCH_2_4 = {
    "Linear": ("in_features", "out_features", "bias", "device", "dtype"),
    "Conv1d": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias",
               "padding_mode", "device", "dtype"),
    "Conv2d": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias",
               "padding_mode", "device", "dtype"),
    "ConvTranspose2d": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "output_padding",
                        "groups", "bias", "dilation", "padding_mode", "device", "dtype"),
    "BatchNorm1d": ("num_features", "eps", "momentum", "affine", "track_running_stats", "device", "dtype"),
    "BatchNorm2d": ("num_features", "eps", "momentum", "affine", "track_running_stats", "device", "dtype"),
    "LayerNorm": ("normalized_shape", "eps", "elementwise_affine", "bias", "device", "dtype"),
    "GroupNorm": ("num_groups", "num_channels", "eps", "affine", "device", "dtype"),
    "Dropout": ("p", "inplace"),
    "MaxPool2d": ("kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode"),
    "AvgPool2d": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
    "AdaptiveAvgPool2d": ("output_size",),
    "Flatten": ("start_dim", "end_dim"),
    "Embedding": ("num_embeddings", "embedding_dim", "padding_idx", "max_norm", "norm_type", "scale_grad_by_freq",
                  "sparse", "_weight", "_freeze", "device", "dtype"),
    "RNN": ("input_size", "hidden_size", "num_layers", "nonlinearity", "bias", "batch_first", "dropout",
            "bidirectional", "device", "dtype"),
    "LSTM": ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional",
             "proj_size", "device", "dtype"),
    "GRU": ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional",
            "device", "dtype"),
    "ReLU": ("inplace",),
    "GELU": ("approximate",),
    "SiLU": ("inplace",),
    "Tanh": (),
    "Sigmoid": (),
    "Softmax": ("dim",),
    "Hardswish": ("inplace",),
    "Mish": ("inplace",),
    "LeakyReLU": ("negative_slope", "inplace"),
    "ELU": ("alpha", "inplace"),
    "Softplus": ("beta", "threshold"),
    "Identity": (),
    "Parameter": ("data", "requires_grad"),
}  # fmt: skip
TAKE_MODULES = {"Sequential", "ModuleList"}  # any number of modules, by position


def torch_calls(source: str) -> list[ast.Call]:
    """The ``nn.X(...)`` calls of a file (``nn.init.*`` and ``nn.Module`` as a base class left out)."""
    return [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "nn"
    ]


def test_every_torch_layer_call_uses_only_arguments_torch_2_4_takes(tmp_path):
    from .test_export_python import TEMPLATES, zoo

    projects = {name: load_template(name) for name in TEMPLATES} | {"zoo": zoo()}
    seen: set[str] = set()
    for name, project in projects.items():
        export_project(project, "python", tmp_path / f"{name}.py")
        for call in torch_calls((tmp_path / f"{name}.py").read_text()):
            layer = call.func.attr  # type: ignore[attr-defined]
            seen.add(layer)
            if layer in TAKE_MODULES:
                assert not call.keywords, f"{name}: {ast.unparse(call)}"
                continue
            assert layer in TORCH_2_4, f"{name}: nn.{layer} is not listed here: add torch 2.4's arguments for it"
            allowed = TORCH_2_4[layer]
            assert len(call.args) <= len(allowed), f"{name}: {ast.unparse(call)}"
            for keyword in call.keywords:
                assert keyword.arg in allowed, f"{name}: {ast.unparse(call)} ({keyword.arg} is not in torch 2.4)"
            given = [*allowed[: len(call.args)], *(k.arg for k in call.keywords)]
            assert len(given) == len(set(given)), f"{name}: {ast.unparse(call)} gives an argument twice"
    assert {
        "Linear",
        "Conv2d",
        "BatchNorm2d",
        "LayerNorm",
        "MaxPool2d",
    } <= seen  # the check saw them (LSTM is built inside Recurrent)


def test_batch_norm_and_convolutions_write_only_what_differs_from_torchs_defaults(tmp_path):
    export_project(load_template("resnet18"), "python", tmp_path / "r.py")
    code = (tmp_path / "r.py").read_text()
    assert "self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)" in code
    assert "self.bn1 = nn.BatchNorm2d(64)" in code
    assert "self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)" in code
    assert "eps=" not in code and "momentum=" not in code and "track_running_stats" not in code


def parametric(width_expression: str = "=width * 2") -> ProjectBuilder:
    pb = ProjectBuilder("params")
    block = pb.module("Block", width=4)
    hidden = block.add("linear", "fc", block.input("x"), out_features=width_expression)
    block.output("y", block.add("linear", "proj", hidden, out_features="=width"))
    m = pb.module("main")
    h = m.use("Block", "narrow", m.use("Block", "first", m.input("x", [3])), width=2)
    m.output("y", m.use("Block", "wide", h, width=5), task="regression")
    return pb


def test_a_module_used_with_other_parameters_is_one_class_taking_them(tmp_path):
    project = parametric().project("params")
    export_project(project, "python", tmp_path / "p.py")
    code = (tmp_path / "p.py").read_text()
    assert code.count("class Block") == 1
    assert "    def __init__(self, in_features: int, width: int = 4) -> None:" in code
    assert "self.fc = nn.Linear(in_features, width * 2)" in code and "self.proj = nn.Linear(width * 2, width)" in code
    assert "self.first = Block(3)" in code  # the default width is not written
    assert "self.narrow = Block(4, width=2)" in code and "self.wide = Block(2, width=5)" in code
    net = build_network(project).eval()
    model = import_file(tmp_path / "p.py").Model().eval()
    model.load_state_dict(net.state_dict(), strict=True)
    (x,) = sample_inputs(project, 4)
    torch.testing.assert_close(model(x), net(x))
    assert import_file(tmp_path / "p.py").Block(6, width=7)(torch.ones(2, 6)).shape == (2, 7)  # any size


@pytest.mark.parametrize(
    ("expression", "written"),
    [
        ("=(width + 1) * 3", "(width + 1) * 3"),
        ("=width*2 - 1", "width * 2 - 1"),
        ("=width * 4 / 2", "int(width * 4 / 2)"),  # an int param: evaluation makes the division whole
        ("=max(width, 3) // 2", "max(width, 3) // 2"),
        ("=-width + 9", "-width + 9"),
    ],
)
def test_inner_params_are_printed_from_their_expressions(tmp_path, expression, written):
    project = parametric(expression).project("params")
    export_project(project, "python", tmp_path / "p.py")
    code = (tmp_path / "p.py").read_text()
    assert f"self.fc = nn.Linear(in_features, {written})" in code and code.count("class Block") == 1


def test_exported_resnet18_reads_like_torchvision(tmp_path):
    catalog = default_catalog()
    project = load_template("resnet18", catalog)
    export_project(project, "python", tmp_path / "r.py", catalog=catalog)
    code = (tmp_path / "r.py").read_text()
    assert len(code.splitlines()) <= 200
    assert (
        code.count("(nn.Module):") == 4
    )  # GlobalAvgPool2d (the block's own layer, carried), BasicBlock, BasicBlockDown, Model
    assert "    def __init__(self, in_channels: int, channels: int = 64) -> None:" in code
    assert "self.conv1 = nn.Conv2d(in_channels, channels, 3, padding=1, bias=False)" in code
    assert "self.down_conv = nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False)" in code
    assert "self.layer2_0 = BasicBlockDown(64, channels=128)" in code
    assert "        x = self.layer1_0(x)  # [N, 64, 56, 56]\n" in code
    net = build_network(project, catalog=catalog).eval()
    model = import_file(tmp_path / "r.py").Model().eval()
    model.load_state_dict(net.state_dict(), strict=True)
    (x,) = sample_inputs(project, 1)
    with torch.no_grad():
        torch.testing.assert_close(model(x), net(x), atol=1e-5, rtol=0)


def test_uses_of_a_module_whose_bodies_differ_get_a_class_each(tmp_path):
    def branching(params, inputs) -> dict:  # a rule that decides on a value: bias only for wide layers
        return {"in_features": single(inputs).shape[-1], "out_features": params["out_features"],
                "bias": params["out_features"] > 4}  # fmt: skip

    catalog = Catalog(replace(s, layer=Layer("torch.nn.Linear", branching)) if s.id == "linear" else s
                      for s in default_catalog())  # fmt: skip
    project = parametric("=width").project("params")
    export_project(project, "python", tmp_path / "p.py", catalog=catalog)
    code = (tmp_path / "p.py").read_text()
    assert "class Block(nn.Module):" in code and "class Block2(nn.Module):" in code
    assert "self.first = Block(3)" in code and "self.narrow = Block(4, width=2)" in code  # widths 4 and 2
    assert "self.wide = Block2(2, width=5)" in code
    assert (
        "self.fc = nn.Linear(in_features, width, bias=False)" in code
        and "self.fc = nn.Linear(in_features, width)\n" in code
    )
    net = build_network(project, catalog=catalog).eval()
    model = import_file(tmp_path / "p.py").Model().eval()
    model.load_state_dict(net.state_dict(), strict=True)
    (x,) = sample_inputs(project, 4)
    torch.testing.assert_close(model(x), net(x))
