"""Whether an output may feed an input: the one set of checks behind Connect and the editor's drag feedback.

:class:`~modstudio.graph.ops.Connect` refuses an edge with ``connection_problem``'s sentence;
the canvas asks the same function for every port it passes over while a wire is dragged, with
one :class:`Reach` kept for the drag so the cycle check builds its graph once, not once per port.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .model import Edge, ModuleDef, Node, Project
from .ports import node_ports, port_named
from .schema import BlockCatalog

if TYPE_CHECKING:
    import networkx as nx


class Reach:
    """Which nodes each node of one module feeds (directly or not), worked out once per node and kept."""

    def __init__(self, module: ModuleDef) -> None:
        import networkx as nx

        self.graph: nx.DiGraph = nx.DiGraph((e.src, e.dst) for e in module.edges)
        self._fed: dict[str, set[str]] = {}

    def feeds(self, node_id: str, other_id: str) -> bool:
        """True when ``node_id``'s output reaches ``other_id`` along the module's edges."""
        if node_id not in self._fed:
            import networkx as nx

            self._fed[node_id] = nx.descendants(self.graph, node_id) if node_id in self.graph else set()
        return other_id in self._fed[node_id]


def describe_edge(module: ModuleDef, e: Edge) -> str:
    """``fc1 -> relu1`` (ports named when not the usual ``out`` and ``in``)."""
    src, dst = module.find(e.src), module.find(e.dst)
    a = (src.name if src else e.src) + ("" if e.src_port == "out" else f".{e.src_port}")
    b = (dst.name if dst else e.dst) + ("" if e.dst_port == "in" else f".{e.dst_port}")
    return f"{a} -> {b}"


def _missing(project: Project, module: str, node_id: str) -> str:
    found = project.module_of(node_id)
    if found is not None:
        return f"'{found[1].node(node_id).name}' is in module '{found[0]}', not '{module}'"
    return f"module '{module}' has no node with id '{node_id}'"


def _label(catalog: BlockCatalog, node: Node) -> str:
    if node.module is not None:
        return f"module {node.module} '{node.name}'"
    spec = catalog.lookup(node.block or "")
    return f"{spec.title if spec else node.block} '{node.name}'"


def connection_problem(
    project: Project, catalog: BlockCatalog, module: str, e: Edge, reach: Reach | None = None
) -> str | None:
    """None when edge ``e`` can be added to ``module``, else why not, in a sentence.

    ``reach``: the module's :class:`Reach`, kept by a caller that asks about many edges of an
    unchanged module (a drag); a new one is made otherwise.
    """
    mod = project.modules.get(module)
    if mod is None:
        return f"there is no module '{module}'"
    src, dst = mod.find(e.src), mod.find(e.dst)
    if src is None or dst is None:
        return _missing(project, module, e.src if src is None else e.dst)
    if src.id == dst.id:
        return f"cannot connect '{src.name}' to itself"
    src_ports, dst_ports = node_ports(project, catalog, src), node_ports(project, catalog, dst)
    if src_ports is None or dst_ports is None:
        return f"{_label(catalog, src if src_ports is None else dst)} has an unknown type"
    if port_named(src_ports[1], e.src_port) is None:
        known = ", ".join(p.name for p in src_ports[1]) or "none"
        return f"'{src.name}' has no output '{e.src_port}' (outputs: {known})"
    port = port_named(dst_ports[0], e.dst_port)
    if port is None:
        known = ", ".join(p.name for p in dst_ports[0]) or "none"
        return f"'{dst.name}' has no input '{e.dst_port}' (inputs: {known})"
    if e in mod.edges:
        return f"{describe_edge(mod, e)} is already connected"
    fed = [x for x in mod.edges if x.dst == dst.id and x.dst_port == e.dst_port]
    if fed and not port.multi:
        other = mod.find(fed[0].src)
        return f"input '{e.dst_port}' of '{dst.name}' is already fed by '{other.name if other else fed[0].src}'; disconnect that first"
    if (reach or Reach(mod)).feeds(dst.id, src.id):
        return f"connecting '{src.name}' to '{dst.name}' would make a cycle: '{dst.name}' already feeds '{src.name}'"
    return None
