"""BlockSpec: everything ModStudio knows about one block type.

A spec is declarative and imports no torch: the palette, the inspector and shape inference
use it without loading torch. ``build`` imports torch when called.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from modstudio.graph.schema import ParamSpec, PortSpec

from .tensors import ShapeError, TensorInfo

if TYPE_CHECKING:
    from torch import nn

# What arrives at a block: one TensorInfo per connected port (a list for a ``multi`` port).
Inputs = Mapping[str, "TensorInfo | list[TensorInfo]"]
Params = Mapping[str, Any]
ShapeRule = Callable[..., tuple[TensorInfo, ...]]  # (params, inputs[, members])
Builder = Callable[..., "nn.Module"]  # (params, inputs[, members])


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
    """One block type: stable id and version, title, category, doc, ports, params,
    a shape rule and ``build(params, inputs) -> nn.Module``.

    ``shape`` and ``build`` receive params with expressions already evaluated, and the
    inputs as TensorInfos keyed by port name. Input sizes (``in_features``...) are never
    params: they come from the inputs.
    """

    id: str
    title: str
    category: str
    doc: str
    shape: ShapeRule
    build: Builder
    params: tuple[ParamSpec, ...] = ()
    inputs: tuple[PortSpec, ...] = IN
    outputs: tuple[PortSpec, ...] = OUT
    version: int = 1
    aliases: tuple[str, ...] = ()
    uses_members: bool = False  # shape and build take a third argument, Members

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
