"""Canvas: the QGraphicsView where people drop blocks, wire ports, move, select and delete.

Every gesture ends in a document operation pushed on the undo stack; the ModuleScene then
redraws from the change events. Dragging a node moves the item for feedback and commits a
MoveNode (one undo step for the whole selection) on release.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QMimeData, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QFontInfo,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPixmapCache,
    QWheelEvent,
)
from PySide6.QtWidgets import QApplication, QGraphicsPathItem, QGraphicsView, QWidget

from modstudio.graph.document import Batch, Operation, OperationError
from modstudio.graph.model import Edge
from modstudio.graph.names import unique_name
from modstudio.graph.ops import AddNode, Connect, Disconnect, GroupIntoModule, MoveNode, RemoveNode, Ungroup
from modstudio.graph.references import referenced_modules

from . import theme
from .clipboard import MIME_NODES, copy_nodes, paste_operation
from .commands import UndoStack
from .items import DETAIL_LOD, EdgeItem, NodeItem, PortItem, bezier, title_font
from .scene import ModuleScene
from .wiring import WiringCheck

MIME_BLOCK = "application/x-modstudio-block"  # payload: a block id
MIME_MODULE = "application/x-modstudio-module"  # payload: a module name of the project
MIME_LIBRARY = "application/x-modstudio-library"  # payload: "file:module" of the built-in library
MIN_ZOOM, MAX_ZOOM = 0.08, 3.0
READABLE_TITLE_PX = 9.0  # framing never shows node titles smaller than this on screen
FRAME_MARGIN = 60.0  # scene units of room around what is framed


def readable_zoom() -> float:
    """The smallest zoom at which a node's title is READABLE_TITLE_PX pixels high on screen."""
    return READABLE_TITLE_PX / QFontInfo(title_font()).pixelSize()


def _view_centre(low: float, high: float, start: float, span: float) -> float:
    """Centre, along one axis, of a view ``span`` long on the graph from ``low`` to ``high``:
    the middle of the graph when it fits, else a view that begins at ``start`` and shows as
    much of the graph as it can."""
    if high - low <= span:
        return (low + high) / 2
    begin = max(low, min(start, high - span))
    return begin + span / 2


