"""Export a project: readable Python, TorchScript, torch.export (.pt2), ONNX, a torchrun folder.

Every artifact is built from the generated torch-only module, loaded back and compared with
GraphNet on the same inputs before it is written; outputs appear atomically (a temporary file
or folder, then a rename), so a failed export leaves nothing behind.
"""

from __future__ import annotations

from .constructors import ExportError
from .exporter import FORMATS, ExportResult, build_network, export_project

__all__ = ["FORMATS", "ExportError", "ExportResult", "build_network", "export_project"]
