"""What ships in ``resources/``: project templates and the library of reusable modules.

Both are ordinary ``.msproj`` files. A library file's modules (ResNet blocks, Inception,
a transformer encoder...) are offered as building blocks; its ``main`` is a small demo.
No torch and no Qt here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from modstudio.graph.io import PROJECT_SUFFIX, load_project
from modstudio.graph.model import Project
from modstudio.graph.schema import BlockCatalog


def resources_dir() -> Path:
    """``resources/`` inside an installed package, a source checkout, or a frozen app."""
    here = Path(__file__).resolve().parent
    candidates = [here / "resources", here.parent / "resources"]
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        candidates.insert(0, Path(frozen) / "modstudio" / "resources")
    for candidate in candidates:
        if (candidate / "templates").is_dir():
            return candidate
    raise FileNotFoundError("ModStudio's resources folder is missing; reinstall ModStudio")


EMPTY = "empty"  # the template listed first: an almost empty project to build on


@dataclass(frozen=True)
class TemplateInfo:
    name: str  # file stem, what `modstudio new --template` takes
    title: str
    doc: str
    path: Path
    plugin: str | None = None  # the plugin that ships it; None for ModStudio's own


@lru_cache(maxsize=1)
def _index(folder: str) -> dict[str, TemplateInfo]:
    out: dict[str, TemplateInfo] = {}
    paths = sorted((resources_dir() / folder).glob(f"*{PROJECT_SUFFIX}"), key=lambda p: (p.stem != EMPTY, p.stem))
    for path in paths:
        out[path.stem] = _info(path.stem, path)
    return out


def _info(name: str, path: Path, plugin: str | None = None) -> TemplateInfo:
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}  # listed under its file name; opening it reports what is wrong with it
    data = data if isinstance(data, dict) else {}
    return TemplateInfo(name, str(data.get("name", path.stem)), str(data.get("doc", "")), path, plugin)


def _all_templates() -> dict[str, TemplateInfo]:
    """ModStudio's templates, then every loaded plugin's (``TEMPLATES``); a plugin template whose
    file name is taken is listed as ``<plugin>-<name>``."""
    from modstudio.blocks.plugins import load_plugins

    out = dict(_index("templates"))
    for plugin in load_plugins().plugins:
        for path in plugin.templates:
            name = path.stem if path.stem not in out else f"{plugin.name}-{path.stem}"
            out.setdefault(name, _info(name, path, plugin.name))
    return out


def templates() -> list[TemplateInfo]:
    """Every project template: ModStudio's own, then those plugins ship."""
    return list(_all_templates().values())


def library_files() -> list[TemplateInfo]:
    return list(_index("library").values())


def template_path(name: str) -> Path:
    found = _index("templates") if name in _index("templates") else _all_templates()
    info = found.get(name)
    if info is None:
        known = ", ".join(_all_templates()) or "none"
        raise KeyError(f"no template named '{name}' (templates: {known})")
    return info.path


def load_template(name: str, catalog: BlockCatalog | None = None) -> Project:
    return load_project(template_path(name), catalog)


def load_library(catalog: BlockCatalog | None = None) -> dict[str, Project]:
    """Library projects by file stem."""
    return {info.name: load_project(info.path, catalog) for info in library_files()}