class Canvas(QGraphicsView):
    """The node editor view of one module at a time."""

    message = Signal(str)  # a sentence for the status bar
    drill_in = Signal(str)  # the user opened a module node (double click)
    files_dropped = Signal(list)  # local paths of dropped files

    def __init__(self, stack: UndoStack, scene: ModuleScene, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self.stack = stack
        self.module_scene = scene
        QPixmapCache.setCacheLimit(256 * 1024)  # KiB; the 10 MiB default thrashes (FIELD-NOTES)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.BoundingRectViewportUpdate)
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setAcceptDrops(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSceneRect(QRectF(-50000, -50000, 100000, 100000))
        self._wire_from: PortItem | None = None
        self._wire_item: QGraphicsPathItem | None = None
        self._wiring: WiringCheck | None = None
        self._pan_from: QPointF | None = None
        self._detail: bool | None = None  # are ports shown (zoomed in far enough)?
        # library key -> (AddModule operations, module name); set by the main window
        self.resolve_library: Callable[[str], tuple[list[Operation], str]] | None = None

    @property
    def module_name(self) -> str:
        return self.module_scene.module_name

    # operations -----------------------------------------------------------------------

    def perform(self, op: Operation) -> bool:
        """Apply an operation through the undo stack; a refusal goes to the status bar."""
        try:
            self.stack.perform(op)
        except OperationError as exc:
            self.message.emit(f"Not done: {exc}")
            return False
        return True

    def selected_node_ids(self) -> list[str]:
        return [i.node_id for i in self.scene().selectedItems() if isinstance(i, NodeItem)]

    def delete_selection(self) -> None:
        items = self.scene().selectedItems()
        ops: list[Operation] = [
            Disconnect(self.module_name, i.edge)
            for i in items
            if isinstance(i, EdgeItem) and not (i.src.node.isSelected() or i.dst.node.isSelected())
        ]
        ops += [RemoveNode(self.module_name, i.node_id) for i in items if isinstance(i, NodeItem)]
        if ops:
            self.perform(Batch(ops, f"Delete {len(ops)} item{'s' if len(ops) != 1 else ''}"))

    def add_block(self, block: str | None, at: QPointF, module_ref: str | None = None) -> bool:
        op = AddNode(self.module_name, block=block, module_ref=module_ref, position=(at.x(), at.y()))
        return self.perform(op)

    def add_library_module(self, key: str, at: QPointF) -> bool:
        """Copy a built-in module (and what it uses) into the project and use it here: one undo step."""
        assert self.resolve_library is not None
        try:
            ops, name = self.resolve_library(key)
        except (KeyError, ValueError) as exc:
            self.message.emit(f"Not done: {exc}")
            return False
        ops.append(AddNode(self.module_name, module_ref=name, position=(at.x(), at.y())))
        return self.perform(Batch(ops, f"Add module {name}"))

    def copy_selection(self) -> None:
        ids = self.selected_node_ids()
        if ids:
            mime = QMimeData()
            text = copy_nodes(self.stack.doc, self.module_name, ids)
            mime.setData(MIME_NODES, text.encode("utf-8"))
            mime.setText(text)
            QApplication.clipboard().setMimeData(mime)

    def paste(self) -> None:
        mime = QApplication.clipboard().mimeData()
        if mime is None or not mime.hasFormat(MIME_NODES):
            return
        self._paste_text(bytes(mime.data(MIME_NODES).data()).decode())

    def _paste_text(self, text: str) -> None:
        found = paste_operation(self.stack.doc, self.module_name, text)
        if found is not None and self.perform(found[0]):
            self.scene().clearSelection()
            for node_id in found[1]:
                if node_id in self.module_scene.nodes:
                    self.module_scene.nodes[node_id].setSelected(True)

    def duplicate(self) -> None:
        """Copies of the selection beside it; the clipboard is left as it was."""
        ids = self.selected_node_ids()
        if ids:
            self._paste_text(copy_nodes(self.stack.doc, self.module_name, ids))

    def group_selection(self, name: str | None = None) -> str | None:
        ids = self.selected_node_ids()
        if not ids:
            self.message.emit("Select the nodes to group first")
            return None
        name = name or unique_name("Group", set(self.stack.doc.project.modules))
        return name if self.perform(GroupIntoModule(self.module_name, ids, name)) else None

    def ungroup_selection(self) -> None:
        for node_id in self.selected_node_ids():
            self.perform(Ungroup(self.module_name, node_id))

    # view -----------------------------------------------------------------------------

    def show_start(self) -> None:
        """The view on opening a project or a module: the same as Frame All."""
        self.frame_all()

    def frame_all(self) -> None:
        """Everything if it fits at a readable zoom (never enlarged past 120 %); a graph too large
        for that is shown from its start (its inputs) at the readable zoom instead."""
        graph = self.scene().itemsBoundingRect()
        if graph.isEmpty():
            return
        graph = graph.adjusted(-FRAME_MARGIN, -FRAME_MARGIN, FRAME_MARGIN, FRAME_MARGIN)
        self.fitInView(graph, Qt.AspectRatioMode.KeepAspectRatio)
        zoom = self.transform().m11()
        if zoom <= 1.2 and zoom >= readable_zoom():
            return
        zoom = 1.0 if zoom > 1.2 else readable_zoom()
        self.resetTransform()
        self.scale(zoom, zoom)
        width, height = self.viewport().width() / zoom, self.viewport().height() / zoom
        start = self._start_rect().adjusted(-FRAME_MARGIN, -FRAME_MARGIN, FRAME_MARGIN, FRAME_MARGIN)
        x = _view_centre(graph.left(), graph.right(), start.left(), width)
        y = _view_centre(graph.top(), graph.bottom(), start.top(), height)
        self.centerOn(QPointF(x, y))

    def _start_rect(self) -> QRectF:
        """Where the graph starts: its Input nodes, else the nodes nothing feeds, else everything."""
        module = self.module_scene.module
        fed = {e.dst for e in module.edges}
        for wanted in (
            [n.id for n in module.nodes if n.block == "input"],
            [n.id for n in module.nodes if n.id not in fed],
        ):
            items = [self.module_scene.nodes[i] for i in wanted if i in self.module_scene.nodes]
            if items:
                rect = QRectF()
                for item in items:
                    rect = rect.united(item.sceneBoundingRect())
                return rect
        return self.scene().itemsBoundingRect()

    def paintEvent(self, event: QPaintEvent) -> None:
        self.update_detail()
        super().paintEvent(event)

    def update_detail(self) -> None:
        """Level of detail: hide the port items when nodes are small on screen (one pass per change)."""
        detail = self.transform().m11() >= DETAIL_LOD
        if detail != self._detail or self.module_scene.detail != detail:
            self._detail = detail
            self.module_scene.set_detail(detail)

    def wheelEvent(self, event: QWheelEvent) -> None:
        factor = 1.0015 ** event.angleDelta().y()
        zoom = self.transform().m11() * factor
        if MIN_ZOOM <= zoom <= MAX_ZOOM:
            self.scale(factor, factor)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape and self._wire_from is not None:
            self._finish_wire(QPointF(-1e6, -1e6))  # nowhere: the wire is dropped
        elif event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.delete_selection()
        elif event.key() == Qt.Key.Key_F and not event.modifiers():
            self.frame_all()
        else:
            super().keyPressEvent(event)

    # mouse: wiring, moving, panning ---------------------------------------------------

    def _port_at(self, view_pos: QPointF) -> PortItem | None:
        for item in self.items(view_pos.toPoint()):
            if isinstance(item, PortItem):
                return item
        return None

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.MiddleButton:
            self._pan_from = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        port = self._port_at(event.position()) if event.button() == Qt.MouseButton.LeftButton else None
        if port is not None:
            self._start_wire(port)
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.translate_view(delta.x(), delta.y())
            return
        if self._wire_from is not None:
            self._drag_wire(event.position())
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None and event.button() == Qt.MouseButton.MiddleButton:
            self._pan_from = None
            self.unsetCursor()
            return
        if self._wire_from is not None:
            self._finish_wire(event.position())
            return
        super().mouseReleaseEvent(event)
        self._commit_moves()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        item = self.module_scene.node_at(self.mapToScene(event.position().toPoint()))
        node = self.module_scene.module.find(item.node_id) if item is not None else None
        used = referenced_modules(node, self.stack.doc.catalog) if node is not None else []
        if used:  # a module, or a composition (MoE, ensemble...): open the (first) member
            self.drill_in.emit(used[0])
            return
        super().mouseDoubleClickEvent(event)

    def translate_view(self, dx: float, dy: float) -> None:
        zoom = self.transform().m11()
        centre = self.mapToScene(self.viewport().rect().center())
        self.centerOn(centre - QPointF(dx / zoom, dy / zoom))

    def _commit_moves(self) -> None:
        table = self.stack.doc.project.ui.positions.get(self.module_name, {})
        ops: list[Operation] = []
        for item in self.scene().selectedItems():
            if isinstance(item, NodeItem):
                pos = [item.x(), item.y()]
                if table.get(item.node_id) != pos:
                    ops.append(MoveNode(self.module_name, item.node_id, (pos[0], pos[1])))
        if len(ops) == 1:
            self.perform(ops[0])
        elif ops:
            self.perform(Batch(ops, f"Move {len(ops)} nodes"))

    def _edge_for(self, a: PortItem, b: PortItem) -> Edge | None:
        if a.is_output == b.is_output:
            return None
        out, inp = (a, b) if a.is_output else (b, a)
        return Edge(out.node.node_id, out.name, inp.node.node_id, inp.name)

    def _start_wire(self, port: PortItem) -> None:
        doc = self.stack.doc
        self._wire_from = port
        self._wiring = WiringCheck(doc.project, doc.catalog, self.module_scene.module)
        self._wire_item = QGraphicsPathItem()
        self._wire_item.setPen(QPen(theme.SELECTED, 2.0, Qt.PenStyle.DashLine))
        self._wire_item.setZValue(5)
        self.scene().addItem(self._wire_item)
        for node in self.module_scene.nodes.values():
            for other in (node.outputs if not port.is_output else node.inputs).values():
                edge = self._edge_for(port, other)
                other.set_highlight(edge is not None and self._wiring.problem(edge) is None)

    def _drag_wire(self, view_pos: QPointF) -> None:
        assert self._wire_from is not None and self._wire_item is not None
        start, end = self._wire_from.scenePos(), self.mapToScene(view_pos.toPoint())
        path: QPainterPath = bezier(start, end) if self._wire_from.is_output else bezier(end, start)
        self._wire_item.setPath(path)
        target = self._port_at(view_pos)
        if target is not None and target is not self._wire_from and self._wiring is not None:
            edge = self._edge_for(self._wire_from, target)
            why = "an output must go to an input" if edge is None else self._wiring.problem(edge)
            self.message.emit(f"Cannot connect: {why}" if why else "Release to connect")

    def _finish_wire(self, view_pos: QPointF) -> None:
        source, target = self._wire_from, self._port_at(view_pos)
        self._wire_from = None
        if self._wire_item is not None:
            self.scene().removeItem(self._wire_item)
            self._wire_item = None
        for node in self.module_scene.nodes.values():
            for port in [*node.inputs.values(), *node.outputs.values()]:
                port.set_highlight(None)
        if source is None or target is None or target is source:
            return
        edge = self._edge_for(source, target)
        if edge is None:
            self.message.emit("Not connected: an output must go to an input")
            return
        if self.perform(Connect(self.module_name, edge)):
            self.message.emit(f"Connected {source.node.title} → {target.node.title}")

    # drag and drop from the palette and the module library ----------------------------

    def _accepts(self, mime: QMimeData) -> bool:
        return any(mime.hasFormat(m) for m in (MIME_BLOCK, MIME_MODULE, MIME_LIBRARY)) or mime.hasUrls()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._accepts(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if self._accepts(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        mime = event.mimeData()
        at = self.mapToScene(event.position().toPoint())
        if mime.hasFormat(MIME_BLOCK):
            self.add_block(bytes(mime.data(MIME_BLOCK).data()).decode(), at)
        elif mime.hasFormat(MIME_MODULE):
            self.add_block(None, at, module_ref=bytes(mime.data(MIME_MODULE).data()).decode())
        elif mime.hasFormat(MIME_LIBRARY) and self.resolve_library is not None:
            self.add_library_module(bytes(mime.data(MIME_LIBRARY).data()).decode(), at)
        elif mime.hasUrls():
            self.files_dropped.emit([u.toLocalFile() for u in mime.urls() if u.isLocalFile()])
        else:
            event.ignore()
            return
        event.acceptProposedAction()
