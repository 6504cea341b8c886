"""How a torch layer becomes a block when a PyTorch model is imported (``modstudio import``).

A :class:`LayerImporter` names the torch classes it recognises and turns one instance into the
block's params (:class:`Mapped`), or says why that instance has no block equivalent
(:class:`NoBlock`: a padding mode the block does not have, say). The importer never guesses:
a layer no importer takes stops the import and is listed with its source line. Each built-in
block's importer sits on its BlockSpec (``importer=``), beside its shape rule and Layer; the
helpers below are the ones several block files share.

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


# Helpers the built-in blocks' importers share (each block's own rule sits beside its spec).


def rule(classes: str | tuple[str, ...], convert: Convert, **more: Any) -> LayerImporter:
    """A LayerImporter for one class name or several."""
    return LayerImporter(classes if isinstance(classes, tuple) else (classes,), convert, **more)


def no_params(m: Any) -> Mapped | NoBlock:
    """A layer with nothing to read: the block with its defaults."""
    return Mapped({})


def square(value: Any, what: str) -> int | NoBlock:
    """One int from torch's int-or-tuple settings; NoBlock when the sides differ."""
    if isinstance(value, int):
        return value
    values = tuple(value)
    if len(set(values)) != 1:
        return NoBlock(f"{what} {values} differs between sides (the block has one {what} for all sides)")
    return int(values[0])


def squares(module: Any, names: tuple[str, ...]) -> dict[str, int] | NoBlock:
    """:func:`square` of each of the module's settings ``names``; the first NoBlock if any."""
    out: dict[str, int] = {}
    for name in names:
        value = square(getattr(module, name), name)
        if isinstance(value, NoBlock):
            return value
        out[name] = value
    return out


def lacks(m: Any, *names: str) -> NoBlock | None:
    """NoBlock when ``m`` lacks one of the attributes ModStudio's layer of its class name has."""
    missing = [n for n in names if not hasattr(m, n)]
    return NoBlock(f"lacks {', '.join(missing)} (not ModStudio's layer of that name)") if missing else None


def own_plain(*names: str) -> Convert:
    """ModStudio's own layer without settings (beyond sizes the inputs give), recognised by ``names``."""
    return lambda m: lacks(m, *names) or Mapped({})


def member_list(count: int, attribute: str, inputs: Any = None) -> MemberModules:
    """The layer's ``attribute.0`` ... ``attribute.<count-1>`` as member modules, weights kept under those names."""
    paths = tuple(f"{attribute}.{i}" for i in range(count))
    return MemberModules(paths, tuple(p + "." for p in paths), inputs)
