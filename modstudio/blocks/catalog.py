"""The block catalogue: every BlockSpec, by id and by alias."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from functools import lru_cache

from .spec import BlockSpec

# Modules of this package that define ``SPECS``; their order is the palette's order.
SPEC_MODULES = (
    "io_blocks",
    "conditional",
    "hard_gate",
    "composition",
    "dense",
    "conv",
    "local",
    "pooling",
    "normalization",
    "activations",
    "shape_ops",
    "merge",
    "embedding",
    "sequence",
    "attention",
)


class DuplicateBlockError(ValueError):
    """Two specs claim the same id or alias."""


class Catalog:
    """Looks up BlockSpecs by id or alias; iterates in palette order."""

    def __init__(self, specs: Iterable[BlockSpec] = ()) -> None:
        self._specs: dict[str, BlockSpec] = {}
        self._aliases: dict[str, str] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: BlockSpec) -> None:
        for key in (spec.id, *spec.aliases):
            if key in self._specs or key in self._aliases:
                raise DuplicateBlockError(f"block id '{key}' is already taken")
        self._specs[spec.id] = spec
        for alias in spec.aliases:
            self._aliases[alias] = spec.id

    def lookup(self, block_id: str) -> BlockSpec | None:
        spec = self._specs.get(block_id)
        if spec is None and block_id in self._aliases:
            spec = self._specs[self._aliases[block_id]]
        return spec

    def __getitem__(self, block_id: str) -> BlockSpec:
        spec = self.lookup(block_id)
        if spec is None:
            raise KeyError(block_id)
        return spec

    def __contains__(self, block_id: object) -> bool:
        return isinstance(block_id, str) and self.lookup(block_id) is not None

    def __iter__(self) -> Iterator[BlockSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def categories(self) -> dict[str, list[BlockSpec]]:
        out: dict[str, list[BlockSpec]] = {}
        for spec in self:
            out.setdefault(spec.category, []).append(spec)
        return out


def builtin_specs() -> list[BlockSpec]:
    specs: list[BlockSpec] = []
    for name in SPEC_MODULES:
        module = importlib.import_module(f"{__package__}.{name}")
        specs.extend(module.SPECS)
    return specs


@lru_cache(maxsize=1)
def builtin_catalog() -> Catalog:
    """The blocks that ship with ModStudio, without plugins."""
    return Catalog(builtin_specs())


def default_catalog() -> Catalog:
    """The built-in blocks and the blocks of every plugin that loaded (plugins load once per
    process; see :mod:`modstudio.blocks.plugins`). Imports no torch unless a plugin does."""
    from .plugins import plugin_catalog

    return plugin_catalog()
