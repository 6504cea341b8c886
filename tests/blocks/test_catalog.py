"""Every block in the catalogue: its shape rule matches the module it builds, and it trains."""

from __future__ import annotations

import importlib

import pytest

from modstudio.blocks import builtin_catalog, default_catalog
from modstudio.graph.schema import INPUT_BLOCK, OUTPUT_BLOCK

from .harness import check_block

EXAMPLE_MODULES = ("examples_core", "examples_conv", "examples_seq")


def _examples() -> dict:
    merged: dict = {}
    for name in EXAMPLE_MODULES:
        try:
            module = importlib.import_module(f"{__package__}.{name}")
        except ModuleNotFoundError:
            continue
        merged.update(module.EXAMPLES)
    return merged


EXAMPLES = _examples()
CASES = [(block_id, i, case) for block_id, cases in EXAMPLES.items() for i, case in enumerate(cases)]


def test_every_block_has_examples():
    """Blocks with member modules are tested through whole projects in test_compositions.py;
    the example plugins' blocks in test_plugins.py."""
    from .test_compositions import COVERED

    missing = [
        s.id
        for s in builtin_catalog()
        if s.id not in (INPUT_BLOCK, OUTPUT_BLOCK) and s.id not in EXAMPLES and not (s.uses_members and s.id in COVERED)
    ]
    assert not missing, f"blocks without examples in tests/blocks/examples_*.py: {missing}"


@pytest.mark.parametrize(("block_id", "index", "case"), CASES, ids=[f"{b}-{i}" for b, i, _ in CASES])
def test_shape_rule_matches_module(block_id, index, case):
    params, inputs = case
    check_block(default_catalog()[block_id], params, inputs)


def test_every_block_is_documented_and_typed():
    for spec in default_catalog():
        assert len(spec.doc) > 60, f"{spec.id}: doc should say what it is and when to use it"
        assert spec.category, spec.id
        for p in spec.params:
            assert p.check(p.default) is None, f"{spec.id}.{p.name}: default {p.default!r} fails its own check"
