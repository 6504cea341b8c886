"""Each diagnosis is made on a constructed run with its numbers, and not on a healthy run."""

from __future__ import annotations

import math

import pytest

from modstudio.engine.doctor.diagnoses import diagnose
from modstudio.engine.doctor.live import LiveDoctor
from modstudio.engine.doctor.report import read_history
from modstudio.engine.protocol import Progress, Routing

from .runs import moe_facts, write_run

TOPK = {"gate": "topk", "k": 2, "load_balance_weight": 0.01, "z_loss_weight": 0.001, "importance_weight": 0.0}
SWITCH = {"gate": "switch", "k": 2, "capacity_factor": 1.25, "load_balance_weight": 0.01, "z_loss_weight": 0.001}
HEALTHY = [moe_facts([100.0, 95.0, 105.0, 100.0]) for _ in range(6)]


def kinds(tmp_path, reports, params=TOPK, loss=0.5, name="run"):
    history = read_history(write_run(tmp_path / name, reports, loss))
    found = diagnose(history, {"moe": params})
    return {d.kind: d for d in found}


@pytest.mark.parametrize("params", [TOPK, SWITCH])
def test_a_healthy_run_has_no_diagnosis(tmp_path, params):
    assert kinds(tmp_path, HEALTHY, params) == {}


def test_collapse_onto_two_experts_of_a_top2_layer(tmp_path):
    found = kinds(tmp_path, HEALTHY[:3] + [moe_facts([0.0, 190.0, 4.0, 206.0])] * 3)
    collapse = found["collapse"]
    assert collapse.layer == "moe" and collapse.evidence["busiest"] == [3, 1]
    assert collapse.evidence["share"] == pytest.approx(0.99)
    assert collapse.evidence["steps"] == [61, 120]  # the last third of the steps: the window
    first = collapse.fixes[0]
    assert first.kind == "raise_load_balance" and first.params == {"load_balance_weight": 0.1}
    assert {f.kind for f in collapse.fixes} == {"raise_load_balance", "add_noise", "switch_gate"}


def test_collapse_onto_few_of_many_experts(tmp_path):
    load = [300.0, 280.0, 310.0, 0.0, 2.0, 290.0, 0.0, 1.0]
    found = kinds(tmp_path, [moe_facts(load)] * 4, {**SWITCH, "k": 1})
    assert found["collapse"].evidence["busiest"] == [2, 0, 5, 1]


def test_dead_and_starving_experts_with_a_reinit_fix(tmp_path):
    found = kinds(tmp_path, [moe_facts([150.0, 150.0, 5.0, 95.0, 0.0, 120.0])] * 4)
    dead = found["dead_experts"]
    assert dead.evidence["dead"] == [4] and dead.evidence["starving"] == [2]
    reinit = dead.fixes[0]
    assert (reinit.kind, reinit.expert, reinit.source) == ("reinit_expert", 4, 0)
    assert "collapse" not in found


def test_overload_max_over_mean(tmp_path):
    found = kinds(tmp_path, [moe_facts([300.0, 100.0, 50.0, 50.0, 50.0, 50.0])] * 4, SWITCH)
    overload = found["overload"]
    assert overload.evidence["max_over_mean"] == pytest.approx(300 / 100)
    assert "raise_capacity" in {f.kind for f in overload.fixes}
    assert "overload" not in kinds(tmp_path, [moe_facts([150.0, 100.0, 80.0, 70.0])] * 4, SWITCH, name="fine")


def test_tokens_dropped_before_and_after_capacity(tmp_path):
    report = moe_facts([125.0, 100.0, 100.0, 75.0], dropped_tokens=60.0, routed_tokens=400.0,
                       demand_per_expert=[185.0, 100.0, 40.0, 75.0])  # fmt: skip
    dropped = kinds(tmp_path, [report] * 4, SWITCH)["tokens_dropped"]
    assert dropped.evidence["dropped_after"] == pytest.approx(0.15)
    # capacity 1.25 x 100 per expert: expert 0 asked for 185, 60 over
    assert dropped.evidence["overflow_before"] == pytest.approx(60 / 400)
    fix = dropped.fixes[0]
    assert fix.kind == "raise_capacity" and fix.params["capacity_factor"] >= 1.85 * 1.1
    assert "tokens_dropped" not in kinds(tmp_path, [moe_facts([100.0] * 4, dropped_tokens=1.0)] * 4, SWITCH, name="b")


