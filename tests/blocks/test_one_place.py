"""Every built-in block is described in one place, its BlockSpec: a shape rule, the one layer
class it becomes (with constructor arguments that class accepts), a FLOP rule; and the layer
classes are self-contained torch-only code that exported files carry as they are."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path
from typing import Any

import pytest
import torch

from modstudio.blocks import builtin_catalog, layers
from modstudio.blocks.spec import BlockSpec, Member
from modstudio.compile.export.constructors import layer_sources
from modstudio.compile.graphnet import _MemberNets
from modstudio.compile.shapes import ShapeInference
from modstudio.graph.builder import ProjectBuilder
from modstudio.graph.schema import INPUT_BLOCK, OUTPUT_BLOCK

from .examples_conv import EXAMPLES as CONV
from .examples_core import EXAMPLES as CORE
from .examples_seq import EXAMPLES as SEQ

EXAMPLES = {**CORE, **CONV, **SEQ}
SPECS = [s for s in builtin_catalog() if s.id not in (INPUT_BLOCK, OUTPUT_BLOCK)]
IDS = [s.id for s in SPECS]

# composition blocks: (input features, member modules -> their output features, params beyond the defaults)
MEMBER_CASES: dict[str, tuple[int, dict[str, int], dict[str, Any]]] = {
    "moe": (4, {"Expert": 4}, {"num_experts": 4}),
    "hierarchical_moe": (4, {"Expert": 4}, {"num_experts": 4}),
    "hard_gate": (4, {"BranchA": 3, "BranchB": 3}, {}),
    "ensemble": (4, {"MemberA": 3, "MemberB": 3}, {}),
    "tree": (4, {"Trunk": 5, "BranchA": 2, "BranchB": 2}, {}),
    "one_vs_rest": (4, {"Binary": 1}, {"classes": 3}),
    "cooperative": (4, {"MemberA": 3, "MemberB": 2}, {}),
}

# torch 2.4's constructor signatures (pytorch.org/docs/2.4) of the torch.nn classes the specs name: the
# package accepts torch >= 2.4, so no spec may pass an argument a later torch added
TORCH_2_4 = {
    "Linear": {"in_features", "out_features", "bias", "device", "dtype"},
    "Conv1d": {"in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias",
               "padding_mode", "device", "dtype"},
    "Conv2d": {"in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias",
               "padding_mode", "device", "dtype"},
    "ConvTranspose2d": {"in_channels", "out_channels", "kernel_size", "stride", "padding", "output_padding",
                        "groups", "bias", "dilation", "padding_mode", "device", "dtype"},
    "BatchNorm1d": {"num_features", "eps", "momentum", "affine", "track_running_stats", "device", "dtype"},
    "BatchNorm2d": {"num_features", "eps", "momentum", "affine", "track_running_stats", "device", "dtype"},
    "LayerNorm": {"normalized_shape", "eps", "elementwise_affine", "bias", "device", "dtype"},
    "GroupNorm": {"num_groups", "num_channels", "eps", "affine", "device", "dtype"},
    "RMSNorm": {"normalized_shape", "eps", "elementwise_affine", "device", "dtype"},
    "Dropout": {"p", "inplace"},
    "MaxPool2d": {"kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode"},
    "AvgPool2d": {"kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"},
    "AdaptiveAvgPool2d": {"output_size"},
    "Flatten": {"start_dim", "end_dim"},
    "Embedding": {"num_embeddings", "embedding_dim", "padding_idx", "max_norm", "norm_type",
                  "scale_grad_by_freq", "sparse", "_weight", "_freeze", "device", "dtype"},
    "Softmax": {"dim"},
    "ReLU": {"inplace"}, "ReLU6": {"inplace"}, "GELU": {"approximate"}, "SiLU": {"inplace"}, "Hardswish": {"inplace"}, "Tanh": set(), "Sigmoid": set(),
    "LeakyReLU": {"negative_slope", "inplace"}, "ELU": {"alpha", "inplace"},
}  # fmt: skip


def _member_project(spec: BlockSpec):
    features, outputs, params = MEMBER_CASES[spec.id]
    pb = ProjectBuilder("tests/one_place")
    for name, out in outputs.items():
        m = pb.module(name)
        m.output("y", m.add("linear", "fc", m.input("x"), out_features=out))
    main = pb.module("main")
    main.output("y", main.add(spec.id, "block", main.input("x", [features]), **params))
    return pb.project("one place")


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_every_block_has_a_shape_rule_a_layer_and_a_flop_rule(spec: BlockSpec) -> None:
    assert callable(spec.shape), f"{spec.id} has no shape rule"
    assert spec.layer is not None, f"{spec.id} has no Layer"
    assert spec.build is None, f"{spec.id} still has a build function beside its Layer"
    assert callable(spec.flops), f"{spec.id} has no FLOP rule"
    for cls in {spec.layer.load(), spec.layer.load_exported()}:
        assert issubclass(cls, torch.nn.Module), f"{spec.id}: {cls} is not a torch module"


# blocks without an importer on their spec, and why
NO_IMPORTER = {
    "add": "a torch model writes it as x + y or torch.add: the importer's op rules (importer/ops.py) take it",
    "multiply": "a torch model writes it as x * y or torch.mul: the importer's op rules take it",
    "concat": "a torch model writes it as torch.cat: the importer's op rules take it",
    "reshape": "a torch model writes it as x.reshape / x.view / torch.flatten: the importer's op rules take it",
    "permute": "a torch model writes it as x.permute / x.transpose: the importer's op rules take it",
    "global_avg_pool": "a torch model writes it as x.mean((2, 3)) or adaptive_avg_pool2d(x, 1): the op rules take it",
    "depthwise_separable_conv2d": "torch has no such layer: torch models write two Conv2d, imported as two blocks",
    "locally_connected2d": "torch has no locally connected layer",
    "low_rank_locally_connected2d": "torch has no locally connected layer",
    "one_vs_rest": "torch has no one-vs-rest layer: a model writes it as members and torch.cat",
}


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_every_block_with_a_torch_layer_has_its_own_importer(spec: BlockSpec) -> None:
    """The importer sits on the spec (nothing else maps torch layers onto built-in blocks), and
    each class it names is a torch.nn class or ModStudio's own layer class (``*.``)."""
    if spec.id in NO_IMPORTER:
        assert spec.importer is None, f"{spec.id} has an importer now: drop it from NO_IMPORTER"
        return
    assert spec.importer is not None, f"{spec.id} has no importer"
    assert not spec.importer.block or spec.importer.block == spec.id
    for name in spec.importer.classes:
        if name.startswith("*."):
            assert spec.layer is not None
            assert name[2:] in {spec.layer.load().__name__, spec.layer.load_exported().__name__}, name
        else:
            module, _, cls = name.rpartition(".")
            assert issubclass(getattr(importlib.import_module(module), cls), torch.nn.Module), name


