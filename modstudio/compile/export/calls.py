"""Constructor calls as torch users write them: ``nn.Conv2d(64, channels, 3, stride=stride, padding=1,
bias=False)``: the required arguments by position, the others by keyword and only where they differ
from the class's defaults (read from ``inspect.signature``), values that come from module params
or input sizes written as their expressions."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from .constructors import ExportError, code_value
from .symbolic import is_symbol, names_in

# layers whose size arguments may be one number for every dimension (``kernel_size=3``)
_PER_DIMENSION = ("Conv", "Pool", "Upsample", "Fold", "Unfold", "Pad")


def value_text(value: Any, used: set[str], nested: Callable[[Any], str | None] = lambda _: None) -> str:
    """A constructor argument as source: symbols as their text (their names noted in ``used``),
    anything else as ``code_value`` writes it; ``nested`` writes member modules."""
    written = nested(value)
    if written is not None:
        return written
    if is_symbol(value):
        used.update(names_in(value))
        return value.text
    if isinstance(value, list):
        items = [value_text(v, used, nested) for v in value]
        if len(items) > 1 and all(item == items[0] for item in items) and nested(value[0]) is not None:
            return f"[{items[0]} for _ in range({len(items)})]"
        return "[" + ", ".join(items) + "]"
    if isinstance(value, tuple):
        items = [value_text(v, used, nested) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    return code_value(value)


def _same(value: Any, default: Any) -> bool:
    """A plain value equal to the default, of the same kind (``True`` is not ``1``)."""
    if default is inspect.Parameter.empty or is_symbol(value) or names_in(value):
        return False
    if isinstance(value, bool) != isinstance(default, bool):
        return False
    try:
        return bool(value == default) and type(value) in (type(default), int, float)
    except Exception:
        return False


def call_text(
    name: str,
    cls: type,
    arguments: Mapping[str, Any],
    used: set[str],
    nested: Callable[[Any], str | None] = lambda _: None,
) -> str:
    """``name(...)`` building ``cls`` from keyword ``arguments``."""
    try:
        parameters = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        parameters = {}  # type: ignore[assignment]
    per_dimension = cls.__module__.startswith("torch.nn") and any(part in cls.__name__ for part in _PER_DIMENSION)
    unknown = [key for key in arguments if key not in parameters]
    if unknown and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        raise ExportError(f"{cls.__name__} takes no argument {unknown[0]!r}")
    positional: list[str] = []
    keywords: list[str] = []
    by_position = True
    for key, parameter in parameters.items():
        if key not in arguments or parameter.kind not in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            by_position = by_position and parameter.default is not parameter.empty and key not in arguments
            continue
        value = arguments[key]
        if per_dimension and isinstance(value, tuple) and value and all(v is value[0] for v in value[1:]):
            value = value[0]  # (3, 3) is 3 to a convolution or a pooling layer
        if per_dimension and isinstance(value, tuple) and value and not names_in(value) and len(set(value)) == 1:
            value = value[0]
        if key == "normalized_shape" and isinstance(value, tuple) and len(value) == 1:
            value = value[0]  # LayerNorm(64): normalise over the last dimension
        if _same(value, parameter.default):
            by_position = False
            continue
        text = value_text(value, used, nested)
        required = parameter.default is parameter.empty and parameter.kind is parameter.POSITIONAL_OR_KEYWORD
        if required and by_position:
            positional.append(text)
        else:
            by_position = False
            keywords.append(f"{key}={text}")
    keywords += [f"{key}={value_text(arguments[key], used, nested)}" for key in unknown]
    return f"{name}({', '.join([*positional, *keywords])})"


def trimmed_torch_call(text: str) -> str:
    """A torch.nn constructor written with every keyword (``nn.BatchNorm2d(64, eps=1e-05, ...)``,
    as the built layer's ``extra_repr`` gives it) written as ``call_text`` writes it. The text holds
    literals only (``Constructors`` checked it)."""
    call = ast.parse(text, mode="eval").body
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
        return text
    if call.func.attr == "Sequential" and not call.keywords:
        parts = [ast.get_source_segment(text, arg) or "" for arg in call.args]
        return f"nn.Sequential({', '.join(trimmed_torch_call(part) for part in parts)})"
    cls = getattr(nn, call.func.attr, None)
    if not isinstance(cls, type):
        return text
    try:
        parameters = list(inspect.signature(cls).parameters)
        arguments = {parameters[i]: ast.literal_eval(arg) for i, arg in enumerate(call.args)}
        arguments |= {str(k.arg): ast.literal_eval(k.value) for k in call.keywords}
    except (ValueError, IndexError, TypeError):
        return text
    return call_text(f"nn.{call.func.attr}", cls, arguments, set())
