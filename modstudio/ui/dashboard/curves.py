"""Loss and accuracy curves (train per step and per epoch, validation per epoch), with a compared run."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from modstudio.engine.protocol import messages_from_dicts

from . import style
from .data import Curves


class CurvesView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = style.layout_widget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        self.loss_plot = self.canvas.addPlot(row=0, col=0)
        self.accuracy_plot = self.canvas.addPlot(row=1, col=0)
        style.style_plot(self.loss_plot, "Loss", "loss", "step")
        style.style_plot(self.accuracy_plot, "Accuracy", "accuracy", "step")
        self.accuracy_plot.setXLink(self.loss_plot)
        self.accuracy_plot.setYRange(0, 1, padding=0.02)
        self.plots = (self.loss_plot, self.accuracy_plot)
        # loss falls and accuracy rises: their legends sit where the curves usually are not
        self.legends = (style.legend(self.loss_plot), style.legend(self.accuracy_plot, (-8, -8)))
        self.items: dict[str, pg.PlotDataItem] = {}
        for plot, prefix in (
            (self.loss_plot, "loss"),
            (self.accuracy_plot, "acc"),
        ):
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
            self.items[f"{prefix}:step"] = plot.plot(pen=pg.mkPen(style.TRAIN, width=1.2), name="train (step)")
            self.items[f"{prefix}:epoch"] = plot.plot(
                pen=pg.mkPen(style.TRAIN_EPOCH, width=2), symbol="o", symbolSize=6,
                symbolBrush=style.TRAIN_EPOCH, symbolPen=None, name="train (epoch)",
            )  # fmt: skip
            self.items[f"{prefix}:val"] = plot.plot(
                pen=pg.mkPen(style.VALIDATION, width=2), symbol="s", symbolSize=6,
                symbolBrush=style.VALIDATION, symbolPen=None, name="validation",
            )  # fmt: skip
            compare = pg.PlotDataItem(pen=pg.mkPen(style.COMPARE, width=1.5, style=Qt.PenStyle.DashLine))
            plot.addItem(compare)  # in the legend only while a run is compared
            self.items[f"{prefix}:compare"] = compare
            self.items[f"{prefix}:compare_val"] = plot.plot(
                pen=None, symbol="t", symbolSize=7, symbolBrush=style.COMPARE, symbolPen=None
            )
        self._compared = ""

    def set_task(self, task: str) -> None:
        regression = task == "regression"
        style.set_title(self.accuracy_plot, "R² (validation)" if regression else "Accuracy")
        self.accuracy_plot.setLabel("left", "R²" if regression else "accuracy", color=style.AXIS)

    def clear(self) -> None:
        """No curves, and the axes forget the last run's range (they fit the next run's first points)."""
        self.draw(Curves())
        self.loss_plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0.02)
        self.loss_plot.enableAutoRange()
        self.accuracy_plot.enableAutoRange(axis="x")

    def draw(self, curves: Curves) -> None:
        for prefix, step, epoch, val in (
            ("loss", curves.loss, curves.epoch_loss, curves.val_loss),
            ("acc", curves.accuracy, curves.epoch_accuracy, curves.val_accuracy),
        ):
            self.items[f"{prefix}:step"].setData(*step.arrays())
            self.items[f"{prefix}:epoch"].setData(*epoch.arrays())
            self.items[f"{prefix}:val"].setData(*val.arrays())

    def compare(self, label: str, metrics: list[dict[str, Any]]) -> None:
        """Overlay another run's curves (dashed); an empty list removes them."""
        other = Curves()
        for message in messages_from_dicts(metrics)[0]:  # what is not a message draws nothing
            other.handle(message)
        shown = bool(len(other.loss) or len(other.val_loss))
        for prefix, legend, step, val in (
            ("loss", self.legends[0], other.loss, other.val_loss),
            ("acc", self.legends[1], other.accuracy, other.val_accuracy),
        ):
            item = self.items[f"{prefix}:compare"]
            item.setData(*step.arrays())
            self.items[f"{prefix}:compare_val"].setData(*val.arrays())
            if self._compared:
                legend.removeItem(item)
            if shown:
                legend.addItem(item, label)
        self._compared = label if shown else ""

    def compared_label(self) -> str:
        return self._compared

    def compared_points(self) -> int:
        xs, _ = self.items["loss:compare"].getData()
        return 0 if xs is None else len(xs)
