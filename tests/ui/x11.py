"""Running a driver script in a real window under Xvfb, moved by xdotool: the harness of the real-X11 tests.

A driver is Python source that starts with :data:`PRELUDE` (an app, a main window ``w`` on a template, and
``settle``/``xdotool`` helpers that keep Qt's events flowing) and prints what it saw."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modstudio.ui.preflight import display_problem, reachable

ROOT = Path(__file__).resolve().parents[2]
AVAILABLE = bool(shutil.which("Xvfb") and shutil.which("xdotool"))
NOT_AVAILABLE = "needs Xvfb and xdotool"


def prelude(template: str) -> str:
    """The start of a driver: the window on ``template``, and the helpers."""
    return f"""
import subprocess, sys, time
from modstudio.blocks import default_catalog
from modstudio.ui.app import create_app
from modstudio.ui.files import default_project
from modstudio.ui.main_window import MainWindow

app = create_app([])
catalog = default_catalog()
w = MainWindow(catalog)
w.ask = lambda *args: True
w.choose = lambda *args, **kwargs: "Discard"
w.load(default_project(catalog, {template!r}))
w.setGeometry(0, 0, 1440, 860)
w.show()

def settle(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)

def xdotool(script):
    proc = subprocess.Popen("xdotool " + script, shell=True)
    end = time.monotonic() + 10
    while proc.poll() is None and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)
    settle(0.4)

settle(1.0)
"""


def run_driver(driver: str, tmp_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``driver`` on a fresh Xvfb display; skips (with the reason) where Qt cannot use X11 here."""
    display = f":{80 + os.getpid() % 19}"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1440x860x24", "-nolisten", "tcp"])
    try:
        deadline = time.monotonic() + 15
        while not reachable(display) and time.monotonic() < deadline:
            time.sleep(0.1)
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "XDG_CONFIG_HOME": str(tmp_path)}
        problem = display_problem(env)
        if problem is not None:  # the machine, not ModStudio: Qt's X11 libraries or the X server
            pytest.skip(f"Qt cannot use X11 here: {problem}")
        return subprocess.run(
            [sys.executable, "-c", driver, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
    finally:
        xvfb.terminate()
        xvfb.wait(10)
