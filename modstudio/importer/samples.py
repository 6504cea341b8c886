"""How many samples the import's sample run needs. Two show what an op does to the batch (a
``view(1, -1)`` and a ``view(x.size(0), -1)`` agree on one sample, not on two), so two is the rule.
One is enough when nothing in the model could tell them apart: every traced level holds only ops
whose block follows from their literal arguments, and every layer is a torch layer that keeps its
samples apart with the batch first. The model's forward then costs half (a ResNet-50's import a
seventh), and what the import makes is the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import fx, nn

from .ops import FUNCTIONS, METHODS, _constant, _expand, _getitem, _reshape
from .registry import Importers
from .trace import TraceFailed, is_torch_leaf

# torch layers that treat each sample on its own, with the batch first (in eval mode, the import's)
_PER_SAMPLE = {
    f"torch.nn.{name}"
    for name in (
        *(f"Conv{d}d" for d in (1, 2, 3)),
        *(f"ConvTranspose{d}d" for d in (1, 2, 3)),
        *(f"{kind}Pool{d}d" for kind in ("Max", "Avg", "AdaptiveAvg", "AdaptiveMax") for d in (1, 2, 3)),
        *(f"InstanceNorm{d}d" for d in (1, 2, 3)),
        *("Linear", "LayerNorm", "GroupNorm", "Embedding", "Upsample", "Identity"),
        *("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout"),
        *("ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish"),
        *("Sigmoid", "Tanh", "Hardswish", "Hardsigmoid", "Hardtanh", "Softplus", "Softsign"),
    )
}
_BATCH_NORMS = {f"torch.nn.BatchNorm{d}d" for d in (1, 2, 3)}  # with running statistics: per sample in eval
_DIM_LAYERS = {"torch.nn.Softmax", "torch.nn.LogSoftmax", "torch.nn.Flatten"}  # per sample past the batch

# op rules whose block depends on the batch size of the sample (judged by what the op does to it)
# or that read a size, an index or a parameter; a flatten with a literal start past the batch is fine
_BATCH_RULES = (_reshape, _expand, _getitem, _constant)


def one_sample_suffices(model: nn.Module, importers: Importers, graph_of: Callable[[nn.Module], fx.Graph]) -> bool:
    """Whether a sample of one shows everything a sample of two would (see the module's text).
    ``graph_of``: the walk's own traces, so that each level is traced once either way."""
    return _level(model, importers, graph_of, set())


def _level(module: nn.Module, importers: Importers, graph_of: Callable[[nn.Module], fx.Graph], seen: set[int]) -> bool:
    if id(module) in seen:
        return True
    seen.add(id(module))
    try:
        graph = graph_of(module)
    except TraceFailed:
        return False  # torch.export's turn, on the sample itself
    for node in graph.nodes:
        if node.op in ("placeholder", "output"):
            continue
        if node.op == "call_module":
            if not _call(module.get_submodule(str(node.target)), importers, graph_of, seen):
                return False
        elif node.op not in ("call_function", "call_method") or not _op(node):
            return False  # get_attr: a parameter, which may or may not carry the batch
    return True


def _call(sub: nn.Module, importers: Importers, graph_of: Callable[[nn.Module], fx.Graph], seen: set[int]) -> bool:
    """As the walk takes a submodule: a layer an importer takes, or a user module traced in its turn."""
    if isinstance(sub, nn.Identity):
        return True
    if importers.of(sub):
        return _layer(sub)
    if is_torch_leaf(sub):
        return False  # no block: the walk says so
    return _level(sub, importers, graph_of, seen)


def _layer(sub: nn.Module) -> bool:
    name = f"torch.nn.{type(sub).__name__}"
    if not type(sub).__module__.startswith("torch.nn.modules.") or sub._modules:
        return False
    if name in _PER_SAMPLE:
        return True
    if name in _BATCH_NORMS:
        return getattr(sub, "running_mean", None) is not None  # without: the batch's own statistics
    if name in _DIM_LAYERS:
        dim = getattr(sub, "start_dim", getattr(sub, "dim", None))
        return isinstance(dim, int) and dim >= 1
    return False


def _op(node: fx.Node) -> bool:
    if any(isinstance(a, fx.Node) and a.op == "get_attr" for a in node.all_input_nodes):
        return False
    if node.op == "call_method":
        name = str(node.target)
        rule = METHODS.get(name)
    else:
        name = getattr(node.target, "__name__", "")
        rule = FUNCTIONS.get(node.target)
    if rule is None:
        return False  # no block: the walk says so, on whichever sample
    if name == "flatten":
        start = _literal(node, 1, "start_dim", 0)
        end = _literal(node, 2, "end_dim", -1)
        return isinstance(start, int) and start >= 1 and isinstance(end, int)
    return rule not in _BATCH_RULES


def _literal(node: fx.Node, index: int, name: str, default: Any) -> Any:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)
