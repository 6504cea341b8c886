"""BlockSpec: everything ModStudio knows about one block type.

A spec is declarative and imports no torch: the palette, the inspector, shape inference and
FLOP counting use it without loading torch. Its ``layer`` names the one torch-only class the
block becomes (in GraphNet and in exported code alike) and how params and input shapes become
that class's constructor arguments; ``make`` imports and builds it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from modstudio.graph.schema import ParamSpec, PortSpec

from .tensors import ShapeError, TensorInfo

if TYPE_CHECKING:
    from torch import nn

    from .importing import LayerImporter

# What arrives at a block: one TensorInfo per connected port (a list for a ``multi`` port).
Inputs = Mapping[str, "TensorInfo | list[TensorInfo]"]
Params = Mapping[str, Any]
ShapeRule = Callable[..., tuple[TensorInfo, ...]]  # (params, inputs[, members])
Builder = Callable[..., "nn.Module"]  # (params, inputs[, members])
# (params, inputs, outputs[, members]) -> FLOPs per sample; outputs keyed by port name
FlopRule = Callable[..., int]
# (params, inputs[, members]) -> the layer class's constructor arguments by keyword
Arguments = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class Member:
    """A member module among a layer's constructor arguments (an expert, an ensemble member):
    compiled into a GraphNet when the network is built, written as its class in exported code."""

    module: str
    inputs: tuple[TensorInfo, ...]


@dataclass(frozen=True)
class Layer:
    """The one torch-only class a block becomes, in the network and in exported code alike.

    ``cls`` is its dotted path (``torch.nn.Linear``, ``modstudio.blocks.layers.moe.MixtureOfExperts``);
    ``arguments`` gives its constructor's keyword arguments from the params and the inputs, with plain
    arithmetic only, so that exported code can print them as expressions of module params.

    ``export`` names the class exported code uses where it differs from ``cls`` (the static-loop
    form of a mixture of experts: same parameter names, same outputs, no routing probes); it
    takes those of the arguments that its signature has (``export_arguments``).
    """

    cls: str
    arguments: Arguments
    export: str | None = None

    def load(self) -> type[nn.Module]:
        return _load(self.cls)

    def load_exported(self) -> type[nn.Module]:
        """The class exported code writes (``export``, else ``cls``)."""
        return _load(self.export or self.cls)

    def export_arguments(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments the exported class takes: all of them, or those its signature names."""
        if self.export is None:
            return dict(arguments)
        import inspect

        accepted = inspect.signature(self.load_exported()).parameters
        return {k: v for k, v in arguments.items() if k in accepted}

    def build(self, params: Params, inputs: Inputs, members: Members | None = None) -> nn.Module:
        kwargs = self.arguments(params, inputs, members) if members is not None else self.arguments(params, inputs)
        return self.load()(**{k: _built(v, members) for k, v in kwargs.items()})


def _load(dotted: str) -> type[nn.Module]:
    import importlib

    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _built(value: Any, members: Members | None) -> Any:
    if isinstance(value, Member):
        if members is None:
            raise TypeError(f"member '{value.module}' given to a block that takes no members")
        return members.build(value.module, list(value.inputs))
    if isinstance(value, list) and any(isinstance(v, Member) for v in value):
        return [_built(v, members) for v in value]
    return value


class Members(Protocol):
    """How a composition block reaches its member modules (ModuleDefs named in its params).

    Shape inference passes one whose ``infer`` runs the member's own shape inference; the
    compiler passes one whose ``build`` compiles the member into a GraphNet.
    """

    def infer(self, module: str, inputs: list[TensorInfo]) -> list[TensorInfo]:
        """The member's output shapes for these inputs; raises ShapeError naming the member."""
        ...

    def build(self, module: str, inputs: list[TensorInfo]) -> nn.Module:
        """A fresh trainable instance of the member for these inputs."""
        ...


class MemberCosts(Protocol):
    """How a composition block's FLOP rule reaches its members' costs."""

    def flops(self, module: str, runs: float = 1.0) -> int:
        """FLOPs of one run of member ``module`` at this node; ``runs``: how often it runs per run
        of the block (an expert that sees a share of the tokens), for the per-module totals."""
        ...

    def outputs(self, module: str) -> list[TensorInfo]:
        """The member's inferred outputs at this node (per sample)."""
        ...


CATEGORIES = (
    "Composition",
    "Conditional",
    "Input/Output",
    "Dense",
    "Convolution",
    "Pooling",
    "Normalization",
    "Regularization",
    "Activation",
    "Shape",
    "Merge",
    "Embedding",
    "Sequence",
    "Attention",
)

IN = (PortSpec("in"),)
OUT = (PortSpec("out"),)


@dataclass(frozen=True)
class BlockSpec:
    """One block type: stable id and version, title, category, doc, ports, params, a shape
    rule, the ``layer`` it becomes (class and constructor arguments) and a FLOP rule.

    ``shape``, ``layer.arguments`` and ``flops`` receive params with expressions already evaluated, and the
    inputs as TensorInfos keyed by port name. Input sizes (``in_features``...) are never
    params: they come from the inputs.
    """

    id: str
    title: str
    category: str
    doc: str
    shape: ShapeRule
    build: Builder | None = None  # only where no Layer describes it (plugins written before Layer)
    params: tuple[ParamSpec, ...] = ()
    inputs: tuple[PortSpec, ...] = IN
    outputs: tuple[PortSpec, ...] = OUT
    version: int = 1
    aliases: tuple[str, ...] = ()
    uses_members: bool = False  # shape and build take a third argument, Members
    layer: Layer | None = None  # the torch-only class it becomes (built-in blocks always have one)
    # FLOPs per sample (params, inputs, outputs[, MemberCosts where uses_members]); None: measured
    # on the built layer with torch's FlopCounterMode (plugins), and marked not exact
    flops: FlopRule | None = None
    flops_exact: bool = True  # False where element-wise work is approximated
    importer: LayerImporter | None = None  # how `modstudio import` recognises its torch layer (blocks/importing.py)

    def make(self, params: Params, inputs: Inputs, members: Members | None = None) -> nn.Module:
        """The torch layer for these (evaluated) params and inputs."""
        if self.layer is not None:
            return self.layer.build(params, inputs, members if self.uses_members else None)
        if self.build is None:
            raise TypeError(f"block '{self.id}' has neither a layer nor a build function")
        if self.uses_members:
            return self.build(params, inputs, members)
        return self.build(params, inputs)

    def param(self, name: str) -> ParamSpec:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}


def single(inputs: Inputs, port: str = "in") -> TensorInfo:
    """The TensorInfo on a single (non-multi) port."""
    value = inputs[port]
    if not isinstance(value, TensorInfo):
        raise TypeError(f"port '{port}' carries {len(value)} inputs where one was expected")
    return value


def many(inputs: Inputs, port: str = "in") -> list[TensorInfo]:
    value = inputs[port]
    return list(value) if isinstance(value, list) else [value]


def require_float(x: TensorInfo, port: str = "") -> None:
    """Raise a readable ShapeError for integer indices where real values are needed."""
    if x.dtype != "float":
        where = f" on '{port}'" if port else ""
        raise ShapeError(
            f"expects real-valued features{where} but receives {x} (integer indices); add an Embedding before it"
        )


def require_rank(x: TensorInfo, ranks: tuple[int, ...], expectation: str, hint: str = "") -> None:
    """Raise a readable ShapeError when ``x`` (batch included) has none of ``ranks``."""
    if x.rank not in ranks:
        tail = f"; {hint}" if hint else ""
        raise ShapeError(f"expects {expectation} but receives {x}{tail}")
