"""ModuleScene: the items of one module, kept in step with the Document's change events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QPointF, QRectF, QTimer, Signal
from PySide6.QtGui import QPainter, QPen
from PySide6.QtWidgets import QGraphicsScene

from modstudio.blocks.catalog import Catalog
from modstudio.graph.document import Change, ChangeKind
from modstudio.graph.layout import layered_positions
from modstudio.graph.model import Edge, ModuleDef, Node
from modstudio.graph.ports import node_ports
from modstudio.graph.repair import node_problems
from modstudio.graph.schema import values_that_matter
from modstudio.graph.validate import check_project

from . import theme
from .checking import CheckResult, check_module
from .items import EdgeItem, NodeItem

if TYPE_CHECKING:
    from modstudio.editor.session import EditorSession

EdgeKey = tuple[str, str, str, str]
_GRID = 24.0


def edge_key(e: Edge) -> EdgeKey:
    return (e.src, e.src_port, e.dst, e.dst_port)


def describe_params(node: Node, catalog: Catalog) -> str:
    """The line under a node's name: its type and the parameters that differ from defaults."""
    if node.module is not None:
        kind, shown = f"module {node.module}", list(node.params.items())
    else:
        spec = catalog.lookup(node.block or "")
        kind = spec.title if spec else f"not installed: '{node.block}'"
        shown = list(values_that_matter(spec.params if spec else (), node.params).items())  # not k of a Switch
    values = ", ".join(f"{k}={_short(v)}" for k, v in shown[:3])
    return f"{kind} · {values}" if values else kind


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ",".join(map(str, value)) + "]"
    return str(value)


