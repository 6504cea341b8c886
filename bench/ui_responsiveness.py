"""Does the editor stay responsive while it trains at full speed, and does watching cost speed?

Two kinds of runs of the same project (the moe_2d template), alternated so machine noise
hits both alike:

* headless: the engine's worker process driven by ``TrainClient`` from a plain loop;
* GUI: the main window (offscreen Qt) with the dashboard docked and visible, training
  started with the Train action; the worker's messages feed the dashboard, the status bar
  and the canvas's routing bars, exactly as when a person watches.

During the GUI runs a 5 ms QTimer measures the Qt event loop: a stall is how late each tick
comes (the time between ticks minus 5 ms). Throughput is the training samples per second
that the worker reports in its ``usage`` message for each epoch after the first (the first
includes the worker's warm-up). Prints p50/p99/max stall and the median throughput ratio
GUI / headless; goals p99 at most 50 ms and ratio at least 0.9. Last line ``p99_ms: X``.

    QT_QPA_PLATFORM=offscreen python bench/ui_responsiveness.py [--rounds 2] [--epochs 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def project(epochs: int) -> Any:
    from modstudio.blocks import default_catalog
    from modstudio.library import load_template

    p = load_template("moe_2d", default_catalog())
    p.training.epochs = epochs
    return p


def headless_rate(epochs: int, runs_root: str) -> float:
    from modstudio.engine.client import TrainClient
    from modstudio.engine.protocol import Usage
    from modstudio.engine.settings import TrainSettings

    client = TrainClient()
    client.start(project(epochs), TrainSettings(runs_root=runs_root))
    rates = [m.samples_per_second for m in client.wait() if isinstance(m, Usage)]
    return statistics.median(rates[1:] or rates)


def gui_rate(window: Any, loop: Any, epochs: int, runs_root: str) -> tuple[float, list[float]]:
    from PySide6.QtCore import QTimer

    from modstudio.engine.protocol import Usage

    window.load(project(epochs))
    window.training.settings.runs_root = runs_root
    rates: list[float] = []
    window.training.controller.message.connect(lambda m: isinstance(m, Usage) and rates.append(m.samples_per_second))
    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    if not window.training.train():
        raise SystemExit("the GUI refused to train: " + "; ".join(getattr(window, "reported", [])))
    timer.start()
    last[0] = time.perf_counter()
    finished = loop.run_until_complete(window.training.controller.wait())
    timer.stop()
    if finished is None or finished.status != "completed":
        raise SystemExit(f"the GUI run did not complete: {finished}")
    stalls = [max(0.0, gap - 0.005) * 1000 for gap in gaps]
    return statistics.median(rates[1:] or rates), stalls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import qasync
    from PySide6.QtCore import QSettings

    from modstudio.blocks import default_catalog
    from modstudio.ui.app import create_app
    from modstudio.ui.main_window import MainWindow

    app = create_app([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as tmp:
        window = MainWindow(default_catalog(), QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat))
        window.reported = []
        window.report = lambda title, text: window.reported.append(text)
        window.resize(1400, 860)
        window.show()
        ratios: list[float] = []
        stalls: list[float] = []
        for i in range(args.rounds):
            runs = [("headless", None), ("gui", None)] if i % 2 == 0 else [("gui", None), ("headless", None)]
            rate: dict[str, float] = {}
            for kind, _ in runs:
                if kind == "headless":
                    rate[kind] = headless_rate(args.epochs, tmp)
                else:
                    rate[kind], round_stalls = gui_rate(window, loop, args.epochs, tmp)
                    stalls.extend(round_stalls)
            ratios.append(rate["gui"] / rate["headless"])
            print(
                f"round {i + 1}: headless {rate['headless']:,.0f} samples/s, GUI {rate['gui']:,.0f} samples/s, "
                f"ratio {ratios[-1]:.3f}",
                flush=True,
            )
        window.stack.setClean()
        window.close()
    values = np.asarray(stalls)
    print(f"event-loop ticks measured: {values.size}")
    print(
        f"stall p50 {np.percentile(values, 50):.1f} ms, p99 {np.percentile(values, 99):.1f} ms, max {values.max():.1f} ms"
    )
    print(f"throughput ratio GUI/headless (median of {len(ratios)}): {statistics.median(ratios):.3f} (goal >= 0.9)")
    print(f"p99_ms: {np.percentile(values, 99):.1f}")


if __name__ == "__main__":
    main()
