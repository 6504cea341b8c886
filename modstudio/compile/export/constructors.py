"""How each built layer is written in exported code: ``nn.Linear(2, 64)``, ``MixtureOfExperts(...)``.

``Constructors`` turns one built submodule into a constructor expression; torch's own layers are
written from their ``extra_repr`` (checked by rebuilding them), ModStudio's layers as the
torch-only classes of ``runtime_layers`` / ``runtime_routing``, plugins' own layers as
``module.Class(...)`` of the plugin module that the exported file imports. Nested GraphNets (module
references and composition members) are written by a callback the code generator gives.
"""

from __future__ import annotations

import ast
import inspect
import math
from collections.abc import Callable

from torch import nn

from modstudio.blocks.layers import attention, compositions, conv, hierarchy, local, moe, sequence
from modstudio.blocks.plugins import Plugin, plugin_of_module

from . import runtime_layers, runtime_routing
from .inert import python_text


class ExportError(ValueError):
    """The project (or a weights file, or an output path) cannot be exported; says why."""


# runtime class (or helper) name -> names it needs in the same file
NEEDS: dict[str, tuple[str, ...]] = {
    "SelfAttention": ("split_heads", "merge_heads"),
    "MultiHeadAttention": ("split_heads", "merge_heads"),
    "TransformerEncoderBlock": ("SelfAttention", "FeedForward"),
    "HierarchicalMoE": ("balance_loss",),
    "HardGate": ("balance_loss",),
}
RUNTIME_NAMES = {
    name
    for source in (runtime_layers, runtime_routing)
    for name, value in vars(source).items()
    if (inspect.isclass(value) or inspect.isfunction(value)) and value.__module__ == source.__name__
}


def runtime_source(name: str) -> str:
    """The source of one runtime class or helper, as it goes into the exported file."""
    value = getattr(runtime_layers, name, None) or getattr(runtime_routing, name)
    return inspect.getsource(value).rstrip() + "\n"


def code_value(value: object) -> str:
    """A constructor argument as Python source: numbers, booleans, None, strings (through
    ``python_text``, the only way text goes into the file) and lists, tuples and dicts of them."""
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f"float({python_text(str(value))})"
    if isinstance(value, str):
        return python_text(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(code_value, value)) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(map(code_value, value)) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{code_value(k)}: {code_value(v)}" for k, v in value.items()) + "}"
    raise ExportError(f"cannot write a {type(value).__name__} ({value!r}) as a constructor argument")


def dotted_name(name: str) -> str:
    """A plugin's module or class path as it goes into code (``maxout.layer.Maxout``): plain
    identifiers joined by dots, or an ExportError."""
    if not all(part.isidentifier() and part.isascii() for part in name.split(".")):
        raise ExportError(f"cannot write {name!r} as code: not a dotted name of identifiers")
    return name


def _rebuilt(module: nn.Module, constructor: str, problem: str, hint: str = "") -> str:
    """``constructor(...)`` with the arguments ``module.extra_repr()`` prints, checked by building
    the layer again from them. The arguments are read as literals, never run: a parameter that
    holds code stays text or is refused."""
    printed = module.extra_repr()
    try:
        call = ast.parse(f"layer({printed})", mode="eval").body
        if not isinstance(call, ast.Call) or any(k.arg is None for k in call.keywords):
            raise ValueError("not a list of arguments")
        args = [ast.literal_eval(arg) for arg in call.args]
        kwargs = {str(k.arg): ast.literal_eval(k.value) for k in call.keywords}
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError) as exc:
        raise ExportError(f"{problem} ({constructor}({printed}) is not plain values: {exc}){hint}") from None
    text = f"{constructor}({', '.join([*map(code_value, args), *(f'{k}={code_value(v)}' for k, v in kwargs.items())])})"
    try:
        rebuilt = type(module)(*args, **kwargs)
    except Exception as exc:
        raise ExportError(f"{problem} ({text}): {exc}{hint}") from None
    if repr(rebuilt) != repr(module):
        raise ExportError(f"{problem}: {text} builds {rebuilt!r}, not {module!r}{hint}")
    return text


def _list(items: list[str]) -> str:
    if items and all(item == items[0] for item in items):
        return f"[{items[0]} for _ in range({len(items)})]"
    return "[" + ", ".join(items) + "]"


