"""``noisy_copy``: the copy plus noise that expert surgery's clone and the doctor's re-initialisation share."""

from __future__ import annotations

import torch

from modstudio.engine.doctor.fixes import Fix
from modstudio.engine.doctor.reinit import reinitialised
from modstudio.engine.surgery.experts import noisy_copy


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_a_tensor_that_is_not_floating_point_is_copied_exactly_and_draws_nothing():
    counts = torch.tensor([7, 100, -3], dtype=torch.int64)
    mask = torch.tensor([True, False, True])
    gen = generator()
    assert torch.equal(noisy_copy(counts, 0.5, gen), counts)
    assert torch.equal(noisy_copy(mask, 0.5, gen), mask)
    assert noisy_copy(counts, 0.5, gen).dtype == torch.int64
    untouched = generator()
    assert torch.equal(torch.randn(4, generator=gen), torch.randn(4, generator=untouched))


def test_the_copy_is_a_new_tensor():
    value = torch.ones(3, dtype=torch.int32)
    copy = noisy_copy(value, 0.1, generator())
    copy += 1
    assert torch.equal(value, torch.ones(3, dtype=torch.int32))


def test_the_noise_scales_with_the_spread_of_the_values():
    base = torch.randn(20_000, generator=generator(1))
    for scale in (1.0, 1000.0):
        value = base * scale
        added = noisy_copy(value, 0.01, generator()) - value
        assert abs(float(added.std()) / (0.01 * float(value.std())) - 1) < 0.05


def test_a_single_value_gets_noise_relative_to_its_magnitude():
    added = [float(noisy_copy(torch.tensor([500.0]), 0.01, generator(seed))[0]) - 500.0 for seed in range(400)]
    spread = float(torch.tensor(added).std())
    assert 0.8 * 5.0 < spread < 1.2 * 5.0


def test_no_noise_leaves_the_values_and_an_empty_tensor_stays_empty():
    value = torch.randn(3, 4, generator=generator(2))
    assert torch.equal(noisy_copy(value, 0.0, generator()), value)
    assert noisy_copy(torch.empty(0), 0.1, generator()).shape == (0,)


def test_the_same_generator_seed_gives_the_same_copy():
    value = torch.randn(8, 8, generator=generator(3))
    first, again = noisy_copy(value, 0.1, generator(5)), noisy_copy(value, 0.1, generator(5))
    assert torch.equal(first, again)
    assert not torch.equal(first, noisy_copy(value, 0.1, generator(6)))


def test_float64_stays_float64_with_its_precision():
    value = torch.full((1000,), 1.0, dtype=torch.float64) + torch.arange(1000, dtype=torch.float64) * 1e-12
    copy = noisy_copy(value, 0.0, generator())
    assert copy.dtype == torch.float64 and torch.equal(copy, value)  # float32 would round the 1e-12 steps away
    assert noisy_copy(value, 0.1, generator()).dtype == torch.float64


def test_half_precision_keeps_its_dtype():
    for dtype in (torch.float16, torch.bfloat16):
        assert noisy_copy(torch.randn(16, generator=generator()).to(dtype), 0.1, generator()).dtype == dtype


def test_the_doctor_copies_an_experts_counts_exactly():
    state = {
        "moe.experts.0.w": torch.randn(4, 4, generator=generator(4)),
        "moe.experts.0.seen": torch.tensor(1234, dtype=torch.int64),
        "moe.experts.1.w": torch.zeros(4, 4),
        "moe.experts.1.seen": torch.tensor(0, dtype=torch.int64),
        "moe.router.weight": torch.randn(2, 4, generator=generator(5)),
    }
    out = reinitialised(state, Fix("reinit_expert", "moe", "", expert=1, source=0), 0.01)
    assert torch.equal(out["moe.experts.1.seen"], state["moe.experts.0.seen"])
    assert not torch.equal(out["moe.experts.1.w"], state["moe.experts.0.w"])
    assert torch.allclose(out["moe.experts.1.w"], state["moe.experts.0.w"], atol=0.2)
