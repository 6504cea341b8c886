"""How each built layer is written in exported code: ``nn.Linear(2, 64)``, ``MixtureOfExperts(...)``.

The code generator (``python_code``) writes a node's layer from its block spec: the class
``spec.layer`` names (its ``export`` form where it has one, ``Constructors.class_name``) called with
``spec.layer.arguments``. ModStudio's own layer classes (``blocks/layers``) go into the file as
their source (``layer_sources``: the classes and every helper they use, found from the code).
Plugin blocks without a ``Layer`` are written from their layer's ``extra_repr`` (checked by
rebuilding it), as ``module.Class(...)`` of the plugin module the exported file imports.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import math
from collections.abc import Callable, Iterable

from torch import nn

from modstudio.blocks import layers
from modstudio.blocks.plugins import Plugin, plugin_of_module
from modstudio.blocks.spec import BlockSpec

from .inert import python_text


class ExportError(ValueError):
    """The project (or a weights file, or an output path) cannot be exported; says why."""


LAYERS_PACKAGE = "modstudio.blocks.layers"


def code_value(value: object) -> str:
    """A constructor argument as Python source: numbers, booleans, None, strings (through
    ``python_text``, the only way text goes into the file) and lists, tuples and dicts of them."""
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f"float({python_text(str(value))})"
    if isinstance(value, str):
        return python_text(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(code_value, value)) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(map(code_value, value)) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{code_value(k)}: {code_value(v)}" for k, v in value.items()) + "}"
    raise ExportError(f"cannot write a {type(value).__name__} ({value!r}) as a constructor argument")


def dotted_name(name: str) -> str:
    """A plugin's module or class path as it goes into code (``maxout.layer.Maxout``): plain
    identifiers joined by dots, or an ExportError."""
    if not all(part.isidentifier() and part.isascii() for part in name.split(".")):
        raise ExportError(f"cannot write {name!r} as code: not a dotted name of identifiers")
    return name


def _rebuilt(module: nn.Module, constructor: str, problem: str, hint: str = "") -> str:
    """``constructor(...)`` with the arguments ``module.extra_repr()`` prints, checked by building
    the layer again from them. The arguments are read as literals, never run: a parameter that
    holds code stays text or is refused."""
    printed = module.extra_repr()
    try:
        call = ast.parse(f"layer({printed})", mode="eval").body
        if not isinstance(call, ast.Call) or any(k.arg is None for k in call.keywords):
            raise ValueError("not a list of arguments")
        args = [ast.literal_eval(arg) for arg in call.args]
        kwargs = {str(k.arg): ast.literal_eval(k.value) for k in call.keywords}
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError) as exc:
        raise ExportError(f"{problem} ({constructor}({printed}) is not plain values: {exc}){hint}") from None
    text = f"{constructor}({', '.join([*map(code_value, args), *(f'{k}={code_value(v)}' for k, v in kwargs.items())])})"
    try:
        rebuilt = type(module)(*args, **kwargs)
    except Exception as exc:
        raise ExportError(f"{problem} ({text}): {exc}{hint}") from None
    if repr(rebuilt) != repr(module):
        raise ExportError(f"{problem}: {text} builds {rebuilt!r}, not {module!r}{hint}")
    return text


class Constructors:
    """Writes constructor expressions; records the ModStudio layer classes the file must carry."""

    def __init__(self, nested: Callable[..., str | None]) -> None:
        # GraphNet -> "ClassName(sizes)"; None for anything else
        self.nested = nested
        self.classes: list[type] = []  # blocks/layers classes the file carries (layer_sources)
        self.plugin_imports: dict[str, Plugin] = {}  # module the file imports -> the plugin it is part of

    @property
    def used(self) -> list[str]:
        return [cls.__name__ for cls in self.classes]

    def sources(self) -> str:
        """The code of the ModStudio layer classes used so far and of what they need."""
        return layer_sources(self.classes)

    def __call__(self, module: nn.Module) -> str:
        """A layer no ``Layer`` describes (a plugin's), written from the built module."""
        nested = self.nested(module)
        if nested is not None:
            return nested
        plugin = plugin_of_module(type(module).__module__)
        if plugin is not None:
            return self._plugin_layer(module, plugin)
        if type(module).__module__.startswith("torch.nn."):
            return self._torch_layer(module)
        raise ExportError(f"ModStudio cannot write a {type(module).__name__} layer as code yet")

    def class_name(self, cls: type, spec: BlockSpec) -> str:
        """How a Layer's class is named in the file; records what the file must carry or import for it."""
        if cls.__module__.startswith("torch.nn"):
            return f"nn.{cls.__name__}"
        if cls.__module__.startswith(LAYERS_PACKAGE):
            if cls not in self.classes:
                self.classes.append(cls)
            return cls.__name__
        plugin = plugin_of_module(cls.__module__)
        if plugin is None:
            raise ExportError(f"block '{spec.id}' names {cls.__module__}.{cls.__qualname__}, which no plugin holds")
        self.plugin_imports.setdefault(cls.__module__, plugin)
        return dotted_name(f"{cls.__module__}.{cls.__qualname__}")

    def _torch_layer(self, module: nn.Module) -> str:
        if isinstance(module, nn.Sequential):
            return f"nn.Sequential({', '.join(self(child) for child in module)})"
        return _rebuilt(module, f"nn.{type(module).__name__}", f"cannot write {type(module).__name__} as code")

    def _plugin_layer(self, module: nn.Module, plugin: Plugin) -> str:
        """``maxout.layer.Maxout(64, 32, pieces=2, bias=True)``: the plugin's class, its constructor
        arguments from its ``extra_repr`` (checked by rebuilding it); the file imports the module."""
        cls = type(module)
        problem = f"cannot write {cls.__name__} of plugin '{plugin.name}' as code"
        hint = "; its extra_repr must print its constructor arguments"
        text = _rebuilt(module, dotted_name(f"{cls.__module__}.{cls.__qualname__}"), problem, hint)
        self.plugin_imports.setdefault(cls.__module__, plugin)
        return text


# ---------------------------------------------------------------- layer sources


def layer_sources(classes: Iterable[type]) -> str:
    """The code that defines ``classes`` (ModStudio layer classes, from ``blocks/layers``) and every
    top-level class, function and constant of those modules that they use, found from their code;
    each once, what is used before what uses it. Two different definitions under one name are an
    ExportError (the file would hold only one)."""
    done: dict[str, tuple[str, str]] = {}  # name -> (module, source), in dependency order
    for cls in classes:
        _add_definition(cls.__module__, cls.__name__, done, set())
    return "\n\n".join(source for _, source in done.values())


def _add_definition(module: str, name: str, done: dict[str, tuple[str, str]], visiting: set[str]) -> None:
    if name in done:
        if done[name][0] != module:
            raise ExportError(f"{module}.{name} and {done[name][0]}.{name} would both be called {name} in the file")
        return
    definitions = _definitions(module)
    node, source = definitions[name]
    visiting.add(name)
    for used in sorted(_names_in(node), key=source.find):
        if used in definitions and used != name and used not in visiting:
            _add_definition(module, used, done, visiting)
        elif used not in definitions:
            origin = _imported_from(module, used)
            if origin is not None and used not in visiting:
                _add_definition(origin, used, done, visiting)
    done[name] = (module, source)


def _names_in(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


@functools.cache
def _definitions(module: str) -> dict[str, tuple[ast.stmt, str]]:
    """Top-level classes, functions and assigned names of a layers module, with their source
    (decorators included)."""
    text = inspect.getsource(importlib.import_module(module))
    lines = text.splitlines()
    found: dict[str, tuple[ast.stmt, str]] = {}
    for stmt in ast.parse(text).body:
        names: list[str] = []
        if isinstance(stmt, (ast.ClassDef, ast.FunctionDef)):
            names = [stmt.name]
        elif isinstance(stmt, ast.Assign):
            names = [t.id for t in stmt.targets if isinstance(t, ast.Name)]
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            names = [stmt.target.id]
        if not names:
            continue
        first = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", []))])
        source = "\n".join(lines[first - 1 : stmt.end_lineno]) + "\n"
        for name in names:
            found[name] = (stmt, source)
    return found


def _imported_from(module: str, name: str) -> str | None:
    """The sibling layers module ``name`` comes from, where ``module`` imports it (``from .moe import run_sorted``)."""
    value = vars(importlib.import_module(module)).get(name)
    origin = getattr(value, "__module__", None)
    if isinstance(origin, str) and origin.startswith(LAYERS_PACKAGE) and origin != module:
        return origin
    return None


def layers_names() -> set[str]:
    """Every top-level name the layers modules define (names an exported file keeps free for them)."""
    import pkgutil

    return {
        name for info in pkgutil.iter_modules(layers.__path__, f"{LAYERS_PACKAGE}.") for name in _definitions(info.name)
    }


RUNTIME_NAMES = layers_names()
