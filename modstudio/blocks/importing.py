"""How a torch layer becomes a block when a PyTorch model is imported (``modstudio import``).

A :class:`LayerImporter` names the torch classes it recognises and turns one instance into the
block's params (:class:`Mapped`), or says why that instance has no block equivalent
(:class:`NoBlock`: a padding mode the block does not have, say). The importer never guesses:
a layer no importer takes stops the import and is listed with its source line.

Torch-free at import time: a ``convert`` function only reads the module's attributes, and its
``weights`` function only slices the tensors it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# the module's own state dict (keys relative to it) -> the block layer's state dict
WeightMap = Callable[[Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class MemberModules:
    """Submodules of the layer that become member modules of the block (a MoE's experts).

    ``paths``: their attribute paths inside the layer (``experts.0``); ``prefixes``: where each
    one's weights go in the block layer's state dict (``experts.0.``); ``inputs``: their sample
    inputs from the layer's own inputs (a token per row for experts), given the input tensors: one
    tuple for all, or a list of tuples, one per member.
    """

    paths: tuple[str, ...]
    prefixes: tuple[str, ...]
    inputs: Callable[..., tuple[Any, ...]] | None = None


@dataclass(frozen=True)
class Mapped:
    """The block params for one layer instance; ``weights`` renames its state dict (None: same keys);
    ``members``: param name -> the submodules that become that param's member modules;
    ``sampled``: more params, worked out from the layer's sample inputs (sizes only a run shows)."""

    params: dict[str, Any]
    weights: WeightMap | None = None
    members: Mapping[str, MemberModules] = field(default_factory=dict)
    sampled: Callable[..., dict[str, Any]] | None = None


@dataclass(frozen=True)
class NoBlock:
    """This instance has no block equivalent, and why (it names the setting)."""

    reason: str


Convert = Callable[[Any], "Mapped | NoBlock"]


@dataclass(frozen=True)
class LayerImporter:
    """Recognises instances of ``classes`` (dotted paths, ``torch.nn.Conv2d`` or a plugin's
    ``mymodel.SparseMoe``; ``*.Name``: ModStudio's own layer class of that name wherever it is
    defined, in ModStudio or in code it exported; exact classes, not subclasses, whose forward may
    differ) and converts them.

    ``block``: the block id it maps onto (needed where the importer is not on that block's spec: a
    plugin's ``IMPORTERS``). ``returns``: for a layer that returns a tuple (``nn.LSTM``: output and
    state), the index of the value the block's output is; the others are not available.
    ``ignored_keywords``: call keywords that do not change that value (``need_weights``).
    """

    classes: tuple[str, ...]
    convert: Convert
    block: str = ""
    returns: int | None = None
    ignored_keywords: tuple[str, ...] = ()


def class_names(cls: type) -> tuple[str, ...]:
    """The dotted names ``cls`` is known by: its full name and each shorter one down to ``module.Class``
    (a file imported as ``mixtral`` or as ``tests.models.mixtral``), and ``torch.nn.<Name>`` for torch layers."""
    parts = [*cls.__module__.split("."), cls.__qualname__]
    names = tuple(".".join(parts[i:]) for i in range(len(parts) - 1))
    if _from_modstudio(cls):
        names = (*names, f"*.{cls.__qualname__}")
    if cls.__module__.startswith("torch.nn.modules."):
        return (*names, f"torch.nn.{cls.__qualname__}")
    return names


def _from_modstudio(cls: type) -> bool:
    """ModStudio's own class, or one in a file ModStudio exported (its docstring says so)."""
    import sys

    if cls.__module__.split(".")[0] == "modstudio":
        return True
    module = sys.modules.get(cls.__module__)
    return "exported from ModStudio" in (getattr(module, "__doc__", None) or "")
