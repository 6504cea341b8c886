"""Fused sorted dispatch for experts that are plain MLPs (Linear and elementwise activations).

When every expert is the same chain (an ``nn.Sequential``, or a ModuleDef compiled to a GraphNet
whose nodes run one after another) of ``nn.Linear`` layers of equal shapes and elementwise
activations of equal settings, the whole dispatch (gather the routed slots sorted by expert,
every expert's layers, weight and ``index_add_`` back per token) runs as ONE autograd node. Forward and backward are hand-written loops of matrix products over each
expert's contiguous slice of shared buffers, so per expert there is no autograd node, no
allocation of activations and no ``torch.cat``; the activations run once over all slots.

Where every token has the same k slots (the top-k gates), the results come back per token with
one gather and a batched k-term dot product (``bmm``), and the backward gathers each slot's
output gradient and scales it in place: no scatter (``index_add_``), which is slow on CPUs and
serialises on many threads. ``nn.GELU`` runs with its derivative called directly (no autograd
graph); bias gradients are one matrix-vector product per expert.

The parameters stay in the experts (state_dict names unchanged) and receive exactly the
gradients the per-expert modules would; an expert that gets no slot keeps ``grad`` None, as in the
unfused sorted loop. Anything else (other layer types, hooks, mixed dtypes, differing chains,
autocast, torch.compile tracing) returns None from :func:`mlp_chain` and the caller uses the
per-expert module loop. The backward is once-differentiable: a double backward through a fused
dispatch (``create_graph=True``) raises; use ``dispatch="static"`` for that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.autograd.function import once_differentiable

# Activations that act on each element alone, so running one over all experts' slots at once
# equals running it on each expert's slice (their settings must match across experts).
ELEMENTWISE = (
    nn.ReLU,
    nn.GELU,
    nn.SiLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.LeakyReLU,
    nn.ELU,
    nn.Softplus,
    nn.Mish,
    nn.Hardswish,
    nn.Identity,
)


@dataclass
class MlpChain:
    """The shared layer chain: per step either the Linear of every expert or one activation."""

    steps: list[nn.Module | list[nn.Linear]]
    params: list[torch.Tensor]  # weight (and bias) of every Linear step, expert by expert

    @property
    def out_features(self) -> int:
        last = next(s for s in reversed(self.steps) if isinstance(s, list))
        return last[0].out_features


def mlp_chain(experts: nn.ModuleList, tokens: torch.Tensor) -> MlpChain | None:
    """The experts as one MLP chain, or None where the fused path does not apply."""
    hooks = nn.modules.module
    if len(experts) == 0 or any(
        (hooks._global_forward_hooks, hooks._global_forward_pre_hooks, hooks._global_backward_hooks,
         hooks._global_backward_pre_hooks)
    ):  # fmt: skip
        return None
    if torch.is_autocast_enabled(tokens.device.type) or torch.compiler.is_compiling():
        return None  # autocast picks per-op dtypes the hand-written loops would not; compile traces modules
    layers = [_chain_layers(e) for e in experts]
    if any(chain is None or len(chain) != len(layers[0] or ()) for chain in layers):
        return None
    steps: list[nn.Module | list[nn.Linear]] = []
    params: list[torch.Tensor] = []
    for column in zip(*layers, strict=True):
        if any(_hooked(m) for m in column):
            return None
        first = column[0]
        if type(first) is nn.Linear:
            linears = _same_linears(column, tokens)
            if linears is None:
                return None
            steps.append(linears)
            for lin in linears:
                params.append(lin.weight)
                if lin.bias is not None:
                    params.append(lin.bias)
        elif isinstance(first, ELEMENTWISE) and _same_activations(column):
            steps.append(first)
        else:
            return None
    if not any(isinstance(s, list) for s in steps):
        return None
    return MlpChain(steps, params)


def _hooked(module: nn.Module) -> bool:
    """Hooks must see the module run, so a hooked expert or layer takes the module loop."""
    return bool(
        module._forward_hooks or module._forward_pre_hooks or module._backward_hooks or module._backward_pre_hooks
    )


def _same_activations(column: tuple[nn.Module, ...]) -> bool:
    """Same class and same public settings (approximate, negative_slope, beta...), not in place."""
    first = column[0]
    if getattr(first, "inplace", False):
        return False
    names = [k for k in vars(first) if not k.startswith("_") and k != "training"]
    settings = [getattr(first, k) for k in names]
    return all(type(m) is type(first) and [getattr(m, k) for k in names] == settings for m in column)


def _chain_layers(expert: nn.Module) -> list[nn.Module] | None:
    """The layers of an expert that is a plain chain: an ``nn.Sequential``, or a compiled ModuleDef
    (GraphNet) whose plan feeds its one input through single-input, single-output steps in order."""
    if _hooked(expert):
        return None
    if type(expert) is nn.Sequential:
        return list(expert)
    chain = getattr(expert, "chain", None)
    return chain() if type(expert).__name__ == "GraphNet" and chain is not None else None


def _same_linears(column: tuple[nn.Module, ...], tokens: torch.Tensor) -> list[nn.Linear] | None:
    first = column[0]
    assert isinstance(first, nn.Linear)
    has_bias = first.bias is not None
    shape, dtype, device = first.weight.shape, tokens.dtype, tokens.device
    for m in column:
        if type(m) is not nn.Linear or (m.bias is not None) != has_bias:
            return None
        weight = m.weight
        if weight.shape != shape or weight.dtype != dtype or weight.device != device:
            return None
    return list(column)  # type: ignore[arg-type]


def run_mlp_chain(
    chain: MlpChain,
    tokens: torch.Tensor,
    weight: torch.Tensor,
    token_idx: torch.Tensor,
    expert_idx: torch.Tensor,
    sizes: list[int],
    order: torch.Tensor | None = None,
) -> torch.Tensor:
    """out[t] = Σ over slots s of token t: weight[s] · expert_s(tokens[t]); slots sorted by expert,
    ``sizes[e]`` slots for expert e (``expert_idx`` the sorted expert of each slot). One autograd node for the whole dispatch.

    ``order`` given: every token has the same number k of slots, ``order`` sorts the slots taken
    in token order (token t's j-th slot is t·k + j) by expert, and ``weight`` is [T, k] in token
    order; the results then come back per token with one gather and a batched k-term dot product
    (``bmm``) instead of a scatter (``index_add_``), and the backward likewise."""
    return _FusedDispatch.apply(tokens, weight, token_idx, expert_idx, sizes, order, chain.steps, *chain.params)


class _FusedDispatch(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        tokens: torch.Tensor,
        weight: torch.Tensor,
        token_idx: torch.Tensor,
        expert_idx: torch.Tensor,
        sizes: list[int],
        order: torch.Tensor | None,
        steps: list[nn.Module | list[nn.Linear]],
        *params: torch.Tensor,
    ) -> torch.Tensor:
        x = tokens.index_select(0, token_idx)
        inputs: list[torch.Tensor] = []  # input of each Linear step
        acts: list[tuple[torch.Tensor, torch.Tensor | None]] = []  # (input, output) of each activation
        for step in steps:
            if isinstance(step, list):
                inputs.append(x)
                x = _linear_forward(step, x, sizes)
            elif type(step) is nn.GELU:  # the usual expert activation: its derivative directly, no graph
                acts.append((x, None))
                x = torch.nn.functional.gelu(x, approximate=step.approximate)
            else:
                with torch.enable_grad():  # a small graph over all slots, for the backward
                    pre = x.detach().requires_grad_(True)
                    post = step(pre)
                acts.append((pre, post))
                x = post.detach()
        if order is None:
            out = torch.zeros(tokens.shape[0], x.shape[1], dtype=tokens.dtype, device=tokens.device)
            out.index_add_(0, token_idx, x * weight.unsqueeze(-1))
            inverse = order
            sorted_weight = weight
        else:  # back in token order: [T, k, D], mixed by each token's k weights
            inverse = torch.empty_like(order).scatter_(0, order, torch.arange(order.numel(), device=order.device))
            x = x.index_select(0, inverse).view(weight.shape[0], weight.shape[1], -1)
            out = torch.bmm(weight.unsqueeze(1), x).squeeze(1)
            sorted_weight = weight.reshape(-1).index_select(0, order)
        ctx.save_for_backward(token_idx, sorted_weight, x, order, inverse)
        ctx.steps, ctx.inputs, ctx.acts, ctx.sizes = steps, inputs, acts, sizes
        ctx.token_count = tokens.shape[0]
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        token_idx, sorted_weight, expert_out, order, inverse = ctx.saved_tensors
        if order is None:
            rows = grad_out.index_select(0, token_idx)
            grad_weight = (rows * expert_out).sum(dim=-1) if ctx.needs_input_grad[1] else None
            grad = rows * sorted_weight.unsqueeze(-1)
        else:  # expert_out: [T, k, D] in token order; [T, 1, D] x [T, D, k] is the fast layout for bmm
            grad_weight = None
            if ctx.needs_input_grad[1]:
                grad_weight = torch.bmm(grad_out.unsqueeze(1), expert_out.transpose(1, 2)).squeeze(1)
            grad = grad_out.index_select(0, token_idx).mul_(sorted_weight.unsqueeze(-1))
        inputs, acts = list(ctx.inputs), list(ctx.acts)
        param_grads: list[list[torch.Tensor | None]] = []
        for i, step in reversed(list(enumerate(ctx.steps))):
            if isinstance(step, list):
                need_input = i > 0 or ctx.needs_input_grad[0]
                grad, grads = _linear_backward(step, inputs.pop(), grad, ctx.sizes, need_input)
                param_grads.append(grads)
            else:
                pre, post = acts.pop()
                if post is None:  # nn.GELU
                    grad = torch.ops.aten.gelu_backward(grad, pre, approximate=step.approximate)
                else:
                    (grad,) = torch.autograd.grad(post, pre, grad)
        grad_tokens = None
        if ctx.needs_input_grad[0] and order is None:
            grad_tokens = torch.zeros(ctx.token_count, grad.shape[1], dtype=grad.dtype, device=grad.device)
            grad_tokens.index_add_(0, token_idx, grad)
        elif ctx.needs_input_grad[0]:  # each token's k slots, gathered and summed
            grad_tokens = grad.index_select(0, inverse).view(ctx.token_count, -1, grad.shape[1]).sum(dim=1)
        flat = [g for grads in reversed(param_grads) for g in grads]
        return (grad_tokens, grad_weight, None, None, None, None, None, *flat)


def _linear_forward(linears: list[nn.Linear], x: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    y = torch.empty(x.shape[0], linears[0].out_features, dtype=x.dtype, device=x.device)
    for lin, n, x_e, y_e in zip(linears, sizes, x.split(sizes), y.split(sizes), strict=True):
        if n == 0:
            continue
        if lin.bias is None:
            torch.mm(x_e, lin.weight.t(), out=y_e)
        else:
            torch.addmm(lin.bias, x_e, lin.weight.t(), out=y_e)
    return y


def _linear_backward(
    linears: list[nn.Linear],
    x: torch.Tensor,
    grad: torch.Tensor,
    sizes: list[int],
    need_input: bool,
) -> tuple[torch.Tensor | None, list[torch.Tensor | None]]:
    """(gradient of the step's input, gradients of weight/bias per expert in parameter order)."""
    grad_x = torch.empty_like(x) if need_input else None
    with_bias = linears[0].bias is not None
    ones = grad.new_ones(grad.shape[0]) if with_bias else None  # a bias gradient is its slots' sum: a gemv
    grad_xs = grad_x.split(sizes) if grad_x is not None else [None] * len(sizes)
    ones_e = ones.split(sizes) if ones is not None else [None] * len(sizes)
    grads: list[torch.Tensor | None] = []
    for lin, n, x_e, g_e, gx_e, o_e in zip(linears, sizes, x.split(sizes), grad.split(sizes), grad_xs, ones_e):
        if n == 0:  # an expert without slots gets no gradient, as if it never ran
            grads.extend([None, None] if with_bias else [None])
            continue
        grads.append(torch.mm(g_e.t(), x_e))
        if o_e is not None:
            grads.append(torch.mv(g_e.t(), o_e))
        if gx_e is not None:
            torch.mm(g_e, lin.weight, out=gx_e)
    return grad_x, grads
