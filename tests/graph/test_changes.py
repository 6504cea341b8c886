"""Change events carry a ChangeKind: a misspelt kind fails where the change is made, not in a view."""

from __future__ import annotations

import pytest

from modstudio.graph.document import Change, ChangeKind
from modstudio.graph.ops import AddNode, RenameNode

from .test_ops import Session


def test_a_misspelt_kind_is_refused_where_the_change_is_made():
    with pytest.raises(ValueError, match="'node_addded' is not a valid ChangeKind"):
        Change("node_addded", "main")  # type: ignore[arg-type]
    assert Change("node_added", "main").kind is ChangeKind.NODE_ADDED  # the names the events always had


def test_operations_report_typed_kinds_that_views_can_match():
    s = Session()
    s.do(AddNode("main", block="relu", name="act", position=(0, 0)))
    s.do(RenameNode("main", s.id("act"), "act2"))
    kinds = [e.kind for e in s.events]
    assert kinds == [ChangeKind.NODE_RENAMED] and all(isinstance(k, ChangeKind) for k in kinds)
    matched = []
    for change in s.events:
        match change.kind:
            case ChangeKind.NODE_RENAMED:
                matched.append((change.old_name, change.new_name))
    assert matched == [("act", "act2")]


def test_module_kinds_are_the_ones_other_modules_depend_on():
    module_kinds = {k for k in ChangeKind if k.of_module}
    assert module_kinds == {
        ChangeKind.MODULE_ADDED, ChangeKind.MODULE_REMOVED, ChangeKind.MODULE_RENAMED, ChangeKind.MODULE_PARAM_CHANGED
    }  # fmt: skip