class ModuleScene(QGraphicsScene):
    """Shows one module of a Document; redraws from change events, never edits by itself."""

    checked = Signal(object)  # CheckResult, after each round of live checking
    module_gone = Signal()  # the shown module was removed or renamed

    def __init__(self, session: EditorSession, catalog: Catalog, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.doc = session.doc
        self.catalog = catalog
        self.nodes: dict[str, NodeItem] = {}
        self.edges: dict[EdgeKey, list[EdgeItem]] = {}
        self.last_check: CheckResult | None = None
        self.detail = True  # ports visible; the canvas switches this with the zoom
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        self._check_timer = QTimer(self)
        self._check_timer.setSingleShot(True)
        self._check_timer.setInterval(0)
        self._check_timer.timeout.connect(self.check_now)
        self._unsubscribe = self.doc.subscribe(self._on_change)

    def close(self) -> None:
        """Stop following the document; a scene on its way out says nothing more to the views."""
        self._unsubscribe()
        self.blockSignals(True)

    @property
    def module_name(self) -> str:
        """The module shown: the session's (the scene keeps no copy that could disagree)."""
        return self.session.shown_module

    @property
    def module(self) -> ModuleDef:
        return self.doc.project.modules[self.module_name]

    # building -------------------------------------------------------------------------

    def show_module(self) -> None:
        """Draw the module the session shows now (called on the session's ``module_shown``)."""
        name = self.module_name
        self.clear()
        self.nodes.clear()
        self.edges.clear()
        module = self.module
        stored = self.doc.project.ui.positions.get(name, {})
        fallback = None if all(n.id in stored for n in module.nodes) else layered_positions(module)
        for node in module.nodes:
            self._add_node(node, stored.get(node.id) or (fallback or {}).get(node.id))
        for e in module.edges:
            self._add_edge(e)
        self.request_check()  # paint first; shapes follow on the next turn of the event loop

    def _add_node(self, node: Node, pos: list[float] | None = None) -> NodeItem:
        ports = node_ports(self.doc.project, self.catalog, node)
        inputs, outputs = ([p.name for p in ports[0]], [p.name for p in ports[1]]) if ports else ([], [])
        missing = ports is None  # a block from a plugin that is not installed, a module that does not exist
        if missing:
            inputs, outputs = self._stored_ports(node.id)
        if node.module is not None:
            category = "Module"
        else:
            spec = self.catalog.lookup(node.block or "")
            category = spec.category if spec else ""
        item = NodeItem(
            node.id,
            node.name,
            describe_params(node, self.catalog),
            category,
            inputs,
            outputs,
            is_module=node.module is not None,
            missing=missing,
        )
        if pos is None:
            pos = self.doc.project.ui.positions.get(self.module_name, {}).get(node.id, [0.0, 0.0])
        item.setPos(pos[0], pos[1])
        if not self.detail:
            item.set_ports_visible(False)
        self.addItem(item)
        self.nodes[node.id] = item
        return item

    def _stored_ports(self, node_id: str) -> tuple[list[str], list[str]]:
        """The ports a node of an unknown block type shows: those its stored edges use."""
        edges = self.module.edges
        inputs = [e.dst_port for e in edges if e.dst == node_id]
        outputs = [e.src_port for e in edges if e.src == node_id]
        return list(dict.fromkeys(inputs)), list(dict.fromkeys(outputs))

    def _add_edge(self, e: Edge) -> EdgeItem | None:
        src, dst = self.nodes.get(e.src), self.nodes.get(e.dst)
        if src is None or dst is None or e.src_port not in src.outputs or e.dst_port not in dst.inputs:
            return None
        item = EdgeItem(Edge(*edge_key(e)), src.outputs[e.src_port], dst.inputs[e.dst_port])
        self.addItem(item)
        self.edges.setdefault(edge_key(e), []).append(item)
        return item

    def _remove_edge_item(self, item: EdgeItem) -> None:
        item.detach()
        self.removeItem(item)
        items = self.edges.get(edge_key(item.edge), [])
        if item in items:
            items.remove(item)
        if not items:
            self.edges.pop(edge_key(item.edge), None)

    def _remove_node(self, node_id: str) -> None:
        item = self.nodes.pop(node_id, None)
        if item is None:
            return
        for edge in list(item.edges):
            self._remove_edge_item(edge)
        self.removeItem(item)

    def _rebuild_node(self, node_id: str) -> None:
        node = self.module.find(node_id)
        old = self.nodes.get(node_id)
        if node is None or old is None:
            return
        pos, selected = old.pos(), old.isSelected()
        self._remove_node(node_id)
        item = self._add_node(node, [pos.x(), pos.y()])
        item.setSelected(selected)
        for e in self.module.edges:
            if node_id in (e.src, e.dst) and item not in {x.src.node for x in self.edges.get(edge_key(e), [])}:
                self._add_edge(e)

    # change events --------------------------------------------------------------------

    def _on_change(self, change: Change) -> None:
        if self.module_name not in self.doc.project.modules:
            self.module_gone.emit()
            return
        if change.module != self.module_name:
            if change.kind.of_module:
                self.request_check()
            return
        module = self.module
        match change.kind:
            case ChangeKind.NODE_ADDED:
                for node_id in change.node_ids:
                    node = module.find(node_id)
                    if node is not None and node_id not in self.nodes:
                        self._add_node(node)
                        for e in module.edges:
                            if node_id in (e.src, e.dst) and edge_key(e) not in self.edges:
                                self._add_edge(e)
            case ChangeKind.NODE_REMOVED:
                for node_id in change.node_ids:
                    self._remove_node(node_id)
            case ChangeKind.EDGE_ADDED if change.edge is not None:
                key = edge_key(change.edge)
                wanted = sum(1 for e in module.edges if edge_key(e) == key)
                if len(self.edges.get(key, [])) < wanted:
                    self._add_edge(change.edge)
            case ChangeKind.EDGE_REMOVED if change.edge is not None:
                key = edge_key(change.edge)
                wanted = sum(1 for e in module.edges if edge_key(e) == key)
                items = self.edges.get(key, [])
                if len(items) > wanted:
                    self._remove_edge_item(items[-1])
            case ChangeKind.NODE_MOVED:
                table = self.doc.project.ui.positions.get(self.module_name, {})
                for node_id in change.node_ids:
                    item, pos = self.nodes.get(node_id), table.get(node_id)
                    if item is not None and pos is not None and (item.x(), item.y()) != tuple(pos):
                        item.setPos(pos[0], pos[1])
                return  # positions do not change shapes
            case ChangeKind.PORTS_CHANGED | ChangeKind.NODE_CHANGED:
                for node_id in change.node_ids:
                    self._rebuild_node(node_id)
            case ChangeKind.NODE_RENAMED | ChangeKind.PARAM_CHANGED:
                for node_id in change.node_ids:
                    node, item = module.find(node_id), self.nodes.get(node_id)
                    if node is not None and item is not None:
                        item.set_text(node.name, describe_params(node, self.catalog))
        self.request_check()

    # live checking --------------------------------------------------------------------

    def request_check(self) -> None:
        self._check_timer.start()

    def check_now(self) -> CheckResult:
        self._check_timer.stop()
        result = check_module(self.doc.project, self.catalog, self.module_name)
        # What the strict load would refuse (only a file opened for repair has any): on its node, first
        problems = check_project(self.doc.project, self.catalog)
        result.node_errors.update(node_problems(problems, self.doc.project, self.module_name))
        result.problems[:0] = [str(p) for p in problems]
        for items in self.edges.values():
            for item in items:
                item.set_label(result.edge_labels.get((item.edge.src, item.edge.src_port), ""))
        for node_id, item in self.nodes.items():
            item.set_error(result.node_errors.get(node_id))
        self.last_check = result
        self.checked.emit(result)
        return result

    # background -----------------------------------------------------------------------

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        painter.fillRect(rect, theme.BACKGROUND)
        if painter.worldTransform().m11() < 0.35:
            return
        left, top = int(rect.left() // _GRID) * _GRID, int(rect.top() // _GRID) * _GRID
        minor, major = QPen(theme.GRID, 0), QPen(theme.GRID_MAJOR, 0)
        x = left
        while x < rect.right():
            painter.setPen(major if round(x / _GRID) % 5 == 0 else minor)
            painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
            x += _GRID
        y = top
        while y < rect.bottom():
            painter.setPen(major if round(y / _GRID) % 5 == 0 else minor)
            painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
            y += _GRID

    def set_detail(self, detail: bool) -> None:
        self.detail = detail
        for item in self.nodes.values():
            item.set_ports_visible(detail)

    def node_at(self, pos: QPointF) -> NodeItem | None:
        for item in self.items(pos):
            if isinstance(item, NodeItem):
                return item
        return None
