"""Finding and importing plugins (see :mod:`modstudio.blocks.plugins` for the API they use).

Each plugin is imported on its own; whatever goes wrong with one (it does not import, its
BLOCKS are invalid, its ids are taken, its import takes longer than the time limit) becomes a
PluginProblem and the others still load.

The time limit: each import runs in a daemon thread that the loader waits for at most
``IMPORT_TIME_LIMIT_S`` seconds (``MODSTUDIO_PLUGIN_TIME_LIMIT`` lowers or raises it). A running
import cannot be killed; one that is late is asked to stop (an exception raised in its thread,
which ends a pure-Python loop), left behind as a daemon thread that does not keep the process
alive, and its half-made module is removed from ``sys.modules``.
"""

from __future__ import annotations

import ctypes
import importlib.util
import keyword
import os
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from .catalog import Catalog, builtin_specs
from .plugins_check import blocks_problem
from .spec import BlockSpec

ENTRY_POINT_GROUP = "modstudio.plugins"
PATH_VARIABLE = "MODSTUDIO_PLUGIN_PATH"
IMPORT_TIME_LIMIT_S = 10.0  # a plugin whose import takes longer is skipped, so that no command hangs
TIME_LIMIT_VARIABLE = "MODSTUDIO_PLUGIN_TIME_LIMIT"  # seconds, overriding IMPORT_TIME_LIMIT_S
_BUILT_IN = "a built-in block"


@dataclass(frozen=True)
class PluginProblem:
    """A plugin that did not load: its file, folder or entry point, and why."""

    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass(frozen=True)
class Plugin:
    """A loaded plugin and what it added."""

    name: str  # its file or folder name, or its entry point's name
    module: str  # the Python module it was imported as (what exported code imports)
    source: str  # its file or folder, or its entry point
    blocks: tuple[BlockSpec, ...]
    templates: tuple[Path, ...] = ()
    folder: Path | None = None  # the plugins folder it was found in; None when pip-installed
    doc: str = ""  # the first line of its docstring


@dataclass
class PluginReport:
    """The result of loading every plugin once."""

    catalog: Catalog
    plugins: list[Plugin] = field(default_factory=list)
    problems: list[PluginProblem] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)  # the folders searched, in order


def user_plugin_folder() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("ModStudio")) / "plugins"


def plugin_folders() -> list[Path]:
    """The folders searched for plugins, in order (some may not exist)."""
    found: list[Path] = []
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        found.append(Path(frozen) / "plugins")
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file():  # a source checkout, not site-packages
        found.append(root / "plugins")
    found += [Path(p) for p in os.environ.get(PATH_VARIABLE, "").split(os.pathsep) if p.strip()]
    found.append(user_plugin_folder())
    unique: dict[Path, Path] = {}
    for folder in found:
        unique.setdefault(folder.resolve(), folder)
    return list(unique.values())


def import_time_limit() -> float:
    """Seconds a plugin's import may take: ``MODSTUDIO_PLUGIN_TIME_LIMIT`` when it is a positive
    number, else ``IMPORT_TIME_LIMIT_S``."""
    try:
        value = float(os.environ.get(TIME_LIMIT_VARIABLE, ""))
    except ValueError:
        return IMPORT_TIME_LIMIT_S
    return value if value > 0 else IMPORT_TIME_LIMIT_S


def load_all(time_limit: float | None = None) -> PluginReport:
    """Every plugin from every place; ``time_limit``: seconds per import (default: import_time_limit())."""
    catalog = Catalog(builtin_specs())
    report = _Loader(catalog, import_time_limit() if time_limit is None else time_limit)
    for folder in plugin_folders():
        report.folders.append(folder)
        if folder.is_dir():
            for path in _plugin_paths(folder):
                report.load_path(path, folder)
    for entry in _entry_points():
        report.load_entry_point(entry)
    return report


def _plugin_paths(folder: Path) -> list[Path]:
    paths = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(("_", ".")):
            continue
        if (path.is_file() and path.suffix == ".py") or (path.is_dir() and (path / "__init__.py").is_file()):
            paths.append(path)
    return paths


def _entry_points() -> list[Any]:
    from importlib.metadata import entry_points

    try:
        found = entry_points(group=ENTRY_POINT_GROUP)
    except Exception:  # a broken installed distribution must not stop the app
        return []
    unique = {(ep.name, ep.value): ep for ep in found}
    return [unique[key] for key in sorted(unique)]


