"""One level of a model at a time: torch.fx traces a module's own forward with every submodule
called as a unit, and runs the trace once on sample inputs to learn every value's shape."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from torch import fx, nn

_FRAME = re.compile(r'File "([^"]+)", line (\d+)')


class _OneLevel(fx.Tracer):
    """Every submodule is a leaf: the importer decides what each one becomes."""

    def __init__(self) -> None:
        super().__init__()
        self.record_stack_traces = True

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return True


class TraceFailed(Exception):
    """torch.fx could not follow this module's forward; the message says where."""


def trace(module: nn.Module) -> fx.GraphModule:
    """The graph of ``module``'s forward (traced in training mode, so that ``self.training`` branches
    and ``F.dropout(training=self.training)`` record what training does)."""
    was_training = module.training
    module.train()
    try:
        graph = _OneLevel().trace(module)
    except Exception as exc:
        raise TraceFailed(f"{type(exc).__name__}: {_first_line(exc)}") from None
    finally:
        module.train(was_training)
    return fx.GraphModule(module, graph, type(module).__name__)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class _Recorder(fx.Interpreter):
    def __init__(self, module: fx.GraphModule) -> None:
        super().__init__(module, garbage_collect_values=False)
        self.values: dict[fx.Node, Any] = {}

    def run_node(self, n: fx.Node) -> Any:
        value = super().run_node(n)
        self.values[n] = value
        return value


def sample_values(gm: fx.GraphModule, inputs: tuple[Any, ...]) -> dict[fx.Node, Any]:
    """Every node's value for these inputs, computed in eval mode (no running statistics move)."""
    recorder = _Recorder(gm)
    was_training = gm.training
    gm.eval()
    try:
        with torch.no_grad():
            recorder.run(*inputs)
    finally:
        gm.train(was_training)
    return recorder.values


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
