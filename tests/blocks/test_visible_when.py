"""visible_when: a param that matters only for some values of a choice (k only for top-k gates)."""

from __future__ import annotations

import pytest

from modstudio.blocks import default_catalog
from modstudio.blocks.plugins_check import spec_problem
from modstudio.graph.schema import ParamSpec, params_that_matter, values_that_matter, visible_when_problem

CATALOG = default_catalog()


def test_every_visible_when_in_the_catalogue_names_an_existing_param_and_valid_values() -> None:
    declared = [(s.id, p.name) for s in CATALOG for p in s.params if p.visible_when is not None]
    assert ("moe", "k") in declared and ("moe", "capacity_factor") in declared
    assert {spec.id: visible_when_problem(spec.params) for spec in CATALOG} == {spec.id: None for spec in CATALOG}


def test_the_moe_shows_each_gates_own_params() -> None:
    params = CATALOG["moe"].params

    def shown(gate: str) -> set[str]:
        return {p.name for p in params_that_matter(params, {"gate": gate})}

    assert {"k", "load_balance_weight"} <= shown("topk") and "capacity_factor" not in shown("topk")
    assert "importance_weight" in shown("noisy_topk") and "importance_weight" not in shown("topk")
    assert "k" not in shown("switch") and "capacity_factor" in shown("switch")
    assert "load_balance_weight" not in shown("expert_choice") and "capacity_factor" in shown("expert_choice")
    assert "k" in {p.name for p in params_that_matter(params, {})}  # unset gate: its default, topk


def test_ignored_values_stay_in_the_node_but_are_not_shown() -> None:
    values = {"gate": "switch", "k": 2, "capacity_factor": 2.0, "mystery": 1}
    assert values_that_matter(CATALOG["moe"].params, values) == {"gate": "switch", "capacity_factor": 2.0, "mystery": 1}
    assert values["k"] == 2


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (("gait", ("topk",)), "visible_when names 'gait', which is not another param of the block"),
        (("gate", ("top3",)), "visible_when value 'top3' for 'gate' must be one of topk, switch, not 'top3'"),
        (("size", (1,)), "visible_when names 'size', a param of kind int (only choice or bool)"),
        (("gate", ()), "visible_when must be (param name, (values...))"),
    ],
)
def test_a_broken_visible_when_is_named(rule, message) -> None:
    params = (
        ParamSpec("gate", "choice", "topk", choices=("topk", "switch")),
        ParamSpec("size", "int", 1),
        ParamSpec("k", "int", 2, visible_when=rule),
    )
    why = visible_when_problem(params)
    assert why is not None and why.startswith("param 'k': ") and message in why


def test_a_plugin_block_with_a_broken_visible_when_is_refused() -> None:
    from dataclasses import replace

    moe = CATALOG["moe"]
    broken = replace(moe, params=(*moe.params[:3], replace(moe.params[3], visible_when=("gate", ("top1",)))))
    assert spec_problem(broken) == (
        "block 'moe': param 'k': visible_when value 'top1' for 'gate' must be one of "
        "topk, noisy_topk, switch, expert_choice, not 'top1'"
    )
