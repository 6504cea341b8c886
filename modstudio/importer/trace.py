"""One level of a model at a time: torch.fx traces a module's own forward with every submodule
called as a unit, and runs the trace once on sample inputs to learn every value's shape."""

from __future__ import annotations

import contextlib
import io
import logging
import math as _math
import re
import traceback
import warnings
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import fx, nn

from .replay import Call, Layers

_MODSTUDIO = Path(__file__).resolve().parents[1]  # the package: its frames are not the model's

_FRAME = re.compile(r'File "([^"]+)", line (\d+)')


class _OneLevel(fx.Tracer):
    """Every submodule is a leaf: the importer decides what each one becomes. ``math``: let ``math``'s
    functions take traced values (fx wraps each of them anew on every trace, a fifth of a small trace)."""

    def __init__(self, lines: bool, math: bool) -> None:
        super().__init__(autowrap_modules=(_math,) if math else ())
        self.record_stack_traces = lines

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return True


def is_torch_leaf(module: nn.Module) -> bool:
    """A torch layer (not a container a user fills): its forward is torch's own, with no block."""
    return type(module).__module__.startswith("torch.") and not isinstance(
        module, (nn.Sequential, nn.ModuleList, nn.ModuleDict)
    )


class TraceFailed(Exception):
    """torch.fx could not follow this module's forward; the message says why, ``where`` the line of the
    model's code it stopped at (``model.py:30``; "" when no frame of the traceback is the model's)."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        self.where = where


def trace(module: nn.Module, lines: bool = False) -> fx.Graph:
    """The graph of ``module``'s forward (traced in training mode, so that ``self.training`` branches
    and ``F.dropout(training=self.training)`` record what training does). ``lines``: record each
    node's source line (slower: asked for only when something is to be reported)."""
    if type(module) is nn.Sequential:
        return sequential_graph(module)
    was_training = module.training
    module.training = True  # its own flag only: its submodules are leaves, their forwards not traced
    try:
        try:
            return _OneLevel(lines, math=False).trace(module)
        except Exception:  # perhaps ``math.sqrt(x.size(-1))``: once more with math's functions traceable
            return _OneLevel(lines, math=True).trace(module)
    except Exception as exc:
        raise TraceFailed(f"{type(exc).__name__}: {_first_line(exc)}", _failed_at(exc)) from None
    finally:
        module.training = was_training


def _failed_at(exc: BaseException) -> str:
    """``file.py:LINE`` of the innermost frame of the traceback in the model's own code (not torch's, not ModStudio's)."""
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not _is_torch(frame.filename) and not Path(frame.filename).resolve().is_relative_to(_MODSTUDIO)
    ]
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""


def sequential_graph(module: nn.Sequential) -> fx.Graph:
    """What fx traces for a plain ``nn.Sequential`` (each child called on the last one's output), written
    down directly: a trace would walk the forward through fx's patched calls for the same graph."""
    graph = fx.Graph()
    value = graph.placeholder("input")
    for name in module._modules:
        value = graph.call_module(name, (value,))
    graph.output(value)
    return graph


_PLAIN = (bool, int, float, str, type(None))


def structure_key(module: nn.Module) -> Hashable | None:
    """What a module's one-level trace can depend on: its class, its plain attributes (a forward may
    branch on them or bake them in), its children's names and classes (None included: ``if
    self.downsample is not None``), its own parameter and buffer names. Two modules with one key
    trace to the same graph, so it is traced once. None when an attribute is something else (a
    function, a tensor...): such a module is always traced afresh."""
    plain: list[tuple[str, Any]] = []
    for name, value in vars(module).items():
        if name.startswith("_") or name == "training":
            continue
        if isinstance(value, (tuple, list)) and all(isinstance(v, _PLAIN) for v in value):
            value = (type(value).__name__, tuple(value))
        elif not isinstance(value, _PLAIN):
            return None
        plain.append((name, value))
    children = tuple((name, type(child)) for name, child in module._modules.items())
    return (type(module), tuple(plain), children, tuple(module._parameters), tuple(module._buffers))


