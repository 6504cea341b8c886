"""Finding and importing plugins (see :mod:`modstudio.blocks.plugins` for the API they use).

Each plugin is imported on its own; whatever goes wrong with one (it does not import, its
BLOCKS are invalid, its ids are taken) becomes a PluginProblem and the others still load.
"""

from __future__ import annotations

import importlib.util
import keyword
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from .catalog import Catalog, builtin_specs
from .plugins_check import blocks_problem
from .spec import BlockSpec

ENTRY_POINT_GROUP = "modstudio.plugins"
PATH_VARIABLE = "MODSTUDIO_PLUGIN_PATH"
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


def load_all() -> PluginReport:
    catalog = Catalog(builtin_specs())
    report = _Loader(catalog)
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
    def __init__(self, catalog: Catalog) -> None:
        super().__init__(catalog)
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
            module = sys.modules.get(name) or _import_file(name, path, init)
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
            loaded = entry.load()
        except (Exception, SystemExit) as exc:
            self._fail(source, _import_problem(exc, None))
            return
        self._add(entry.name, loaded, source, None)

    def _add(self, name: str, loaded: Any, source: str, folder: Path | None) -> None:
        blocks = getattr(loaded, "BLOCKS", None)
        why = blocks_problem(blocks, self.taken)
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
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]
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
