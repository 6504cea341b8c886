"""The layering of DESIGN.md §1: the document and the editor session need neither Qt nor torch, and only the UI
uses Qt."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_linter_contracts_hold():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    result = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout
    assert "The editor session (modstudio.editor) imports neither Qt nor torch KEPT" in result.stdout


def test_document_catalogue_and_shape_inference_load_without_torch():
    """The editor shows its palette and checks shapes before torch is imported."""
    code = (
        "import sys\n"
        "from modstudio.graph.io import load_project\n"
        "from modstudio.blocks import default_catalog\n"
        "from modstudio.compile.shapes import infer_shapes\n"
        "from modstudio.library import load_template\n"
        "catalog = default_catalog()\n"
        "assert len(catalog) > 40\n"
        "assert infer_shapes(load_template('resnet18', catalog)).ok\n"
        "heavy = sorted(m for m in ('torch', 'PySide6', 'pyqtgraph') if m in sys.modules)\n"
        "print(heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
