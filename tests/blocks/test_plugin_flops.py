"""A plugin block's FLOPs: its own rule where it declares ``flops=``; otherwise measured on its
built layer with torch's FlopCounterMode, per sample, and marked approximate."""

from __future__ import annotations

import dataclasses

from modstudio.blocks import default_catalog
from modstudio.blocks.plugins import load_plugins
from modstudio.compile.flops import count_flops
from modstudio.graph.builder import ProjectBuilder


def maxout_project(catalog, shape: list[int]):
    pb = ProjectBuilder("tests/plugin_flops", catalog)
    m = pb.module("main")
    m.output("y", m.add("maxout", "mx", m.input("x", shape), out_features=8, pieces=3))
    return pb.project("maxout")


def test_a_plugin_block_without_a_rule_is_measured_on_its_layer_per_sample() -> None:
    assert any(p.name == "maxout" for p in load_plugins().plugins)
    catalog = default_catalog()
    assert catalog["maxout"].flops is None
    [row] = count_flops(maxout_project(catalog, [20]), catalog).nodes
    assert row.flops == 2 * 20 * 8 * 3 and not row.exact  # the Linear to 8 x 3 pieces: matrix product only
    [tokens] = count_flops(maxout_project(catalog, [5, 20]), catalog).nodes
    assert tokens.flops == 5 * row.flops  # per sample, not per batch: every token counts


def test_a_plugin_block_that_declares_flops_is_counted_by_its_rule(monkeypatch) -> None:
    catalog = default_catalog()
    spec = catalog["maxout"]

    def rule(params, inputs, outputs) -> int:
        return 7 * params["pieces"] * outputs["out"].shape[-1]

    monkeypatch.setitem(catalog._specs, "maxout", dataclasses.replace(spec, flops=rule, flops_exact=True))
    [row] = count_flops(maxout_project(catalog, [20]), catalog).nodes
    assert row.flops == 7 * 3 * 8 and row.exact