class Constructors:
    """Writes constructor expressions; records which runtime classes the file must carry."""

    def __init__(self, nested: Callable[[nn.Module], str | None]) -> None:
        self.nested = nested  # GraphNet -> "ClassName()"; None for anything else
        self.used: list[str] = []
        self.plugin_imports: dict[str, Plugin] = {}  # module the file imports -> the plugin it is part of

    def use(self, name: str) -> str:
        for needed in NEEDS.get(name, ()):
            self.use(needed)
        if name not in self.used:
            self.used.append(name)
        return name

    def __call__(self, module: nn.Module) -> str:
        nested = self.nested(module)
        if nested is not None:
            return nested
        for layer_type, write in self._writers():
            if type(module) is layer_type:
                return write(module)
        plugin = plugin_of_module(type(module).__module__)
        if plugin is not None:
            return self._plugin_layer(module, plugin)
        if type(module).__module__.startswith("torch.nn."):
            return self._torch_layer(module)
        raise ExportError(f"ModStudio cannot write a {type(module).__name__} layer as code yet")

    def _torch_layer(self, module: nn.Module) -> str:
        if isinstance(module, nn.Sequential):
            return f"nn.Sequential({', '.join(self(child) for child in module)})"
        return _rebuilt(module, f"nn.{type(module).__name__}", f"cannot write {type(module).__name__} as code")

    def _plugin_layer(self, module: nn.Module, plugin: Plugin) -> str:
        """``maxout.layer.Maxout(64, 32, pieces=2, bias=True)``: the plugin's class, its constructor
        arguments from its ``extra_repr`` (checked by rebuilding it); the file imports the module."""
        cls = type(module)
        problem = f"cannot write {cls.__name__} of plugin '{plugin.name}' as code"
        hint = "; its extra_repr must print its constructor arguments"
        text = _rebuilt(module, dotted_name(f"{cls.__module__}.{cls.__qualname__}"), problem, hint)
        self.plugin_imports.setdefault(cls.__module__, plugin)
        return text

    def _members(self, modules: nn.ModuleList) -> str:
        return _list([self(m) for m in modules])

    def _writers(self) -> list[tuple[type, Callable[[nn.Module], str]]]:
        u, v = self.use, code_value
        return [
            (attention.SelfAttention, lambda m: f"{u('SelfAttention')}({v(m.qkv.in_features)}, num_heads={v(m.num_heads)}, dropout={v(m.dropout)}, causal={v(m.causal)})"),
            (attention.MultiHeadAttention, lambda m: f"{u('MultiHeadAttention')}({v(m.q_proj.in_features)}, num_heads={v(m.num_heads)}, key_dim={v(m.k_proj.in_features)}, value_dim={v(m.v_proj.in_features)}, dropout={v(m.dropout)}, causal={v(m.causal)})"),
            (attention.FeedForward, lambda m: f"{u('FeedForward')}({v(m.fc1.in_features)}, hidden={v(m.fc1.out_features)}, dropout={v(m.drop.p)})"),
            (attention.TransformerEncoderBlock, lambda m: f"{u('TransformerEncoderBlock')}({v(m.norm1.normalized_shape[0])}, num_heads={v(m.attn.num_heads)}, mlp_hidden={v(m.mlp.fc1.out_features)}, dropout={v(m.drop.p)}, causal={v(m.attn.causal)})"),
            (attention.PatchEmbedding, lambda m: f"{u('PatchEmbedding')}({v(m.proj.in_channels)}, embed_dim={v(m.proj.out_channels)}, patch_size={v(m.proj.kernel_size[0])})"),
            (attention.PositionalEmbedding, lambda m: f"{u('PositionalEmbedding')}(num_tokens={v(m.pos.shape[1])}, dim={v(m.pos.shape[2])})"),
            (attention.ClassToken, lambda m: f"{u('ClassToken')}({v(m.token.shape[-1])})"),
            (attention.TokenPool, lambda m: f"{u('TokenPool')}({v(m.mode)})"),
            (conv.DepthwiseSeparableConv2d, lambda m: f"{u('DepthwiseSeparableConv2d')}({self(m.depthwise)}, {self(m.pointwise)})"),
            (local.LocallyConnected2d, lambda m: f"{u('LocallyConnected2d')}({v(m.in_channels)}, {v(m.out_channels)}, output_size={v(m.output_size)}, kernel_size={v(m.kernel_size)}, stride={v(m.stride)}, padding={v(m.padding)}, bias={v(m.bias is not None)})"),
            (local.LowRankLocallyConnected2d, lambda m: f"{u('LowRankLocallyConnected2d')}({self(m.bases)}, out_channels={v(m.out_channels)}, rank={v(m.rank)}, output_size={v(m.output_size)}, bias={v(m.bias is not None)})"),
            (sequence.Recurrent, lambda m: f"{u('Recurrent')}({self(m.rnn)}, hidden_size={v(m.hidden_size)}, bidirectional={v(m.bidirectional)}, last={v(m.last)})"),
            (compositions.Ensemble, lambda m: f"{u('Ensemble')}({self._members(m.members)}, combine={v(m.combine)})"),
            (compositions.ClassTree, lambda m: f"{u('ClassTree')}({self(m.trunk)}, {self._members(m.branches)}, class_position={v(m.class_position.tolist())})"),
            (compositions.OneVsRest, lambda m: f"{u('OneVsRest')}({self._members(m.members)})"),
            (compositions.Cooperative, lambda m: f"{u('Cooperative')}({self._members(m.members)}, splits={v(list(m.splits))}, fused_features={v(m.combiner.in_features)}, out_features={v(m.combiner.out_features)})"),
            (moe.MixtureOfExperts, lambda m: f"{u('MixtureOfExperts')}({v(m.router.in_features)}, experts={self._members(m.experts)}, gate={v(m.gate)}, k={v(m.k)}, capacity_factor={v(m.capacity_factor)}, out_dim={v(m.out_dim)}, load_balance_weight={v(m.load_balance_weight)}, z_loss_weight={v(m.z_loss_weight)})"),
            (hierarchy.HierarchicalMoE, lambda m: f"{u('HierarchicalMoE')}({v(m.primary.in_features)}, experts={self._members(m.experts)}, groups={v(m.groups)}, k_groups={v(m.k_groups)}, k={v(m.k)}, out_dim={v(m.out_dim)}, load_balance_weight={v(m.load_balance_weight)}, z_loss_weight={v(m.z_loss_weight)})"),
            (hierarchy.HardGate, lambda m: f"{u('HardGate')}({v(m.router.in_features)}, branches={self._members(m.branches)}, out_shape={v(list(m.out_shape))}, allow_skip={v(m.allow_skip)}, temperature={v(m.temperature)}, balance_weight={v(m.balance_weight)})"),
        ]  # fmt: skip