class _Loader(PluginReport):
    def __init__(self, catalog: Catalog, time_limit: float) -> None:
        super().__init__(catalog)
        self.time_limit = time_limit
        self.taken = {key: _BUILT_IN for spec in catalog for key in (spec.id, *spec.aliases)}

    def load_path(self, path: Path, folder: Path) -> None:
        name = path.stem if path.is_file() else path.name
        source = str(path)
        if not name.isidentifier() or keyword.iskeyword(name):
            self._fail(source, f"'{name}' is not a valid Python module name: use letters, digits and '_'")
            return
        other = next((p for p in self.plugins if p.module == name), None)
        if other is not None:
            self._fail(source, f"a plugin named '{name}' is already loaded from {other.source}")
            return
        init = path / "__init__.py" if path.is_dir() else path
        clash = _name_taken(name, init)
        if clash:
            self._fail(source, f"its name '{name}' is taken by {clash}; rename the plugin")
            return
        try:
            module = sys.modules.get(name) or _within(self.time_limit, lambda: _import_file(name, path, init))
        except TooSlow as exc:
            _forget(name)
            self._fail(source, str(exc))
            return
        except (Exception, SystemExit) as exc:
            self._fail(source, _import_problem(exc, path))
            return
        self._add(name, module, source, folder)

    def load_entry_point(self, entry: Any) -> None:
        dist = getattr(entry, "dist", None)
        owner = f" of {dist.name} {dist.version}" if dist is not None else ""
        source = f"entry point '{entry.name} = {entry.value}'{owner}"
        other = next((p for p in self.plugins if p.name == entry.name and p.folder is None), None)
        if other is not None:
            self._fail(source, f"a plugin named '{entry.name}' is already loaded from {other.source}")
            return
        try:
            loaded = _within(self.time_limit, entry.load)
        except TooSlow as exc:
            _forget(entry.value.split(":")[0].strip())
            self._fail(source, str(exc))
            return
        except (Exception, SystemExit) as exc:
            self._fail(source, _import_problem(exc, None))
            return
        self._add(entry.name, loaded, source, None)

    def _add(self, name: str, loaded: Any, source: str, folder: Path | None) -> None:
        blocks = getattr(loaded, "BLOCKS", None)
        importers_only = not blocks and bool(getattr(loaded, "IMPORTERS", None))  # it only imports models
        blocks = () if importers_only else blocks
        why = None if importers_only else blocks_problem(blocks, self.taken)
        templates, missing = _templates(loaded)
        why = why or missing
        if why:
            self._fail(source, why)
            return
        module = loaded.__name__ if isinstance(loaded, ModuleType) else getattr(loaded, "__module__", name)
        doc = ((getattr(loaded, "__doc__", None) or "").strip().splitlines() or [""])[0]
        plugin = Plugin(name, module, source, tuple(blocks), templates, folder, doc)
        for spec in plugin.blocks:
            self.catalog.add(spec)
            for key in (spec.id, *spec.aliases):
                self.taken[key] = f"plugin '{name}' ({source})"
        self.plugins.append(plugin)

    def _fail(self, source: str, reason: str) -> None:
        self.problems.append(PluginProblem(source, reason))


class TooSlow(Exception):
    """A plugin's import did not finish within the time limit."""


T = TypeVar("T")


def _within(seconds: float, load: Callable[[], T]) -> T:
    """``load()`` in a daemon thread, waited for at most ``seconds``; raises TooSlow when late
    (the thread is asked to stop and left behind) and re-raises what ``load()`` raised."""
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(load())
        except BaseException as exc:  # handed to the loading thread, which reports it
            error.append(exc)

    thread = threading.Thread(target=run, name="modstudio-plugin-import", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        _ask_to_stop(thread)
        raise TooSlow(f"import took over {seconds:g} s; skipped")
    if error:
        raise error[0]
    return result[0]


class _StopImport(BaseException):
    """Raised inside a late plugin import to end it (a BaseException: ``except Exception`` lets it pass)."""


def _ask_to_stop(thread: threading.Thread) -> None:
    """Raise _StopImport in ``thread`` at its next Python instruction (CPython's documented
    PyThreadState_SetAsyncExc): a busy loop ends instead of taking the CPU from the command;
    a thread blocked in C (a long sleep) stops only when that returns, if ever."""
    set_async_exc = getattr(getattr(ctypes, "pythonapi", None), "PyThreadState_SetAsyncExc", None)
    if set_async_exc is None or thread.ident is None:  # not CPython
        return
    set_async_exc(ctypes.c_ulong(thread.ident), ctypes.py_object(_StopImport))


def _forget(name: str) -> None:
    """Remove a late import's half-made module (and its submodules) from sys.modules."""
    # list(): the keys in one step, while a late import thread may still be adding modules
    for key in [k for k in list(sys.modules) if k == name or k.startswith(name + ".")]:
        sys.modules.pop(key, None)


def _templates(loaded: Any) -> tuple[tuple[Path, ...], str | None]:
    names = getattr(loaded, "TEMPLATES", ())
    if not isinstance(names, (tuple, list)) or not all(isinstance(n, str) for n in names):
        return (), "TEMPLATES must be a tuple of .msproj paths relative to the plugin"
    base = Path(getattr(loaded, "__file__", None) or ".").parent
    paths = tuple(base / n for n in names)
    for name, path in zip(names, paths):
        if path.suffix != ".msproj" or not path.is_file():
            return (), f"TEMPLATES: '{name}' is not a .msproj file in {base}"
    return paths, None


def _name_taken(name: str, init: Path) -> str | None:
    """What else answers to ``name`` in Python (an installed package, the standard library...)."""
    existing = sys.modules.get(name)
    if existing is not None:
        where = getattr(existing, "__file__", None)
        if where is not None and Path(where).resolve() == init.resolve():
            return None  # this plugin, imported earlier in this process
        return f"the module already imported from {where or 'Python itself'}"
    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if found is None or (found.origin and Path(found.origin).resolve() == init.resolve()):
        return None
    return f"the installed module {found.origin or name}"


def _import_file(name: str, path: Path, init: Path) -> ModuleType:
    locations = [str(path)] if path.is_dir() else None
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=locations)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        _forget(name)
        raise
    return module


def _import_problem(exc: BaseException, path: Path | None) -> str:
    """The reason, in a line, with the plugin's own file and line where that helps."""
    if isinstance(exc, SyntaxError):
        where = Path(exc.filename).name if exc.filename else "the plugin"
        return f"syntax error in {where}, line {exc.lineno}: {exc.msg}"
    frames = traceback.extract_tb(exc.__traceback__)
    if path is not None:
        root = str(path.resolve())
        frames = [f for f in frames if str(Path(f.filename).resolve()).startswith(root)]
    where = f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})" if frames and path is not None else ""
    return f"import failed: {type(exc).__name__}: {exc}{where}"
