"""What the walk over a model makes, before ModuleDefs are chosen: an Instance per module instance,
a Piece per node to be."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from modstudio.graph.names import unique_name

from .ops import Wire

Located = Callable[[], str]  # "file.py:LINE" of a call, worked out only when a problem is reported


@dataclass
class Piece:
    """One node to be: a block, or a reference to the ModuleDef of ``child``."""

    name: str
    block: str | None = None
    child: Instance | None = None
    params: dict[str, Any] = field(default_factory=dict)
    inputs: list[tuple[str, list[Wire]]] = field(default_factory=list)
    weights: dict[str, torch.Tensor] = field(default_factory=dict)  # relative to the node
    members: dict[str, list[tuple[Instance, str]]] = field(default_factory=dict)  # param -> (instance, prefix)
    source: nn.Module | None = None  # the model's layer it was made from (a layer with no members)


@dataclass
class Instance:
    """One module instance of the model as a graph of pieces; ``module`` and ``values`` are set
    when its ModuleDef is chosen (by defs.py)."""

    cls: type
    path: str  # attribute path in the model ("" for the model itself)
    role: str  # "model", "submodule" or "member"
    inputs: list[tuple[str, torch.Tensor]]  # Input node names and sample values
    pieces: list[Piece] = field(default_factory=list)
    outputs: list[tuple[str, Wire]] = field(default_factory=list)
    module: str = ""
    values: dict[str, int | float] = field(default_factory=dict)

    def state(self) -> dict[str, torch.Tensor]:
        """This instance's weights, keyed as the compiled GraphNet names them."""
        out: dict[str, torch.Tensor] = {}
        for piece in self.pieces:
            for key, value in piece.weights.items():
                out[f"{piece.name}.{key}"] = value
            if piece.child is not None:
                for key, value in piece.child.state().items():
                    out[f"{piece.name}.{key}"] = value
            for members in piece.members.values():
                for member, prefix in members:
                    for key, value in member.state().items():
                        out[f"{piece.name}.{prefix}{key}"] = value
        return out

    def sources(self) -> dict[str, nn.Module]:
        """The model's layers behind this instance's nodes, keyed by the compiled GraphNet's submodule paths."""
        out: dict[str, nn.Module] = {}
        for piece in self.pieces:
            if piece.source is not None:
                out[piece.name] = piece.source
            if piece.child is not None:
                for path, layer in piece.child.sources().items():
                    out[f"{piece.name}.{path}"] = layer
        return out


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def piece_name(target: str, module: nn.Module | None, taken: set[str]) -> str:
    """A node's name from its attribute path: ``layer1`` stays; ``features.0`` -> ``features_0``; a bare
    index ``0`` -> ``conv2d_0``."""
    base = target.replace(".", "_")
    if module is not None and (not base or not base[0].isalpha()):
        base = f"{_snake(type(module).__name__)}_{base}"
    return unique_name(base, taken)
