"""What stops the editor's window before Qt is loaded, said in words.

On Linux, Qt aborts the whole process (a core dump, no Python exception to catch) when it
cannot open the display or load its X11 platform plugin. Its own message then always blames
``libxcb-cursor0``, even when another X11 library is the one missing. This module checks,
without importing Qt, that there is a display and that the plugin and the libraries it needs
load, so ``modstudio`` can print what is wrong and how to fix it instead.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import socket
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

XCB_CURSOR = "libxcb-cursor.so.0"  # loaded by Qt at run time, so not a link dependency of the plugin
# What Qt 6's X11 plugin needs beyond a desktop's usual libraries (Debian/Ubuntu package names).
X11_PACKAGES = (
    "libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xkb1 "
    "libxkbcommon-x11-0 libxcb-randr0 libxcb-shape0 libxcb-xinerama0"
)


def load_problem(library: str) -> str | None:
    """None when the shared library (and everything it links to) loads, else the loader's reason."""
    try:
        ctypes.CDLL(library)
    except OSError as error:
        return str(error)
    return None


def x11_plugin() -> str | None:
    """The path of PySide6's X11 platform plugin, found without importing Qt (None if not there)."""
    spec = importlib.util.find_spec("PySide6")
    for folder in spec.submodule_search_locations or () if spec else ():
        plugin = Path(folder) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if plugin.is_file():
            return str(plugin)
    return None


def reachable(display: str) -> bool:
    """Whether an X server answers at DISPLAY (``:0``, ``:1.0``, ``localhost:10.0``...)."""
    match = re.fullmatch(r"(?:unix/)?([^:]*):(\d+)(?:\.\d+)?", display)
    if match is None:
        return True  # a form we do not know: let Qt try
    host, number = match.group(1), int(match.group(2))
    try:
        if host in ("", "unix"):
            with socket.socket(socket.AF_UNIX) as unix:
                for address in (f"\0/tmp/.X11-unix/X{number}", f"/tmp/.X11-unix/X{number}"):  # abstract, then file
                    try:
                        unix.connect(address)
                        return True
                    except OSError:
                        continue
            return False
        with socket.create_connection((host, 6000 + number), timeout=1.0):
            return True
    except OSError:
        return False


def display_problem(
    env: Mapping[str, str] | None = None,
    platform: str | None = None,
    load: Callable[[str], str | None] = load_problem,
    plugin: str | None = "find",
    answers: Callable[[str], bool] = reachable,
) -> str | None:
    """Why Qt could not show a window here, or None when nothing known is in the way."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return None
    chosen = re.split(r"[:;]", env.get("QT_QPA_PLATFORM", ""))[0].strip()
    if chosen != "xcb" and (chosen or env.get("WAYLAND_DISPLAY")):
        return None  # offscreen, wayland, eglfs...: Qt says for itself what it misses
    if not env.get("DISPLAY"):
        return (
            "no display: the editor needs a graphical session (DISPLAY is not set). Over SSH use "
            "'ssh -X'; without a screen, the command line does the work (modstudio --help), or run "
            "the editor with QT_QPA_PLATFORM=offscreen"
        )
    if not answers(env["DISPLAY"]):
        return (
            f"no X server answers at DISPLAY={env['DISPLAY']}: start the graphical session (or Xvfb) first, "
            "or run the editor with QT_QPA_PLATFORM=offscreen"
        )
    plugin = x11_plugin() if plugin == "find" else plugin
    missing = [reason for reason in (load(plugin) if plugin else None, load(XCB_CURSOR)) if reason]
    if not missing:
        return None
    named = re.search(r"(lib[\w.+-]+\.so[\w.]*): cannot open", missing[0])
    what = named.group(1) if named else missing[0]
    return (
        f"Qt's X11 support cannot load here: {what} is missing. Install the X11 libraries Qt 6 needs "
        f"(Debian/Ubuntu: sudo apt install {X11_PACKAGES}; Fedora: sudo dnf install xcb-util-cursor "
        "xcb-util-wm xcb-util-keysyms xcb-util-image xcb-util-renderutil libxkbcommon-x11) and start "
        "ModStudio again"
    )