def test_router_entropy_too_low_for_k_and_too_high(tmp_path):
    low = kinds(tmp_path, [moe_facts([100.0] * 4, entropy=0.2)] * 4, name="low")
    assert low["entropy_low"].evidence["limit"] == pytest.approx(0.5 * math.log(2), abs=1e-4)
    high = kinds(tmp_path, [moe_facts([100.0] * 4, entropy=1.35)] * 4, name="high")
    assert "entropy_high" in high and "entropy_low" not in high
    assert {"entropy_low", "entropy_high"}.isdisjoint(kinds(tmp_path, [moe_facts([100.0] * 4, entropy=0.6)] * 4))


def test_z_loss_growth(tmp_path):
    reports = [moe_facts([100.0] * 4, router_z=z) for z in (2.0, 2.5, 6.0, 12.0, 20.0, 30.0)]
    growth = kinds(tmp_path, reports)["z_loss_growth"]
    assert growth.evidence["z_first"] == pytest.approx(2.25) and growth.evidence["z_last"] == pytest.approx(
        (12 + 20 + 30) / 3, abs=1e-4
    )
    assert growth.fixes[0].kind == "add_z_loss" and growth.fixes[0].params == {"z_loss_weight": 0.01}
    flat = [moe_facts([100.0] * 4, router_z=z) for z in (9.0, 10.0, 11.0, 12.0, 12.0, 13.0)]
    assert "z_loss_growth" not in kinds(tmp_path, flat, name="flat")


def test_auxiliary_loss_dominating_the_task_loss(tmp_path):
    heavy = [moe_facts([100.0] * 4, aux_load_balance=0.9)] * 4
    found = kinds(tmp_path, heavy, loss=1.2)["aux_dominates"]
    assert found.evidence["task_loss"] == pytest.approx(1.2 - 0.902)
    assert found.fixes[0].params == {"load_balance_weight": 0.001}


def test_gate_saturation(tmp_path):
    found = kinds(tmp_path, [moe_facts([100.0] * 4, saturated=0.97, confidence=0.995)] * 4)["gate_saturation"]
    assert found.evidence["saturated"] == pytest.approx(0.97)
    assert [f.kind for f in found.fixes] == ["add_z_loss", "add_noise"]


def test_an_old_run_without_the_new_facts_is_read(tmp_path):
    old = {
        k: v for k, v in moe_facts([0.0, 400.0, 0.0, 0.0]).items() if k not in ("confidence", "saturated", "router_z")
    }
    assert set(kinds(tmp_path, [old] * 3)) == {"collapse", "dead_experts"}


def test_hierarchical_levels(tmp_path):
    facts = moe_facts([50.0, 50.0, 50.0, 50.0, 0.0, 0.0, 0.0, 0.0], kind="hierarchical_moe",
                      tokens_per_group=[200.0, 0.0], group_entropy=0.3)  # fmt: skip
    history = read_history(write_run(tmp_path / "h", [facts] * 3))
    found = diagnose(history, {"moe": {"groups": 2, "k_groups": 1, "k": 1, "load_balance_weight": 0.01}})
    levels = {(d.kind, d.level) for d in found}
    assert ("collapse", "groups") in levels and ("dead_experts", "experts") in levels


def test_live_messages_give_the_same_diagnoses_as_the_files(tmp_path):
    reports = HEALTHY[:3] + [moe_facts([0.0, 190.0, 4.0, 206.0])] * 3
    from_files = diagnose(read_history(write_run(tmp_path / "r", reports)), {"moe": TOPK})
    live = LiveDoctor()
    for i, facts in enumerate(reports, start=1):
        live.feed(Progress(epoch=1, step=20 * i, steps=100, loss=0.5, global_step=20 * i))
        assert live.feed(Routing(probes={"moe": facts}, step=20 * i))
    assert live.feed(Routing(probes={"moe": HEALTHY[0]}, kind="test", step=200)) is False
    assert live.diagnoses({"moe": TOPK}) == from_files
