"""Launch to window: `modstudio` in a fresh subprocess until its main window is painted.

    python bench/startup.py [ROUNDS]

Each round starts ``python -m modstudio`` (offscreen) with MODSTUDIO_EXIT_AFTER_SHOW=1; the
app prints when its first paint is done and whether torch was imported by then. The baseline,
measured the same way in the same run, is a bare PySide6 window. Goal: at most 2.0 s.
The last line is ``seconds: X`` (median launch-to-window of ModStudio).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BARE = (
    "from PySide6.QtWidgets import QApplication, QMainWindow\n"
    "from PySide6.QtCore import QTimer\n"
    "app = QApplication([])\n"
    "w = QMainWindow(); w.resize(1400, 860); w.show()\n"
    "QTimer.singleShot(0, app.quit)\n"
    "app.exec()\n"
)


def timed(args: list[str]) -> tuple[float, str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "MODSTUDIO_EXIT_AFTER_SHOW": "1"}
    start = time.perf_counter()
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(args)}\n{done.stderr}")
    return elapsed, done.stdout


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    ours, bare, torch_loaded = [], [], False
    for _ in range(rounds):
        seconds, out = timed([sys.executable, "-m", "modstudio"])
        ours.append(seconds)
        torch_loaded |= "torch=True" in out
        bare.append(timed([sys.executable, "-c", BARE])[0])
    print(f"bare PySide6 window: median {statistics.median(bare):.2f} s")
    print(f"modstudio: median {statistics.median(ours):.2f} s, min {min(ours):.2f} s (goal <= 2.0 s)")
    print(f"torch imported before the window was shown: {'yes' if torch_loaded else 'no'}")
    print(f"ratio to bare window: {statistics.median(ours) / statistics.median(bare):.2f}")
    print(f"seconds: {statistics.median(ours):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
