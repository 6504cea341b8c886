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


@dataclass(frozen=True)
class TemplateInfo:
    name: str  # file stem, what `modstudio new --template` takes
    title: str
    doc: str
    path: Path


@lru_cache(maxsize=1)
def _index(folder: str) -> dict[str, TemplateInfo]:
    import json

    out: dict[str, TemplateInfo] = {}
    for path in sorted((resources_dir() / folder).glob(f"*{PROJECT_SUFFIX}")):
        data = json.loads(path.read_text(encoding="utf-8"))
        out[path.stem] = TemplateInfo(path.stem, data.get("name", path.stem), data.get("doc", ""), path)
    return out


def templates() -> list[TemplateInfo]:
    return list(_index("templates").values())


def library_files() -> list[TemplateInfo]:
    return list(_index("library").values())


def template_path(name: str) -> Path:
    info = _index("templates").get(name)
    if info is None:
        known = ", ".join(_index("templates")) or "none"
        raise KeyError(f"no template named '{name}' (templates: {known})")
    return info.path


def load_template(name: str, catalog: BlockCatalog | None = None) -> Project:
    return load_project(template_path(name), catalog)


def load_library(catalog: BlockCatalog | None = None) -> dict[str, Project]:
    """Library projects by file stem."""
    return {info.name: load_project(info.path, catalog) for info in library_files()}