@pytest.mark.parametrize(
    "spec", [s for s in SPECS if not s.uses_members], ids=[s.id for s in SPECS if not s.uses_members]
)
def test_every_blocks_arguments_fit_its_class(spec: BlockSpec) -> None:
    """Default params on an input the block takes: the arguments bind to the class's signature
    (of torch 2.4 for torch's own classes) and the layer builds."""
    assert spec.layer is not None
    example_params, inputs = EXAMPLES[spec.id][0]
    params = {**spec.defaults(), **example_params}
    arguments = spec.layer.arguments(params, inputs)
    assert not any(isinstance(v, Member) for v in arguments.values())
    cls = spec.layer.load()
    inspect.signature(cls).bind(**arguments)
    if cls.__module__.startswith("torch.nn"):
        assert set(arguments) <= TORCH_2_4[cls.__name__], f"{spec.id}: not in torch 2.4's {cls.__name__}"
    assert isinstance(spec.make(params, inputs), cls)


@pytest.mark.parametrize("block", sorted(MEMBER_CASES))
def test_every_composition_builds_its_class_and_its_exported_form_with_the_same_weights(block: str) -> None:
    """The class GraphNet builds and the one exported code writes take the same arguments (the
    exported form those its signature has) and hold the same parameters and buffers; each member
    argument is kept under its own name (exported code writes the members from there)."""
    spec = builtin_catalog()[block]
    assert spec.uses_members and spec.layer is not None
    project = _member_project(spec)
    shapes = ShapeInference(project, builtin_catalog()).run()
    node = project.modules["main"].node_named("block")
    assert node is not None
    members = _MemberNets(project, builtin_catalog(), shapes, node.id)
    params, inputs = shapes.params[node.id], shapes.nodes[node.id].inputs
    training = spec.make(params, inputs, members)
    assert type(training) is spec.layer.load()
    arguments = spec.layer.arguments(params, inputs, members)
    inspect.signature(type(training)).bind(**arguments)
    for name, value in arguments.items():
        if _is_member(value):
            assert isinstance(getattr(training, name), torch.nn.Module), f"{block}: member '{name}' is not kept"

    def built(value: Any) -> Any:
        if isinstance(value, Member):
            return members.build(value.module, list(value.inputs))
        return [built(v) for v in value] if _is_member(value) else value

    exported_arguments = spec.layer.export_arguments(arguments)
    exported = spec.layer.load_exported()(**{k: built(v) for k, v in exported_arguments.items()})
    assert set(exported.state_dict()) == set(training.state_dict())
    exported.load_state_dict(training.state_dict(), strict=True)


