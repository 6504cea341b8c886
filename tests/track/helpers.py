"""An exported MoE model (moe_2d's Python export) imported as a plain module, and the GraphNet it came from."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from modstudio.blocks import default_catalog
from modstudio.compile.export import export_project
from modstudio.graph.model import Project
from modstudio.library import load_template


def exported_moe(folder: Path, template: str = "moe_2d") -> tuple[ModuleType, str, Project]:
    """(the exported module, its top class name, the project) for ``template``."""
    project = load_template(template, default_catalog())
    result = export_project(project, "python", folder / "model.py")
    name = f"exported_{template}_{abs(hash(str(folder)))}"
    spec = importlib.util.spec_from_file_location(name, folder / "model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module, result.top_class, project
