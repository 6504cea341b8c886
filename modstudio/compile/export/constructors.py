"""How each built layer is written in exported code: ``nn.Linear(2, 64)``, ``MixtureOfExperts(...)``.

``Constructors`` turns one built submodule into a constructor expression; torch's own layers are
written from their ``extra_repr`` (checked by rebuilding them), ModStudio's layers as the
torch-only classes of ``runtime_layers`` / ``runtime_routing``, plugins' own layers as
``module.Class(...)`` of the plugin module that the exported file imports. Nested GraphNets (module
references and composition members) are written by a callback the code generator gives.
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Callable

import torch
from torch import nn

from modstudio.blocks.layers import attention, compositions, conv, hierarchy, local, moe, sequence
from modstudio.blocks.plugins import Plugin, plugin_of_module

from . import runtime_layers, runtime_routing


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


def _text(value: str) -> str:
    """A string literal in double quotes, as ruff format writes it."""
    return json.dumps(value)


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
        name = type(module).__name__
        if isinstance(module, nn.Sequential):
            return f"nn.Sequential({', '.join(self(child) for child in module)})"
        text = f"nn.{name}({module.extra_repr()})"
        try:
            rebuilt = eval(text, {"nn": nn, "torch": torch})  # our own text, from torch's extra_repr
        except Exception as exc:
            raise ExportError(f"cannot write {name} as code ({text}): {exc}") from None
        if repr(rebuilt) != repr(module):
            raise ExportError(f"cannot write {name} as code: {text} builds {rebuilt!r}, not {module!r}")
        return text

    def _plugin_layer(self, module: nn.Module, plugin: Plugin) -> str:
        """``maxout.layer.Maxout(64, 32, pieces=2, bias=True)``: the plugin's class, its constructor
        arguments from its ``extra_repr`` (checked by rebuilding it); the file imports the module."""
        cls = type(module)
        text = f"{cls.__module__}.{cls.__qualname__}({module.extra_repr()})"
        top = cls.__module__.split(".")[0]
        try:
            rebuilt = eval(text, {top: importlib.import_module(top), "nn": nn, "torch": torch})  # our own text
        except Exception as exc:
            raise ExportError(
                f"cannot write {cls.__name__} of plugin '{plugin.name}' as code ({text}): {exc}; "
                "its extra_repr must print its constructor arguments"
            ) from None
        if repr(rebuilt) != repr(module):
            raise ExportError(
                f"cannot write {cls.__name__} of plugin '{plugin.name}' as code: {text} builds {rebuilt!r}, "
                f"not {module!r}; its extra_repr must print its constructor arguments"
            )
        self.plugin_imports.setdefault(cls.__module__, plugin)
        return text

    def _members(self, modules: nn.ModuleList) -> str:
        return _list([self(m) for m in modules])

    def _writers(self) -> list[tuple[type, Callable[[nn.Module], str]]]:
        u = self.use
        return [
            (attention.SelfAttention, lambda m: f"{u('SelfAttention')}({m.qkv.in_features}, num_heads={m.num_heads}, dropout={m.dropout!r}, causal={m.causal})"),
            (attention.MultiHeadAttention, lambda m: f"{u('MultiHeadAttention')}({m.q_proj.in_features}, num_heads={m.num_heads}, key_dim={m.k_proj.in_features}, value_dim={m.v_proj.in_features}, dropout={m.dropout!r}, causal={m.causal})"),
            (attention.FeedForward, lambda m: f"{u('FeedForward')}({m.fc1.in_features}, hidden={m.fc1.out_features}, dropout={m.drop.p!r})"),
            (attention.TransformerEncoderBlock, lambda m: f"{u('TransformerEncoderBlock')}({m.norm1.normalized_shape[0]}, num_heads={m.attn.num_heads}, mlp_hidden={m.mlp.fc1.out_features}, dropout={m.drop.p!r}, causal={m.attn.causal})"),
            (attention.PatchEmbedding, lambda m: f"{u('PatchEmbedding')}({m.proj.in_channels}, embed_dim={m.proj.out_channels}, patch_size={m.proj.kernel_size[0]})"),
            (attention.PositionalEmbedding, lambda m: f"{u('PositionalEmbedding')}(num_tokens={m.pos.shape[1]}, dim={m.pos.shape[2]})"),
            (attention.ClassToken, lambda m: f"{u('ClassToken')}({m.token.shape[-1]})"),
            (attention.TokenPool, lambda m: f"{u('TokenPool')}({_text(m.mode)})"),
            (conv.DepthwiseSeparableConv2d, lambda m: f"{u('DepthwiseSeparableConv2d')}({self(m.depthwise)}, {self(m.pointwise)})"),
            (local.LocallyConnected2d, lambda m: f"{u('LocallyConnected2d')}({m.in_channels}, {m.out_channels}, output_size={m.output_size}, kernel_size={m.kernel_size}, stride={m.stride}, padding={m.padding}, bias={m.bias is not None})"),
            (local.LowRankLocallyConnected2d, lambda m: f"{u('LowRankLocallyConnected2d')}({self(m.bases)}, out_channels={m.out_channels}, rank={m.rank}, output_size={m.output_size}, bias={m.bias is not None})"),
            (sequence.Recurrent, lambda m: f"{u('Recurrent')}({self(m.rnn)}, hidden_size={m.hidden_size}, bidirectional={m.bidirectional}, last={m.last})"),
            (compositions.Ensemble, lambda m: f"{u('Ensemble')}({self._members(m.members)}, combine={_text(m.combine)})"),
            (compositions.ClassTree, lambda m: f"{u('ClassTree')}({self(m.trunk)}, {self._members(m.branches)}, class_position={m.class_position.tolist()})"),
            (compositions.OneVsRest, lambda m: f"{u('OneVsRest')}({self._members(m.members)})"),
            (compositions.Cooperative, lambda m: f"{u('Cooperative')}({self._members(m.members)}, splits={list(m.splits)}, fused_features={m.combiner.in_features}, out_features={m.combiner.out_features})"),
            (moe.MixtureOfExperts, lambda m: f"{u('MixtureOfExperts')}({m.router.in_features}, experts={self._members(m.experts)}, gate={_text(m.gate)}, k={m.k}, capacity_factor={m.capacity_factor!r}, out_dim={m.out_dim}, load_balance_weight={m.load_balance_weight!r}, z_loss_weight={m.z_loss_weight!r})"),
            (hierarchy.HierarchicalMoE, lambda m: f"{u('HierarchicalMoE')}({m.primary.in_features}, experts={self._members(m.experts)}, groups={m.groups}, k_groups={m.k_groups}, k={m.k}, out_dim={m.out_dim}, load_balance_weight={m.load_balance_weight!r}, z_loss_weight={m.z_loss_weight!r})"),
            (hierarchy.HardGate, lambda m: f"{u('HardGate')}({m.router.in_features}, branches={self._members(m.branches)}, out_shape={list(m.out_shape)}, allow_skip={m.allow_skip}, temperature={m.temperature!r}, balance_weight={m.balance_weight!r})"),
        ]  # fmt: skip
