"""Routing on the canvas: while a network trains, each MoE, gate or branch node shows how its
tokens are shared out — one bar per expert (or branch) under the node, dead ones greyed out.

The bars come from the worker's ``routing`` messages; the probe path (``moe1``,
``block.gate``) names the node (GraphNet names submodules after nodes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from . import theme
from .dashboard.style import expert_colour
from .items import NODE_WIDTH, NodeItem

STRIP_HEIGHT = 30.0
GAP = 5.0
DEAD = QColor("#5a5f6b")


def shares_of(facts: Mapping[str, Any]) -> np.ndarray | None:
    """Each expert's (or branch's) share of the routed tokens in one report, if the probe counted any."""
    for key in ("tokens_per_expert", "usage"):
        value = facts.get(key)
        if value is None:
            continue
        load = np.asarray(value, dtype=np.float64).reshape(-1)
        if load.size and load.sum() > 0:
            return load / load.sum()
    return None


class UsageBars(QGraphicsItem):
    """A strip of bars hung under a node: height = share of tokens, fair share marked by a line."""

    def __init__(self, node: NodeItem) -> None:
        super().__init__(node)
        self.shares: np.ndarray = np.zeros(0)
        self.dead: frozenset[int] = frozenset()
        self.setZValue(-0.5)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.place()

    def place(self) -> None:
        node = self.parentItem()
        assert isinstance(node, NodeItem)
        self.setPos(0.0, node.height + GAP)

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, NODE_WIDTH, STRIP_HEIGHT)

    def set_shares(self, shares: Sequence[float] | np.ndarray, dead: frozenset[int]) -> None:
        self.shares = np.asarray(shares, dtype=np.float64)
        self.dead = dead
        names = ", ".join(
            f"{i}: {'dead' if i in dead else f'{s:.0%}'}" for i, s in enumerate(self.shares)
        )  # the tooltip carries the numbers
        self.setToolTip(f"share of routed tokens per expert — {names}")
        self.place()
        self.update()

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        count = self.shares.size
        if not count:
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(theme.NODE_BODY.darker(120))
        painter.drawRoundedRect(self.boundingRect(), 4, 4)
        inner = self.boundingRect().adjusted(4, 3, -4, -3)
        width = inner.width() / count
        fair = 1.0 / count
        top = max(float(self.shares.max()), 2 * fair)  # the scale: fair share sits at most halfway up
        for i, share in enumerate(self.shares):
            x = inner.left() + i * width
            if i in self.dead:
                painter.setBrush(DEAD)
                painter.drawRect(QRectF(x + 1, inner.bottom() - 2, max(width - 2, 1), 2))
                painter.setPen(QPen(DEAD, 1.2))
                mid = x + width / 2
                painter.drawLine(mid - 3, inner.center().y() - 3, mid + 3, inner.center().y() + 3)
                painter.drawLine(mid - 3, inner.center().y() + 3, mid + 3, inner.center().y() - 3)
                painter.setPen(Qt.PenStyle.NoPen)
                continue
            height = inner.height() * float(share) / top
            painter.setBrush(QColor(expert_colour(i)))  # the dashboard's colour for this expert
            painter.drawRect(QRectF(x + 1, inner.bottom() - height, max(width - 2, 1), height))
        painter.setPen(QPen(theme.TEXT_DIM, 1.0, Qt.PenStyle.DashLine))
        y = inner.bottom() - inner.height() * fair / top
        painter.drawLine(inner.left(), y, inner.right(), y)


def bars_of(node: NodeItem) -> UsageBars | None:
    """The strip hung under ``node``, if any: found among its children, never kept across redraws
    (a redraw of the scene deletes the items, and a Python reference to one would outlive it)."""
    for child in node.childItems():
        if isinstance(child, UsageBars):
            return child
    return None


class RoutingOverlay:
    """Keeps the usage bars of the shown module's nodes in step with the latest routing report.

    It holds the reports only; the bars live under their node items and are looked up there."""

    def __init__(self) -> None:
        self.latest: dict[str, np.ndarray] = {}  # probe path -> shares

    def update(self, probes: Mapping[str, Mapping[str, Any]]) -> None:
        for path, facts in probes.items():
            shares = shares_of(facts)
            if shares is not None:
                self.latest[path] = shares

    def clear(self, nodes: Iterable[NodeItem] = ()) -> None:
        """Forget the reports and take the bars off ``nodes`` (the items now on the canvas)."""
        self.latest.clear()
        for node in nodes:
            bars = bars_of(node)
            if bars is not None and bars.scene() is not None:
                bars.scene().removeItem(bars)

    def apply(self, nodes_by_name: Mapping[str, NodeItem]) -> dict[str, UsageBars]:
        """Draw the bars on the nodes whose name ends a probe path; returns them by node name."""
        shown: dict[str, UsageBars] = {}
        for path, shares in self.latest.items():
            name = path.rsplit(".", 1)[-1]
            node = nodes_by_name.get(name)
            if node is None or name in shown:
                continue
            bars = bars_of(node) or UsageBars(node)
            bars.set_shares(shares, frozenset(int(i) for i in np.flatnonzero(shares == 0)))
            shown[name] = bars
        return shown


__all__ = ["RoutingOverlay", "UsageBars", "bars_of", "shares_of"]
