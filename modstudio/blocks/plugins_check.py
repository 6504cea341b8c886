"""What a plugin's BLOCKS must be: valid BlockSpecs with ids nobody else has taken."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from modstudio.graph.schema import ParamSpec, PortSpec, visible_when_problem

from .spec import BlockSpec

_ID = re.compile(r"[a-z][a-z0-9_]*\Z")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def spec_problem(spec: Any) -> str | None:
    """Why ``spec`` cannot be a block of the catalogue, or None when it can."""
    if not isinstance(spec, BlockSpec):
        return f"is a {type(spec).__name__}, not a BlockSpec"
    for key in (spec.id, *spec.aliases):
        if not isinstance(key, str) or not _ID.match(key):
            return f"block id {key!r} must be lower-case letters, digits and '_', starting with a letter"
    for field in ("title", "category", "doc"):
        value = getattr(spec, field)
        if not isinstance(value, str) or not value.strip():
            return f"block '{spec.id}' needs a {field} (a non-empty string)"
    if not callable(spec.shape) or not (spec.layer is not None or callable(spec.build)):
        return f"block '{spec.id}': shape must be a function, and it needs a layer (Layer) or a build function"
    if spec.flops is not None and not callable(spec.flops):
        return f"block '{spec.id}': flops must be a function (params, inputs, outputs) -> FLOPs per sample"
    if isinstance(spec.version, bool) or not isinstance(spec.version, int) or spec.version < 1:
        return f"block '{spec.id}': version must be a whole number >= 1, not {spec.version!r}"
    return _params_problem(spec) or _ports_problem(spec)


def _params_problem(spec: BlockSpec) -> str | None:
    if not isinstance(spec.params, (tuple, list)):
        return f"block '{spec.id}': params must be a tuple of ParamSpec"
    seen: set[str] = set()
    for param in spec.params:
        if not isinstance(param, ParamSpec):
            return f"block '{spec.id}': a param is a {type(param).__name__}, not a ParamSpec"
        if not isinstance(param.name, str) or not _NAME.match(param.name):
            return f"block '{spec.id}': param name {param.name!r} is not a valid name"
        if param.name in seen:
            return f"block '{spec.id}': param '{param.name}' is defined twice"
        seen.add(param.name)
        why = param.check(param.default)
        if why:
            return f"block '{spec.id}': the default of param '{param.name}' {why}"
    why = visible_when_problem(spec.params)
    return f"block '{spec.id}': {why}" if why else None


def _ports_problem(spec: BlockSpec) -> str | None:
    for side in ("inputs", "outputs"):
        ports = getattr(spec, side)
        if not isinstance(ports, (tuple, list)) or not all(isinstance(p, PortSpec) for p in ports):
            return f"block '{spec.id}': {side} must be a tuple of PortSpec"
        names = [p.name for p in ports]
        if len(set(names)) != len(names):
            return f"block '{spec.id}': two {side} have the same name"
    if not spec.outputs:
        return f"block '{spec.id}' needs at least one output port"
    return None


def blocks_problem(blocks: Any, taken: Mapping[str, str]) -> str | None:
    """Why a plugin's BLOCKS cannot be added; ``taken``: block id or alias -> who has it."""
    if blocks is None:
        return "defines no BLOCKS (a tuple of BlockSpec)"
    if not isinstance(blocks, (tuple, list)):
        return f"BLOCKS must be a tuple or list of BlockSpec, not a {type(blocks).__name__}"
    if not blocks:
        return "BLOCKS is empty"
    mine: set[str] = set()
    for index, spec in enumerate(blocks):
        why = spec_problem(spec)
        if why:
            return f"BLOCKS[{index}] {why}" if not isinstance(spec, BlockSpec) else f"invalid block: {why}"
        for key in (spec.id, *spec.aliases):
            if key in taken:
                return f"block id '{key}' is already taken by {taken[key]}"
            if key in mine:
                return f"block id '{key}' is used twice in BLOCKS"
            mine.add(key)
    return None
