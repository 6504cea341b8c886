"""The Modules tab's log-scale gradient axis: labels never overlap, whatever the range and height."""

from __future__ import annotations

import itertools
import math

import pytest
from PySide6.QtGui import QFontMetrics

from modstudio.ui.app import create_app
from modstudio.ui.dashboard.modules_view import LogAxis, ModulesView


@pytest.mark.parametrize(
    ("low", "high", "pixels"),
    [(0.6, 4.0, 90), (0.6, 4.0, 400), (1e-4, 3.0, 90), (1e-9, 1e3, 90), (0.9, 1.1, 60)],
)
def test_log_axis_labels_are_a_line_apart(qtbot, low: float, high: float, pixels: int) -> None:
    create_app()
    view = ModulesView()
    qtbot.addWidget(view)
    axis = view.history_plot.getAxis("left")
    assert isinstance(axis, LogAxis) and axis.logMode
    a, b = math.log10(low), math.log10(high)
    [(_spacing, values)] = axis.tickValues(a, b, pixels)
    line = QFontMetrics(axis.style["tickFont"] or view.font()).height()
    gaps = [(y - x) / (b - a) * pixels for x, y in itertools.pairwise(values)]
    assert all(gap >= line for gap in gaps), (values, gaps)
    assert all(a <= v <= b for v in values)
    if b - a >= 1:  # a decade or more in view: at least one power of ten is labelled
        assert any(abs(v - round(v)) < 1e-9 for v in values)


def test_log_axis_shows_more_labels_when_taller(qtbot) -> None:
    create_app()
    view = ModulesView()
    qtbot.addWidget(view)
    axis = view.history_plot.getAxis("left")
    short = axis.tickValues(math.log10(0.6), math.log10(4.0), 60)[0][1]
    tall = axis.tickValues(math.log10(0.6), math.log10(4.0), 600)[0][1]
    assert len(tall) > len(short) >= 1
