"""A log-scale axis whose tick labels never overlap (the Modules tab's gradient norms and update ratios)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QFont, QFontMetrics

MANTISSAS = ((1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 5), (1, 3), (1,))  # richest first


class LogAxis(pg.AxisItem):
    """A log-scale axis whose labels never overlap: 1 to 9 times each power of ten where there is
    room, else 1-2-5, 1-3, each power of ten, or every second, third... power of ten."""

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list:  # type: ignore[override]
        if not self.logMode:
            return super().tickValues(minVal, maxVal, size)
        low, high = sorted((minVal, maxVal))
        per_decade = size / max(high - low, 1e-9)  # pixels per power of ten
        gap = QFontMetrics(self.style.get("tickFont") or QFont()).height() * 1.2
        step = 1
        choice: tuple[int, ...] = (1,)
        for mantissas in MANTISSAS:
            ratios = [*mantissas[1:], 10]
            if min(np.log10(r / m) for m, r in zip(mantissas, ratios)) * per_decade >= gap:
                choice = mantissas
                break
        else:
            step = int(np.ceil(gap / per_decade))
        values = [
            float(decade + np.log10(m))
            for decade in range(int(np.floor(low)), int(np.ceil(high)) + 1)
            if decade % step == 0
            for m in choice
        ]
        return [(float(step), [v for v in values if low <= v <= high])]
