"""What the canvas draws: NodeItem (title, category colour, ports, error badge), PortItem
and EdgeItem (a bezier wire with its tensor shape). Items show the document; they never own it."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsPathItem,
    QStyleOptionGraphicsItem,
    QWidget,
)

from modstudio.graph.model import Edge

from . import theme

NODE_WIDTH = 150.0
HEADER = 24.0
SUBTITLE = 18.0
ROW = 18.0
PORT_RADIUS = 5.5
DETAIL_LOD = 0.32  # below this zoom, labels, ports and port names are not drawn
FAR_LOD = 0.12  # below this zoom, nodes are plain coloured boxes and edges straight lines

_TITLE_FONT = None
_SMALL_FONT = None


def _fonts() -> tuple:
    global _TITLE_FONT, _SMALL_FONT
    if _TITLE_FONT is None:
        _TITLE_FONT, _SMALL_FONT = theme.ui_font(9.5, bold=True), theme.ui_font(7.5)
    return _TITLE_FONT, _SMALL_FONT


def title_font() -> QFont:
    """The font of node titles (what framing keeps readable)."""
    return _fonts()[0]


_BIG_FONT = None


def _big_font():  # type: ignore[no-untyped-def]
    global _BIG_FONT
    if _BIG_FONT is None:
        _BIG_FONT = theme.ui_font(20.0, bold=True)
    return _BIG_FONT


class PortItem(QGraphicsEllipseItem):
    """An input (left edge) or output (right edge) of a node; drag from one to another to wire."""

    def __init__(self, node: NodeItem, name: str, is_output: bool, index: int) -> None:
        r = PORT_RADIUS
        super().__init__(-r, -r, 2 * r, 2 * r, node)
        self.node = node
        self.name = name
        self.is_output = is_output
        y = HEADER + SUBTITLE + ROW * index + ROW / 2
        self.setPos(NODE_WIDTH if is_output else 0.0, y)
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip(f"{'output' if is_output else 'input'} '{name}' — drag to another port to connect")
        self.set_highlight(None)

    def set_highlight(self, state: bool | None) -> None:
        """None: normal; True: a compatible target; False: refused."""
        colour = theme.PORT if state is None else (theme.PORT_OK if state else theme.ERROR)
        self.setBrush(QBrush(colour))
        self.setPen(QPen(theme.BACKGROUND, 1.5))
        scale = 1.0 if state is None else 1.45
        self.setScale(scale)


class NodeItem(QGraphicsItem):
    """A node on the canvas: header in its category colour, name, type, ports, error badge."""

    def __init__(
        self,
        node_id: str,
        title: str,
        subtitle: str,
        category: str,
        inputs: list[str],
        outputs: list[str],
        is_module: bool = False,
        missing: bool = False,
    ) -> None:
        super().__init__()
        self.node_id = node_id
        self.title = title
        self.subtitle = subtitle
        self.category = category
        self.is_module = is_module
        self.missing = missing  # its block type is not installed: drawn as a dashed placeholder
        self.error: str | None = None
        self.edges: list[EdgeItem] = []
        self._colour = theme.category_colour(category)
        self.setFlags(
            QGraphicsItem.GraphicsItemFlag.ItemIsMovable
            | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
            | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges
        )
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setZValue(1.0)
        self.inputs: dict[str, PortItem] = {}
        self.outputs: dict[str, PortItem] = {}
        self.set_ports(inputs, outputs)

    # geometry -------------------------------------------------------------------------

    @property
    def height(self) -> float:
        rows = max(len(self.inputs), len(self.outputs), 1)
        return HEADER + SUBTITLE + ROW * rows + 6.0

    def boundingRect(self) -> QRectF:
        return QRectF(-PORT_RADIUS - 2, -10, NODE_WIDTH + 2 * PORT_RADIUS + 14, self.height + 12)

    def set_ports(self, inputs: list[str], outputs: list[str]) -> None:
        self.prepareGeometryChange()
        for port in [*self.inputs.values(), *self.outputs.values()]:
            port.setParentItem(None)
            if port.scene() is not None:
                port.scene().removeItem(port)
        self.inputs = {name: PortItem(self, name, False, i) for i, name in enumerate(inputs)}
        self.outputs = {name: PortItem(self, name, True, i) for i, name in enumerate(outputs)}
        self._show_port_names = inputs not in ([], ["in"]) or outputs not in ([], ["out"])
        self.update()

    def set_ports_visible(self, visible: bool) -> None:
        for port in [*self.inputs.values(), *self.outputs.values()]:
            port.setVisible(visible)

    def set_text(self, title: str, subtitle: str) -> None:
        self.title, self.subtitle = title, subtitle
        self.update()

    def set_error(self, message: str | None) -> None:
        if message == self.error:
            return
        self.error = message
        self.setToolTip(message or "")
        self.update()

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: object) -> object:
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            for edge in self.edges:
                edge.update_path()
        elif change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            self.setZValue(2.0 if value else 1.0)
        return super().itemChange(change, value)

    # painting -------------------------------------------------------------------------

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        body = QRectF(0, 0, NODE_WIDTH, self.height)
        border = theme.SELECTED if self.isSelected() else (theme.ERROR if self.error else theme.NODE_BORDER)
        painter.setPen(QPen(border, 2.0 if (self.isSelected() or self.error) else 1.0))
        if lod < FAR_LOD:
            painter.fillRect(body, theme.SELECTED if self.isSelected() else self._colour)
            return
        if lod < DETAIL_LOD:  # zoomed out: a coloured block with its name, large enough to read
            painter.setBrush(self._colour.darker(130))
            painter.drawRect(body)
            if lod > FAR_LOD:
                painter.setFont(_big_font())
                painter.setPen(QColor("#ffffff"))
                painter.drawText(body.adjusted(4, 0, -4, 0), Qt.AlignmentFlag.AlignCenter, self.title)
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(theme.NODE_BODY)
        if self.missing:  # a placeholder for a block whose plugin is not installed
            pen = painter.pen()
            pen.setStyle(Qt.PenStyle.DashLine)
            painter.setPen(pen)
        painter.drawRoundedRect(body, 6, 6)
        header = QPainterPath()
        header.addRoundedRect(QRectF(1, 1, NODE_WIDTH - 2, HEADER), 5, 5)
        header.addRect(QRectF(1, HEADER - 6, NODE_WIDTH - 2, 6))
        painter.fillPath(header.simplified(), self._colour.darker(115) if not self.is_module else self._colour)
        title_font, small = _fonts()
        painter.setFont(title_font)
        painter.setPen(QColor("#ffffff"))
        metrics = QFontMetricsF(title_font)
        text = metrics.elidedText(self.title, Qt.TextElideMode.ElideRight, NODE_WIDTH - 34)
        painter.drawText(QRectF(8, 0, NODE_WIDTH - 30, HEADER), Qt.AlignmentFlag.AlignVCenter, text)
        painter.setFont(small)
        painter.setPen(theme.TEXT_DIM)
        sub = QFontMetricsF(small).elidedText(self.subtitle, Qt.TextElideMode.ElideRight, NODE_WIDTH - 14)
        painter.drawText(QRectF(8, HEADER, NODE_WIDTH - 14, SUBTITLE), Qt.AlignmentFlag.AlignVCenter, sub)
        if self._show_port_names:
            painter.setPen(theme.TEXT)
            for name, port in self.inputs.items():
                painter.drawText(
                    QRectF(10, port.y() - ROW / 2, NODE_WIDTH / 2 - 10, ROW), Qt.AlignmentFlag.AlignVCenter, name
                )
            for name, port in self.outputs.items():
                right = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight
                painter.drawText(QRectF(NODE_WIDTH / 2, port.y() - ROW / 2, NODE_WIDTH / 2 - 10, ROW), right, name)
        if self.error:
            centre = QPointF(NODE_WIDTH - 4, -2)
            painter.setPen(QPen(QColor("#ffffff"), 1.5))
            painter.setBrush(theme.ERROR)
            painter.drawEllipse(centre, 9, 9)
            painter.setFont(title_font)
            painter.drawText(QRectF(centre.x() - 9, centre.y() - 9, 18, 18), Qt.AlignmentFlag.AlignCenter, "!")


class EdgeItem(QGraphicsPathItem):
    """A wire from an output port to an input port, labelled with the tensor shape it carries."""

    def __init__(self, edge: Edge, src: PortItem, dst: PortItem) -> None:
        super().__init__()
        self.edge = edge
        self.src = src
        self.dst = dst
        self.label = ""
        self.setZValue(0.0)
        self.setPen(QPen(theme.EDGE, 2.0))
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._label_rect = QRectF()
        src.node.edges.append(self)
        dst.node.edges.append(self)
        self.update_path()

    def detach(self) -> None:
        for node in (self.src.node, self.dst.node):
            if self in node.edges:
                node.edges.remove(self)

    def set_label(self, text: str) -> None:
        if text != self.label:
            self.label = text
            self.update_path()

    def update_path(self) -> None:
        """Path and label box; the scene is told first (setPath does nothing for an unchanged path,
        so a label arriving later would be left out of the scene's index and paint cache)."""
        self.prepareGeometryChange()
        a, b = self.src.scenePos(), self.dst.scenePos()
        self.setPath(bezier(a, b))
        if self.label:
            _, small = _fonts()
            width = QFontMetricsF(small).horizontalAdvance(self.label) + 10
            mid = self.path().pointAtPercent(0.5)
            self._label_rect = QRectF(mid.x() - width / 2, mid.y() - 8, width, 16)
        else:
            self._label_rect = QRectF()
        self.update()

    def boundingRect(self) -> QRectF:
        """The curve's own extent (QGraphicsPathItem's includes the control points, which reach far
        to the side of a wire running back to the left), with its pen and label."""
        return self.path().boundingRect().adjusted(-2, -2, 2, 2).united(self._label_rect)

    def shape(self) -> QPainterPath:
        return super().shape()

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        colour = theme.SELECTED if self.isSelected() else theme.EDGE
        painter.setBrush(Qt.BrushStyle.NoBrush)
        if lod < DETAIL_LOD:  # zoomed out: thin, aliased, straight when tiny
            pen = QPen(colour, 1.0)
            pen.setCosmetic(True)
            painter.setPen(pen)
            if lod < FAR_LOD:
                painter.drawLine(self.src.scenePos(), self.dst.scenePos())
            else:
                painter.drawPath(self.path())
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(colour, 2.0))
        painter.drawPath(self.path())
        if not self.label:
            return
        _, small = _fonts()
        painter.setFont(small)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(theme.BACKGROUND)
        painter.drawRoundedRect(self._label_rect, 4, 4)
        painter.setPen(theme.EDGE_LABEL)
        painter.drawText(self._label_rect, Qt.AlignmentFlag.AlignCenter, self.label)


SKIP_SPAN = 300.0  # an edge longer than this on one row jumps over the nodes between


def bezier(a: QPointF, b: QPointF) -> QPainterPath:
    """A horizontal S-curve from ``a`` to ``b``; a long edge along one row (a skip or residual
    connection) arcs above the row instead of running through the nodes it skips."""
    span = b.x() - a.x()
    dx = max(abs(span) * 0.5, 40.0)
    lift = min(40.0 + span * 0.12, 140.0) if span > SKIP_SPAN and abs(b.y() - a.y()) < 40.0 else 0.0
    path = QPainterPath(a)
    path.cubicTo(QPointF(a.x() + dx * 0.6, a.y() - lift * 1.33), QPointF(b.x() - dx * 0.6, b.y() - lift * 1.33), b)
    return path
