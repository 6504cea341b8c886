"""Whether two ports may be wired, answered before the drop (for live feedback while dragging).

Mirrors the checks of :class:`~modstudio.graph.ops.Connect` (which stays the authority: a
refused Connect is reported with its own reason). The graph for the cycle check is built
once per drag, not once per port.
"""

from __future__ import annotations

from modstudio.graph.model import Edge, ModuleDef, Project
from modstudio.graph.ports import node_ports, port_named
from modstudio.graph.schema import BlockCatalog


class WiringCheck:
    """Answers "can this output feed that input?" for one module during one drag."""

    def __init__(self, project: Project, catalog: BlockCatalog, module: ModuleDef) -> None:
        self.project = project
        self.catalog = catalog
        self.module = module
        import networkx as nx

        self.graph = nx.DiGraph((e.src, e.dst) for e in module.edges)
        self._reach: dict[str, set[str]] = {}

    def problem(self, edge: Edge) -> str | None:
        """None when ``edge`` can be added, else why not, in a sentence."""
        src, dst = self.module.find(edge.src), self.module.find(edge.dst)
        if src is None or dst is None:
            return "that node is gone"
        if src.id == dst.id:
            return f"cannot connect '{src.name}' to itself"
        ports = node_ports(self.project, self.catalog, dst)
        port = port_named(ports[0], edge.dst_port) if ports else None
        if port is None:
            return f"'{dst.name}' has no input '{edge.dst_port}'"
        if edge in self.module.edges:
            return "these ports are already connected"
        fed = [e for e in self.module.edges if e.dst == dst.id and e.dst_port == edge.dst_port]
        if fed and not port.multi:
            other = self.module.find(fed[0].src)
            return f"input '{edge.dst_port}' of '{dst.name}' is already fed by '{other.name if other else '?'}'"
        if dst.id in self._descendants_of(dst.id) or src.id in self._descendants_of(dst.id):
            return f"that would make a cycle: '{dst.name}' already feeds '{src.name}'"
        return None

    def _descendants_of(self, node_id: str) -> set[str]:
        if node_id not in self._reach:
            import networkx as nx

            self._reach[node_id] = nx.descendants(self.graph, node_id) if node_id in self.graph else set()
        return self._reach[node_id]
