"""Mixtral's measure against a hand-computed case, and the pass over a network that sees sequences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modstudio.engine.doctor.sequences import random_baselines, sequence_routing


def test_random_baselines():
    assert random_baselines(8, 1)[0] == pytest.approx(0.125)
    assert random_baselines(8, 2)[1] == pytest.approx(1 - 15 / 28)  # Mixtral's 46%
    assert random_baselines(4, 4)[1] == 1.0


def test_consecutive_tokens_hand_computed():
    # two sequences of 4 tokens, top-2 over 4 experts; first choices 0 0 1 1 and 2 3 2 2
    choices = np.array([[[0, 1], [0, 2], [1, 3], [1, 0]], [[2, 0], [3, 1], [2, 1], [2, 3]]])
    found = sequence_routing("moe", choices, 4, tokens=np.array([[5, 5, 7, 7], [5, 9, 9, 9]]))
    assert found.pairs == 6
    # first choice repeated: (0,0) yes, (0,1) no, (1,1) yes | (2,3) no, (3,2) no, (2,2) yes -> 3 of 6
    assert found.first_same == pytest.approx(3 / 6)
    # share one of the two: {0,1}&{0,2} yes, {0,2}&{1,3} no, {1,3}&{1,0} yes | {2,0}&{3,1} no, {3,1}&{2,1} yes,
    # {2,1}&{2,3} yes -> 4 of 6
    assert found.any_same == pytest.approx(4 / 6)
    assert found.baseline_first == pytest.approx(0.25) and found.baseline_any == pytest.approx(1 - 1 / 6)
    assert found.by_position[0] == [1, 0, 1, 0] and found.by_position[3] == [0, 1, 1, 0]
    assert found.by_token == {5: [2, 0, 1, 0], 9: [0, 0, 2, 1], 7: [0, 2, 0, 0]}
    assert "consecutive tokens on the same first expert 50.0% (random routing 25.0%, 6 pairs)" in found.lines()[0]


def test_the_pass_reads_a_top2_moe_over_sequences():
    from modstudio.blocks.layers.moe import MixtureOfExperts
    from modstudio.engine.doctor.sequence_pass import sequence_choices

    torch.manual_seed(0)
    experts = [torch.nn.Linear(3, 3) for _ in range(4)]
    moe = MixtureOfExperts(3, experts, gate="topk", k=2).eval()
    net = torch.nn.Sequential()
    net.add_module("moe", moe)
    x = torch.randint(0, 2, (10, 6, 1)).float().expand(10, 6, 3).contiguous()
    (found,) = sequence_choices(net, x, batch=4)
    scores = moe.router_scores(x.reshape(-1, 3))[1]
    picks = scores.topk(2, dim=-1).indices.reshape(10, 6, 2).numpy()
    expected = sequence_routing("moe", picks, 4)
    assert (found.first_same, found.any_same, found.pairs) == (expected.first_same, expected.any_same, 50)
    assert found.by_token == {}  # three features: not token ids
