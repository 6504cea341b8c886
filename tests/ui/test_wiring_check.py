"""The canvas's drag feedback and a refused Connect give the same sentence, for every kind of problem."""

from __future__ import annotations

import pytest

from modstudio.blocks import default_catalog
from modstudio.graph.model import Edge
from modstudio.graph.ops import Connect, Disconnect, Document, OperationError
from modstudio.ui.wiring import WiringCheck
from tests.graph.test_ops import sample_project

CASES = {
    "itself": ("fc1", "out", "fc1", "in"),
    "no such output": ("fc1", "value", "head", "in"),
    "no such input": ("fc1", "out", "head", "other"),
    "an Input node has no input": ("fc1", "out", "x", "in"),
    "already fed": ("x", "out", "head", "in"),
    "already connected": ("x", "out", "fc1", "in"),
    "a cycle": ("head", "out", "relu1", "in"),
    "a node of another module": ("fc@Block", "out", "head", "in"),
}


def _edge(project, src: str, src_port: str, dst: str, dst_port: str) -> Edge:
    def node_id(name: str) -> str:
        name, _, module = name.partition("@")
        return project.modules[module or "main"].node_named(name).id

    return Edge(node_id(src), src_port, node_id(dst), dst_port)


@pytest.mark.parametrize("case", CASES)
def test_drag_feedback_says_what_connect_says(case):
    project, catalog = sample_project(), default_catalog()
    doc = Document(project, catalog)
    main = project.main_module
    doc.apply(Disconnect("main", next(e for e in main.edges if e.dst == main.node_named("relu1").id)))
    edge = _edge(project, *CASES[case])
    drag = WiringCheck(project, catalog, main)
    feedback = drag.problem(edge)
    with pytest.raises(OperationError) as refused:
        doc.apply(Connect("main", edge))
    assert feedback is not None and feedback == str(refused.value)
    assert drag.problem(edge) == feedback  # asked again within the drag (cached reach): the same answer


def test_an_edge_that_works_gets_no_complaint_and_connects():
    project, catalog = sample_project(), default_catalog()
    main = project.main_module
    edge = _edge(project, "x", "out", "head", "in")
    doc = Document(project, catalog)
    doc.apply(Disconnect("main", next(e for e in main.edges if e.dst == edge.dst)))
    assert WiringCheck(project, catalog, main).problem(edge) is None
    doc.apply(Connect("main", edge))
    assert edge in main.edges