def export_level(module: nn.Module, inputs: tuple[Any, ...]) -> tuple[fx.Graph, nn.Module]:
    """The graph of ``module``'s forward by torch.export (non-strict, on these sample inputs, in eval mode),
    unflattened back to one level: its submodules are called as units (``call_module``), its own
    ops are aten ops. Returns the graph and the module that runs it."""
    try:
        with _quietly():
            program = torch.export.export(module, tuple(inputs), strict=False)
            unflat = torch.export.unflatten(program)
    except Exception as exc:
        raise TraceFailed(f"{type(exc).__name__}: {_first_line(exc)}", _failed_at(exc)) from None
    return unflat.graph, unflat


@contextlib.contextmanager
def _quietly() -> Iterator[None]:
    """torch.export's own words kept from the person: its warnings, its log lines (``Unable to find user
    code…``) and the partial graph it prints on stderr when it fails; the import says what failed, in one line."""
    torch_log = logging.getLogger("torch")
    level = torch_log.level
    torch_log.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        torch_log.setLevel(level)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


Calls = dict[int, list[Any]]  # id of a module -> its outputs, in call order, from one run of the whole model


def record_calls(model: nn.Module, run: Callable[[], Any], layers: Layers | None = None) -> tuple[Any, Calls]:
    """``run()``'s result and every submodule's outputs during it (forward hooks, removed after);
    ``layers``: filled with each torch layer's calls, inputs included (what the check may replay)."""
    calls: Calls = {}

    def hook(module: nn.Module, args: Any, output: Any) -> None:
        calls.setdefault(id(module), []).append(output)

    def layer_hook(module: nn.Module, args: Any, kwargs: Any, output: Any) -> None:
        calls.setdefault(id(module), []).append(output)
        layers.setdefault(id(module), []).append(Call.of(module, args, kwargs, output))  # type: ignore[union-attr]

    def register(m: nn.Module) -> Any:
        if layers is not None and is_torch_leaf(m) and not m._modules:
            return m.register_forward_hook(layer_hook, with_kwargs=True)
        return m.register_forward_hook(hook)

    handles = [register(m) for m in model.modules()]
    try:
        result = run()
    finally:
        for handle in handles:
            handle.remove()
    return result, calls


class _Recorder(fx.Interpreter):
    """Runs a traced forward; a submodule's output is taken from the whole model's run where it was
    recorded (so each level costs only its own ops), else computed."""

    def __init__(self, module: nn.Module, graph: fx.Graph, calls: Calls) -> None:
        super().__init__(module, garbage_collect_values=False, graph=graph)
        self.values: dict[fx.Node, Any] = {}
        self.calls = calls
        self.seen: dict[int, int] = {}

    def call_module(self, target: Any, args: Any, kwargs: Any) -> Any:
        sub = self.fetch_attr(target)
        index = self.seen.get(id(sub), 0)
        self.seen[id(sub)] = index + 1
        recorded = self.calls.get(id(sub), [])
        if index < len(recorded):
            return recorded[index]
        return super().call_module(target, args, kwargs)

    def run_node(self, n: fx.Node) -> Any:
        value = super().run_node(n)
        self.values[n] = value
        return value

    def record(self, inputs: tuple[Any, ...]) -> dict[fx.Node, Any]:
        """``Interpreter.run`` without its progress bar (a tqdm made even when disabled: two thirds of
        the cost of running a small graph)."""
        self.env = {}
        self.args_iter = iter(inputs)
        for node in self.graph.nodes:
            self.env[node] = self.run_node(node)
        return self.values


def sample_values(
    module: nn.Module, graph: fx.Graph, inputs: tuple[Any, ...], calls: Calls | None = None
) -> dict[fx.Node, Any]:
    """Every node's value for these inputs.
    ``calls``: submodule outputs recorded in a run of the whole model, for a module run once in it."""
    recorder = _Recorder(module, graph, calls or {})
    with torch.no_grad():  # the model is in eval mode throughout an import (gm shares its submodules)
        return recorder.record(inputs)


def where(node: fx.Node) -> str:
    """``file.py:LINE`` of the user's code that made this node (the innermost frame torch recorded)."""
    text = node.stack_trace or node.meta.get("stack_trace") or ""
    frames = [(file, line) for file, line in _FRAME.findall(text) if not _is_torch(file)]
    if not frames:
        return ""
    file, line = frames[-1]
    return f"{Path(file).name}:{line}"


def _is_torch(file: str) -> bool:
    parts = Path(file).parts
    return ("torch" in parts and "site-packages" in parts) or file.startswith("<")
