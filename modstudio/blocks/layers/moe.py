"""Mixture of experts over the last dimension, for any leading shape.

Gates (the router runs in fp32, as Switch does):
- ``topk``: softmax over the k largest logits (Mixtral: softmax, top-k, renormalise — the same).
- ``noisy_topk``: Shazeer et al. 2017, H = xW_g + N(0,1)·softplus(xW_noise), noise only while
  training, G = softmax(KeepTopK(H, k)).
- ``switch``: Fedus et al. 2021, top-1 with weight p_i(x) from the full softmax; each expert takes
  at most C = ceil(capacity_factor·T/E) tokens in token order; the rest pass through unchanged
  (residual) and are counted as dropped.
- ``expert_choice``: Zhou et al. 2022, S = softmax(xW_g) [T, E]; each expert takes its top
  C = min(T, ceil(capacity_factor·T/E)) tokens, weighted by S. Tokens no expert picks come
  out as zeros (``unpicked="zero"``, the default) or as their input (``unpicked="pass_through"``).

Dispatch:
- ``sorted`` (default): argsort the routed slots by expert, run each expert once on its
  contiguous slice, combine with ``index_add_`` (top-k gates on the fused path: a gather and a
  k-term ``bmm`` per token). Cost grows with T·k, not with E. Experts that are all the same
  Linear/activation chain run fused (``moe_fused``: one autograd node).
- ``static``: ``for e, expert in enumerate(self.experts)`` over all tokens with a dense
  combine matrix; no data-dependent shapes, so ``torch.jit.script``, ``torch.export`` and ONNX
  accept it. Same outputs and gradients as ``sorted`` (tested); cost grows with E.

Auxiliary losses (each times its weight, stored in ``self.aux_losses`` after a training forward):
- ``load_balance`` = E · Σ_i f_i · P_i, f_i = share of the T·k routed slots (before capacity
  dropping) sent to expert i, P_i = mean over tokens of the *full* softmax probability of i
  (for the noisy gate, the softmax of the noisy logits H that did the routing).
- ``z_loss`` = mean over tokens of logsumexp(logits)² (the clean router logits).
- ``importance`` (noisy gates) = CV(Σ_x G(x))² + CV(Load)², CV² = population variance / mean²,
  Load_i = Σ_x Φ((clean_i(x) − threshold_i(x)) / noise_std_i(x)), Shazeer's smooth load.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .moe_fused import mlp_chain, run_mlp_chain
from .routing import RoutingProbe
from .static_routing import GATES as GATES  # the gates, for those who import them from here
from .static_routing import MixtureOfExpertsLayer


class MixtureOfExperts(MixtureOfExpertsLayer):
    """Routes each token (vector over the last dimension) to experts and mixes their outputs;
    the constructor is ``MixtureOfExpertsLayer``'s, plus ``dispatch`` (``sorted`` or ``static``)."""

    def __init__(self, *args: Any, dispatch: str = "sorted", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dispatch = dispatch
        self.probe = RoutingProbe(self.num_experts, "moe")

    def extra_repr(self) -> str:
        return f"gate={self.gate}, experts={self.num_experts}, k={self.k}, dispatch={self.dispatch}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        tokens = x.reshape(-1, x.shape[-1])
        logits, scores, noise_std = self.router_scores(tokens)
        probs = scores.softmax(dim=-1)
        combine, picked = self._combine(scores, probs)
        if self.dispatch == "static" or torch.jit.is_scripting():
            out = self.run_static(tokens, combine)
        else:
            out = self._run_sorted(tokens, combine, picked)
        out = self.pass_dropped(tokens, combine, out)
        if not torch.jit.is_scripting():
            self._after_forward(x, tokens, logits, scores, probs, noise_std, combine, picked)
        return out.reshape(list(lead) + [self.out_dim]).to(x.dtype)  # noqa: RUF005 (TorchScript has no [*a, b])

    # ---------------------------------------------------------------- dispatch

    @torch.jit.unused
    def _run_sorted(self, tokens: torch.Tensor, combine: torch.Tensor, picked: torch.Tensor) -> torch.Tensor:
        """Sort the routed slots by expert; each expert runs once on its contiguous slice."""
        token_idx, expert_idx = self._slots(combine, picked)
        per_token = self.k if self.gate in ("topk", "noisy_topk") else 0  # k slots for every token
        return run_sorted(self.experts, tokens, combine, token_idx, expert_idx, self.out_dim, per_token)

    @torch.jit.unused
    def _slots(self, combine: torch.Tensor, picked: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(token, expert) of every routed slot that is kept."""
        tokens, experts = combine.shape
        if self.gate == "expert_choice":
            return picked.t().reshape(-1), torch.arange(experts, device=picked.device).repeat_interleave(
                picked.shape[0]
            )
        token_idx = torch.arange(tokens, device=picked.device).repeat_interleave(picked.shape[1])
        expert_idx = picked.reshape(-1)
        if self.gate == "switch":
            kept = combine[token_idx, expert_idx] > 0
            return token_idx[kept], expert_idx[kept]
        return token_idx, expert_idx

    # ------------------------------------------------------ aux losses, probe

    @torch.jit.unused
    def _after_forward(
        self,
        x: torch.Tensor,
        tokens: torch.Tensor,
        logits: torch.Tensor,
        scores: torch.Tensor,
        probs: torch.Tensor,
        noise_std: torch.Tensor,
        combine: torch.Tensor,
        picked: torch.Tensor,
    ) -> None:
        training = self.training and tokens.shape[0] > 0  # an empty batch has no losses to balance
        self.aux_losses = self.auxiliary_losses(logits, scores, probs, noise_std, combine, picked) if training else {}
        if self.probe.enabled:
            self._record(x, probs, combine, picked, logits)
        if self.probe.capture:  # the router's first choice, before any capacity limit
            self.probe.keep_choice(scores.argmax(dim=-1))

    def _record(
        self, x: torch.Tensor, probs: torch.Tensor, combine: torch.Tensor, picked: torch.Tensor, logits: torch.Tensor
    ) -> None:
        """Keep this step's routing for the probe (probes on may cost at most 3% of a train
        step): the facts are computed at ``take()``, over all steps kept meanwhile at once."""
        probe = self.probe
        tokens, experts = probs.shape
        if self.gate in ("switch", "expert_choice"):
            probe.defer(_facts_with_drops, x.shape[0], probs=probs, combine=combine, logits=logits)
        else:  # top-k gates: every token goes to its k distinct picks, nothing is dropped
            probe.defer(_facts_of_choices, x.shape[0], probs=probs, picked=picked, logits=logits)
            probe.add("dropped_tokens", 0.0)
        if self.gate == "expert_choice":
            probe.add("slots", float(experts * min(tokens, math.ceil(self.capacity_factor * tokens / experts))))
        else:
            probe.add("slots", float(tokens * self.k))
        probe.add("routed_tokens", float(tokens))
        for name, value in self.aux_losses.items():
            probe.add(f"aux_{name}", value)
        probe.step_done()


def _entropy_and_mean(probs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Router entropy -Σ p log p per token and the mean gate probability P_i, each summed over
    the steps of ``probs`` [steps, tokens, experts] (the tiny shift makes 0·log 0 = 0)."""
    tokens = max(probs.shape[1], 1)
    flat = probs.reshape(-1)
    log_p = flat.clamp_min(1e-30).log_()  # two passes; the dot below is one more (no [S, T, E] product)
    return {
        "entropy": torch.dot(flat, log_p).div_(-tokens),
        "mean_prob": probs.sum(dim=(0, 1)).div_(tokens),
    }


def _router_facts(probs: torch.Tensor, logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """What the MoE doctor reads, each a per-step mean summed over the stacked steps:
    ``confidence`` (mean top probability, Flaxformer's router_confidence), ``saturated`` (share
    of tokens whose top probability is above 0.99) and ``router_z`` (mean logsumexp(logits)²,
    the z-loss before its weight)."""
    top = probs.amax(dim=-1)
    return {
        "confidence": top.mean(dim=-1).sum(),
        "saturated": (top > 0.99).float().mean(dim=-1).sum(),
        "router_z": torch.logsumexp(logits.float(), dim=-1).square().mean(dim=-1).sum(),
    }


def _facts_of_choices(
    probe: RoutingProbe,
    labels: torch.Tensor | None,
    regions: torch.Tensor | None,
    probs: torch.Tensor,
    picked: torch.Tensor,
    logits: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Top-k gates, over stacked steps: ``picked`` [steps, tokens, k] expert ids."""
    experts = probs.shape[-1]
    flat = picked.reshape(-1)

    def cells(values: torch.Tensor, count: int) -> torch.Tensor:
        of_pick = values.reshape(-1).to(flat.device).long().repeat_interleave(flat.numel() // values.numel())
        return torch.bincount(of_pick * experts + flat, minlength=count * experts)[: count * experts].view(count, -1)

    facts = {
        "tokens_per_expert": torch.bincount(flat, minlength=experts),
        **_entropy_and_mean(probs),
        **_router_facts(probs, logits),
    }
    return facts | probe.label_counts(labels, regions, cells)


def _facts_with_drops(
    probe: RoutingProbe,
    labels: torch.Tensor | None,
    regions: torch.Tensor | None,
    probs: torch.Tensor,
    combine: torch.Tensor,
    logits: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Switch and expert-choice gates, over stacked steps: a token counts for an expert where
    ``combine`` [steps, tokens, experts] kept it; a token no expert kept is dropped.
    ``demand_per_expert``: each token's first choice before any capacity limit (dropped before
    vs after capacity)."""
    experts = probs.shape[-1]
    routed = combine > 0

    def cells(values: torch.Tensor, count: int) -> torch.Tensor:
        flat = values.reshape(-1).to(routed.device).long()
        per_sample = routed.reshape(flat.numel(), -1, experts).sum(dim=1, dtype=torch.float32)
        return torch.zeros(count, experts, device=routed.device).index_add_(0, flat, per_sample)

    facts = {
        "tokens_per_expert": routed.sum(dim=(0, 1)),
        "dropped_tokens": (~routed.any(dim=-1)).sum(),
        "demand_per_expert": torch.bincount(probs.argmax(dim=-1).reshape(-1), minlength=experts),
        **_entropy_and_mean(probs),
        **_router_facts(probs, logits),
    }
    return facts | probe.label_counts(labels, regions, cells)


def run_sorted(
    experts: nn.ModuleList,
    tokens: torch.Tensor,
    combine: torch.Tensor,
    token_idx: torch.Tensor,
    expert_idx: torch.Tensor,
    out_dim: int,
    per_token: int = 0,
) -> torch.Tensor:
    """Sort the routed (token, expert) slots by expert; each expert runs once on its contiguous
    slice; results are weighted by ``combine`` and summed back per token with ``index_add_``.
    Experts that are all the same Linear/activation chain take the fused path of ``moe_fused``
    (one autograd node for the whole dispatch; same outputs and gradients).

    ``per_token``: when every token has this many slots, in token order (``token_idx`` is
    ``arange(T).repeat_interleave(per_token)``, the top-k gates), the weights are gathered per
    token ([T, k]) and the fused path mixes the results back with a gather instead of a scatter."""
    order = torch.argsort(expert_idx, stable=True)
    sorted_tokens, sorted_experts = token_idx[order], expert_idx[order]
    sizes = torch.bincount(sorted_experts, minlength=len(experts)).tolist()
    chain = mlp_chain(experts, tokens)
    if chain is not None and chain.out_features != out_dim:
        chain = None
    if per_token:
        weight = combine.gather(1, expert_idx.view(-1, per_token)).to(tokens.dtype)  # [T, k], token order
        if chain is not None:
            return run_mlp_chain(chain, tokens, weight, sorted_tokens, sorted_experts, sizes, order)
        weight = weight.reshape(-1)[order]
    else:
        weight = combine[sorted_tokens, sorted_experts].to(tokens.dtype)
        if chain is not None:
            return run_mlp_chain(chain, tokens, weight, sorted_tokens, sorted_experts, sizes)
    chunks = tokens.index_select(0, sorted_tokens).split(sizes)
    outs = [expert(chunk) for expert, chunk, n in zip(experts, chunks, sizes) if n > 0]
    out = torch.zeros(tokens.shape[0], out_dim, dtype=tokens.dtype, device=tokens.device)
    if outs:
        out.index_add_(0, sorted_tokens, torch.cat(outs) * weight.unsqueeze(-1))
    return out
