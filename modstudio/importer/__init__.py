"""Bringing existing PyTorch models in: ``modstudio import SOURCE -o FILE.msproj``.

``import_model(source, input_shape=..., args=..., weights=..., progress=...) -> Imported`` traces the
model with torch.fx one module at a time, maps layers and ops onto catalogue blocks (each block's
importer hook, plugins' ``IMPORTERS``), groups submodules into (parametric) ModuleDefs and checks the
project against the model; ``write_import(imported, out, force)`` writes ``FILE.msproj`` and
``FILE.init.safetensors``. Torch loads when those are first used, not when this package is imported.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ImportProblem", "Imported", "NotMappable", "import_model", "write_import"]


def __getattr__(name: str) -> Any:
    if name in ("import_model", "write_import", "Imported", "ImportReport"):
        from . import api

        return getattr(api, name)
    if name in ("ImportProblem", "NotMappable", "Unmapped"):
        from . import errors

        return getattr(errors, name)
    raise AttributeError(name)
