"""The layering of docs/architecture.md: graph < blocks < compile < engine < ui | cli, torch kept out of
the catalogue, the specs, shape inference and what the GUI thread imports of the engine, Qt only in
the UI. The import-linter contracts in pyproject.toml say it; these tests run them, show that they
break when a forbidden import is added, and check what they cannot see: imports at import time."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.environment import python_path

try:
    import tomllib
except ImportError:  # Python 3.10: import-linter brings tomli
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    env = {**os.environ, "PYTHONPATH": python_path(cwd)}  # the package under cwd, not the one the tests import
    return subprocess.run([exe, "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def verdicts(output: str) -> dict[str, str]:
    """Each contract's name and KEPT or BROKEN, as lint-imports lists them (long names wrap)."""
    listing = output.split("Contracts: ")[0].split("dependencies.")[-1]
    words = " ".join(listing.split())
    found = {}
    for contract in CONTRACTS:
        match = re.search(re.escape(contract["name"]) + r" (KEPT|BROKEN)", words)
        found[contract["name"]] = match.group(1) if match else "missing"
    return found


def test_every_contract_holds():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(verdicts(result.stdout).values()) == {"KEPT"}, result.stdout
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken" in result.stdout
    kinds = {c["type"] for c in CONTRACTS}
    assert {"layers", "forbidden", "acyclic_siblings"} <= kinds


def test_the_contracts_break_when_a_forbidden_import_is_added(tmp_path):
    """A copy of the package with three wrong imports: shape inference reaching into the engine
    (a lower layer importing a higher one, and torch with it), the runs list importing torch, and a
    spec importing the compiler (a cycle between blocks and compile)."""
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copytree(ROOT / "modstudio", copy / "modstudio", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    wrong = {
        "compile/shapes.py": "import modstudio.engine.session",
        "engine/records/run_history.py": "import torch",
        "blocks/spec.py": "import modstudio.compile.graphnet",
    }
    for file, line in wrong.items():
        path = copy / "modstudio" / file
        path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    result = lint_imports(copy)
    assert result.returncode != 0
    found = verdicts(result.stdout)
    by_id = {c.get("id"): found[c["name"]] for c in CONTRACTS}
    assert by_id["layers"] == "BROKEN", result.stdout
    assert by_id["no-torch-catalogue"] == "BROKEN", result.stdout
    assert by_id["no-torch-gui-engine"] == "BROKEN", result.stdout
    assert by_id["acyclic"] == "BROKEN", result.stdout
    assert "modstudio.compile.shapes -> modstudio.engine.session" in result.stdout


def test_every_top_level_module_has_a_layer():
    """The layers contract is exhaustive: a new top-level module must be placed in it."""
    layers = next(c for c in CONTRACTS if c["type"] == "layers")
    assert layers["exhaustive"] is True
    named = {name.strip() for layer in layers["layers"] for name in layer.split("|")}
    present = {p.stem for p in (ROOT / "modstudio").glob("*.py") if p.stem != "__init__"}
    present |= {p.name for p in (ROOT / "modstudio").iterdir() if (p / "__init__.py").is_file()}
    assert named == present


def run_python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_every_block_spec_module_is_held_to_no_torch():
    """A new spec module under blocks/ is checked by the no-torch contract, not silently left out of it."""
    contract = next(c for c in CONTRACTS if c.get("id") == "no-torch-catalogue")
    modules = {
        f"modstudio.blocks.{p.stem}" for p in (ROOT / "modstudio" / "blocks").glob("*.py") if p.stem != "__init__"
    }
    assert modules - set(contract["source_modules"]) == set()


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
    assert run_python(code) == "[]"


def test_every_module_of_the_gui_imports_without_torch():
    """The window opens before torch loads: the GUI thread imports torch only when it needs it
    (a network's parameter count, an analysis), never by importing a module of modstudio.ui."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import modstudio.ui\n"
        "names = [m.name for m in pkgutil.walk_packages(modstudio.ui.__path__, 'modstudio.ui.')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "print(len(names), 'PySide6' in sys.modules, 'torch' in sys.modules)\n"
    )
    count, qt, torch = run_python(code).split()
    assert int(count) > 30 and qt == "True"
    assert torch == "False"


def test_nothing_refers_to_files_outside_the_repository():
    """The architecture is documented in docs/architecture.md, not in a file beside the checkout."""
    files = [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("modstudio/**/*.py"), *ROOT.glob("tests/**/*.py")]
    outside = re.compile(r"\.\./shared|DESIGN\.md")
    me = Path(__file__).resolve()
    offenders = [str(f.relative_to(ROOT)) for f in files if f.resolve() != me and outside.search(f.read_text("utf-8"))]
    assert offenders == []
    assert (ROOT / "docs" / "architecture.md").is_file()
