"""Every threshold the MoE doctor uses, in one place, with what it means.

Routing facts come from the probes (``routing.jsonl`` or live ``routing`` messages); a diagnosis
looks at the *window*: the reports of the last ``window`` share of the training steps (at least the
last report), summed (token counts) or averaged over steps (rates). Shares are of the routed slots
(T·k for top-k gates), so a top-2 router that sends every token to the same two experts gives each
of them 50%.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    window: float = 1 / 3  # the last third of the steps is what a diagnosis looks at
    # collapse: the k busiest experts (k = experts per token) take this share of the slots, with more than k experts
    collapse_share: float = 0.9
    # ... or routing uses at most this fraction of the experts (with more than 2k experts): the others get
    # less than ``starving_utilization`` of a fair share (module collapse: only a few modules are used)
    collapse_active: float = 0.5
    # dead: an expert with no slot in the window; starving: load below this fraction of its fair share (T·k/E)
    starving_utilization: float = 0.1
    # overload: the busiest expert's load over the mean load (Megatron's max/mean)
    overload_max_over_mean: float = 2.0
    # tokens dropped: share of tokens no expert kept after capacity (Flaxformer's fraction_tokens_left_behind)
    dropped_share: float = 0.01
    # router entropy (nats, mean per token) too low for k > 1: below this fraction of log k
    # (the k picks' weights are dominated by one expert, the other k-1 add almost nothing)
    entropy_low_of_log_k: float = 0.5
    # too high: above this fraction of log E (the router is close to uniform: it does not choose)
    entropy_high_of_log_e: float = 0.95
    # z-loss growth: the router's logsumexp² grew by this factor from the first to the last window ...
    z_growth_factor: float = 4.0
    # ... and ended above this value (logits of e^2 and more: bf16 round-off grows, softmax saturates)
    z_min: float = 10.0
    # auxiliary loss dominating: a layer's weighted auxiliary losses over the task loss
    aux_over_task: float = 1.0
    # gate saturation: share of tokens whose top router probability is above 0.99 (Flaxformer's
    # router_confidence, counted per token): the router's softmax no longer passes a gradient
    saturated_share: float = 0.9
    # a reinitialised expert's tensors: a copy of a live one plus normal noise of this fraction of each tensor's std
    reinit_noise: float = 0.01


DEFAULT = Thresholds()
