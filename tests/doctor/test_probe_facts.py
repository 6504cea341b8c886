"""The probe facts the doctor added: router z, confidence, saturation, first-choice demand."""

from __future__ import annotations

import pytest
import torch

from modstudio.blocks.layers.moe import MixtureOfExperts


@pytest.mark.parametrize("gate", ["topk", "switch"])
def test_new_facts_match_the_router_over_two_steps(gate):
    torch.manual_seed(0)
    moe = MixtureOfExperts(4, [torch.nn.Linear(4, 4) for _ in range(4)], gate=gate, k=2, capacity_factor=1.0)
    moe.probe.enabled = True
    batches = [torch.randn(32, 4) * 3, torch.randn(32, 4) * 3]
    for x in batches:
        moe(x)
    facts = moe.probe.take()
    with torch.no_grad():
        logits = [moe.router_scores(x)[0] for x in batches]
    probs = [lg.softmax(-1) for lg in logits]
    z = sum(float(torch.logsumexp(lg, -1).square().mean()) for lg in logits) / 2
    confidence = sum(float(p.max(-1).values.mean()) for p in probs) / 2
    saturated = sum(float((p.max(-1).values > 0.99).float().mean()) for p in probs) / 2
    assert facts["router_z"] == pytest.approx(z, rel=1e-5)
    assert facts["confidence"] == pytest.approx(confidence, rel=1e-5)
    assert facts["saturated"] == pytest.approx(saturated, abs=1e-6)
    if gate == "switch":
        demand = sum(torch.bincount(p.argmax(-1), minlength=4) for p in probs)
        assert facts["demand_per_expert"].tolist() == demand.float().tolist()
        # capacity 8 per expert and step: what was asked for beyond it was dropped
        kept = sum(torch.clamp(torch.bincount(p.argmax(-1), minlength=4), max=8) for p in probs)
        assert facts["tokens_per_expert"].tolist() == kept.float().tolist()
    else:
        assert "demand_per_expert" not in facts
