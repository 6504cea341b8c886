"""``modstudio --selftest``: a headless check that an installed or frozen ModStudio works end to end.

It loads a template, trains one short epoch in the spawned worker process (the way the GUI
and ``modstudio train`` do), exports the trained network to python, imports that file back
and compares its outputs with the project's network on the same weights, and reads the
digits data set. It prints one line per step and a summary ending in ``selftest: ok``; the
first failure prints what failed and why. Qt is never imported.
"""

from __future__ import annotations

import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from modstudio import __version__

DEFAULT_TEMPLATE = "moe_2d"
TRAIN_TIMEOUT = 600.0  # seconds for the one-epoch run, worker start included
TOLERANCE = 1e-5  # largest allowed |export - project| on the same weights
DIGITS_SAMPLES = 1797


class SelftestFailure(Exception):
    """One step went wrong; the message says what."""


@dataclass
class Report:
    """What the steps found, printed as the summary."""

    lines: list[tuple[str, str]] = field(default_factory=list)

    def add(self, name: str, value: str) -> None:
        self.lines.append((name, value))


def frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def versions() -> str:
    import numpy
    import torch

    kind = "frozen app" if frozen() else "from source" if _from_checkout() else "installed"
    return (
        f"modstudio {__version__} ({kind}), python {platform.python_version()}, torch {torch.__version__}, "
        f"numpy {numpy.__version__}, {platform.system()} {platform.machine()}"
    )


def _from_checkout() -> bool:
    return (Path(__file__).resolve().parent.parent / "pyproject.toml").is_file()


def load(template: str) -> Any:
    from modstudio.blocks import default_catalog
    from modstudio.library import load_template, resources_dir

    try:
        project = load_template(template, default_catalog())
    except KeyError as exc:
        raise SelftestFailure(str(exc.args[0])) from None
    return project, resources_dir()


def train_one_epoch(project: Any, workdir: Path) -> dict[str, Any]:
    """One epoch in the spawned worker; the ``started`` and ``finished`` messages merged."""
    from modstudio.engine.client import TrainClient
    from modstudio.engine.protocol import Epoch, Error, Finished, Started
    from modstudio.engine.settings import TrainSettings

    client = TrainClient()
    began = time.perf_counter()
    client.start(project, TrainSettings(epochs=1, runs_root=str(workdir / "runs")), workdir / "selftest.msproj")
    messages = client.wait(TRAIN_TIMEOUT)
    if not client.finished:
        client.kill()
        raise SelftestFailure(f"the training worker did not finish one epoch within {TRAIN_TIMEOUT:.0f} s")
    errors = [m.message for m in messages if isinstance(m, Error)]
    started = next((m.to_dict() for m in messages if isinstance(m, Started)), {})
    epochs = [m for m in messages if isinstance(m, Epoch)]
    finished = messages[-1]
    if not isinstance(finished, Finished) or finished.status != "completed" or errors:
        status = finished.status if isinstance(finished, Finished) else "unfinished"
        reason = "; ".join(errors) or getattr(finished, "error", "") or f"status {status}"
        raise SelftestFailure(f"training failed: {reason}")
    if len(epochs) != 1:
        raise SelftestFailure(f"asked for one epoch, the worker reported {len(epochs)}")
    wall = time.perf_counter() - began
    return {**started, **finished.to_dict(), "epoch_seconds": epochs[0].seconds or 0.0, "wall_seconds": wall}


def export_and_check(project: Any, weights: Path, workdir: Path) -> tuple[Path, float]:
    """Export to python with the trained weights, import the file, compare with the project's network."""
    import torch

    from modstudio.compile.export import ExportError, export_project
    from modstudio.compile.export.check import import_file, largest_difference, sample_inputs
    from modstudio.compile.export.exporter import build_network

    out = workdir / "model.py"
    try:
        result = export_project(project, "python", out, weights=weights)
        reference = build_network(project, weights)
    except ExportError as exc:
        raise SelftestFailure(f"export failed: {exc}") from None
    model = getattr(import_file(out), result.top_class)()
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(weights)), strict=True)
    model.eval()
    inputs = sample_inputs(project, 16, seed=1)
    difference = largest_difference(reference, model, inputs)
    if not torch.isfinite(torch.tensor(difference)) or difference > TOLERANCE:
        raise SelftestFailure(f"the exported model's outputs differ from the project's by {difference:.2e}")
    return out, difference


def digits_data() -> int:
    from modstudio.engine.data.files import digits

    data = digits({}, 0, Path.cwd())
    if len(data.y) != DIGITS_SAMPLES:
        raise SelftestFailure(f"the digits data set has {len(data.y)} samples, not {DIGITS_SAMPLES}")
    return len(data.y)


def _step(out: TextIO, name: str, work: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    try:
        value = work()
    except SelftestFailure as exc:
        raise SelftestFailure(f"{name}: {exc}") from None
    except Exception as exc:  # everything else is a fault worth a clear line, not a traceback
        raise SelftestFailure(f"{name}: {type(exc).__name__}: {exc}") from None
    print(f"  {name}: ok ({time.perf_counter() - started:.1f} s)", file=out, flush=True)
    return value


def run_selftest(template: str = DEFAULT_TEMPLATE, workdir: str | Path | None = None, out: TextIO | None = None) -> int:
    """Run every step; 0 and ``selftest: ok`` when all pass, 1 and the failed step otherwise.

    ``workdir`` receives the run folder and the export (default: a new temporary folder, kept
    so the export can be looked at).
    """
    out = out or sys.stdout
    report = Report()
    began = time.perf_counter()
    print(f"modstudio selftest: template {template}", file=out, flush=True)
    try:
        report.add("versions", _step(out, "versions", versions))
        project, resources = _step(out, "load template", lambda: load(template))
        report.add("resources", str(resources))
        report.add("template", f"{template} ({project.name})")
        workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="modstudio-selftest-"))
        workdir.mkdir(parents=True, exist_ok=True)
        run = _step(out, "train one epoch in the worker process", lambda: train_one_epoch(project, workdir))
        report.add("device", f"{run.get('device')} ({run.get('precision')})")
        report.add(
            "epoch time", f"{run['epoch_seconds']:.2f} s (worker process start to finish {run['wall_seconds']:.2f} s)"
        )
        accuracy = run.get("test_accuracy")
        report.add("test accuracy", "-" if accuracy is None else f"{accuracy:.4f} after one epoch")
        weights = Path(run["run_folder"]) / "best.safetensors"
        path, difference = _step(out, "export python", lambda: export_and_check(project, weights, workdir))
        report.add("export", f"{path} (outputs within {difference:.1e} of the project's)")
        samples = _step(out, "digits data", digits_data)
        report.add("digits data", f"{samples} samples")
    except SelftestFailure as exc:
        print(f"selftest: FAILED at {exc}", file=out, flush=True)
        return 1
    except OSError as exc:  # the work folder cannot be made
        print(f"selftest: FAILED at work folder: {exc.strerror or exc} ({exc.filename})", file=out, flush=True)
        return 1
    width = max(len(name) for name, _ in report.lines)
    for name, value in report.lines:
        print(f"{name.rjust(width)}: {value}", file=out)
    print(f"selftest: ok ({time.perf_counter() - began:.1f} s)", file=out, flush=True)
    return 0
