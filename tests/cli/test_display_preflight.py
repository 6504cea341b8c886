"""Starting the editor where Qt would abort (no display, X11 libraries missing): a sentence, exit 2, no core dump."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from modstudio.ui.preflight import XCB_CURSOR, display_problem, reachable, x11_plugin

PLUGIN = "/qt/plugins/platforms/libqxcb.so"


def loads_all(name: str) -> str | None:
    return None


def lacks(missing: str):  # type: ignore[no-untyped-def]
    def load(name: str) -> str | None:
        if name == missing:
            return f"{missing}: cannot open shared object file: No such file or directory"
        if name == PLUGIN and missing != XCB_CURSOR:  # the plugin links to the missing library
            return f"{missing}: cannot open shared object file: No such file or directory"
        return None

    return load


def test_a_missing_x11_library_is_named_with_the_packages_to_install() -> None:
    for missing in ("libxcb-icccm.so.4", XCB_CURSOR):
        problem = display_problem({"DISPLAY": ":0"}, "linux", lacks(missing), PLUGIN, answers=lambda d: True)
        assert problem is not None and f"{missing} is missing" in problem, problem
        assert "sudo apt install libxcb-cursor0 libxcb-icccm4" in problem
    explicit = display_problem(
        {"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, "linux", lacks(XCB_CURSOR), PLUGIN, answers=lambda d: True
    )
    assert explicit is not None and XCB_CURSOR in explicit


def test_no_display_says_so_and_offers_offscreen() -> None:
    problem = display_problem({}, "linux", loads_all, PLUGIN)
    assert problem is not None and "DISPLAY is not set" in problem and "QT_QPA_PLATFORM=offscreen" in problem
    silent = display_problem({"DISPLAY": ":5"}, "linux", loads_all, PLUGIN, answers=lambda d: False)
    assert silent is not None and "no X server answers at DISPLAY=:5" in silent


def test_an_x_display_is_reachable_only_where_a_server_listens() -> None:
    with socket.socket() as server:  # a TCP "X server" on display 10 of localhost, if the port is free
        try:
            server.bind(("127.0.0.1", 6010))
        except OSError:
            return
        server.listen()
        assert reachable("127.0.0.1:10.0")
    assert not reachable("127.0.0.1:10")
    assert not reachable(":987")  # no such local display
    assert reachable("some-form-qt-knows-and-we-do-not")


def test_nothing_is_in_the_way_with_the_libraries_or_another_platform() -> None:
    assert display_problem({"DISPLAY": ":0"}, "linux", loads_all, PLUGIN, answers=lambda d: True) is None
    broken = lacks(XCB_CURSOR)
    for env in ({"QT_QPA_PLATFORM": "offscreen"}, {"WAYLAND_DISPLAY": "wayland-0"}, {"QT_QPA_PLATFORM": "wayland"}):
        assert display_problem(env, "linux", broken, PLUGIN) is None, env
    assert display_problem({}, "darwin", broken, PLUGIN) is None
    assert display_problem({}, "win32", broken, PLUGIN) is None


def test_the_x11_plugin_is_found_without_importing_qt() -> None:
    code = "import sys; from modstudio.ui.preflight import x11_plugin; print(x11_plugin()); print('PySide6.QtCore' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    path, qt_loaded = done.stdout.split()
    if sys.platform.startswith("linux"):
        assert path.endswith("platforms/libqxcb.so") and path == x11_plugin()
    assert qt_loaded == "False"


def test_modstudio_without_a_display_exits_2_with_the_sentence_not_a_core_dump(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = subprocess.run(
        [sys.executable, "-m", "modstudio"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    if sys.platform.startswith("linux"):
        assert done.returncode == 2, done.stderr
        assert "error: no display" in done.stderr and "Traceback" not in done.stderr