def _is_member(value: Any) -> bool:
    return isinstance(value, Member) or (isinstance(value, list) and any(isinstance(v, Member) for v in value))


def test_every_layer_module_imports_only_torch_math_and_its_siblings() -> None:
    allowed = {"torch", "math", "__future__", "typing", "collections", "dataclasses"}  # the last three: type hints
    for info in pkgutil.iter_modules(layers.__path__, f"{layers.__name__}."):
        path = Path(importlib.import_module(info.name).__file__ or "")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [] if node.level else [node.module or ""]  # relative: a sibling
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


@pytest.mark.parametrize("spec", [s for s in SPECS if s.layer and not s.layer.cls.startswith("torch.")], ids=str)
def test_exported_layer_sources_run_on_their_own(spec: BlockSpec) -> None:
    """The source the exported file carries for a block's class defines it with torch alone."""
    assert spec.layer is not None
    cls = spec.layer.load_exported()
    code = "import math\n\nimport torch\nimport torch.nn.functional as F\nfrom torch import nn\n\n"
    namespace: dict[str, Any] = {}
    exec(compile(code + layer_sources([cls]), f"<{spec.id}>", "exec"), namespace)
    assert inspect.isclass(namespace[cls.__name__])
    assert "modstudio" not in layer_sources([cls]).lower().replace("modstudio's", "")


def test_layer_sources_lists_each_definition_once_after_what_it_needs() -> None:
    from modstudio.blocks.layers.attention import MultiHeadAttention, SelfAttention, TransformerEncoderBlock

    code = layer_sources([TransformerEncoderBlock, MultiHeadAttention, SelfAttention])
    defined = [line.split()[1].split("(")[0] for line in code.splitlines() if line.startswith(("class ", "def "))]
    assert len(defined) == len(set(defined))
    assert defined.index("split_heads") < defined.index("SelfAttention") < defined.index("TransformerEncoderBlock")
    assert defined.index("FeedForward") < defined.index("TransformerEncoderBlock")
    assert set(defined) == {"split_heads", "merge_heads", "SelfAttention", "FeedForward",
                            "TransformerEncoderBlock", "MultiHeadAttention"}  # fmt: skip
