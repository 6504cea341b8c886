"""Building a network for its settings alone, fast: within :func:`shared_prototypes`, each distinct leaf
layer (a block's layer without submodules, for one block, parameter values and inputs) is built once and
every other node with the same is given a shallow copy of it: its own dicts of parameters, buffers,
submodules and hooks, the same (immutable) settings. For a network whose weights are assigned next,
as the import's check assigns the model's on the meta device; a ResNet-50 has 106 convolutions and
normalisations but a few dozen distinct ones, and a copy costs a fraction of a layer's ``__init__``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from torch import nn

_PROTOTYPES: ContextVar[dict[str, nn.Module] | None] = ContextVar("prototypes", default=None)


@contextmanager
def shared_prototypes() -> Iterator[None]:
    """Leaf layers built once per distinct block, parameter values and inputs (see the module's docstring)."""
    token = _PROTOTYPES.set({})
    try:
        yield
    finally:
        _PROTOTYPES.reset(token)


def made(block: str, params: dict[str, Any], inputs: Any, make: Callable[[], nn.Module]) -> nn.Module:
    """``make()``, or within :func:`shared_prototypes` a copy of the layer it made for the same."""
    prototypes = _PROTOTYPES.get()
    if prototypes is None:
        return make()
    key = repr((block, sorted(params.items()), sorted(inputs.items())))
    prototype = prototypes.get(key)
    if prototype is None:
        layer = make()
        if layer._modules:  # a composition or a layer of layers: built each time
            return layer
        prototypes[key] = prototype = layer
    return _shallow_copy(prototype)


def _shallow_copy(layer: nn.Module) -> nn.Module:
    copy = object.__new__(type(layer))
    copy.__dict__ = {k: (type(v)(v) if isinstance(v, (dict, set, list)) else v) for k, v in layer.__dict__.items()}
    return copy
