"""Run folders: everything one training run leaves behind, with nothing pickled.

<project dir>/<project stem>.runs/<timestamp>-<short id>/
    project.msproj        the project as it was trained
    metrics.jsonl         one JSON object per line: progress steps, epochs, the test result
    routing.jsonl         routing facts of the conditional layers (arrays as lists)
    statistics.jsonl      per-module histograms, dead units, update ratios (training.statistics_every)
    best.safetensors      weights with the lowest validation loss
    last.safetensors      weights at the last checkpoint
    optimizer.safetensors optimizer tensors (and random-generator states) to resume
    optimizer.json        the rest of the optimizer and trainer state
    run.json              settings, status and final metrics

Every file is read through the checks of :mod:`modstudio.engine.records.run_files`: a missing or damaged
one is a :class:`~modstudio.engine.records.run_files.RunFileError` that names it and says what is wrong;
nothing is unpickled. Files are written atomically with the permissions files usually get.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from modstudio.compile.weights import WeightsError, read_tensors
from modstudio.engine.records.run_files import (
    JsonLines,
    RunFileError,
    check_json_lines,
    check_safetensors,
    read_json_object,
)
from modstudio.engine.records.run_history import runs_root_of
from modstudio.graph.io import load_project, replace_atomically, save_project, write_atomic
from modstudio.graph.model import Project
from modstudio.graph.problems import ProjectError


def default_runs_root(project_path: Path | None) -> Path:
    """``<dir>/<stem>.runs`` beside a saved project, else ModStudio's user data folder."""
    return runs_root_of(project_path)


def jsonable(value: Any) -> Any:
    """Plain JSON values for numpy arrays, tensors and numbers (NaN and inf become strings)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)
    return value


class RunFolder:
    """One run's folder; files are written atomically where a crash could leave half of one."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._open: dict[str, Any] = {}  # JSON-lines files kept open while a run appends to them

    def close(self) -> None:
        for handle in self._open.values():
            handle.close()
        self._open.clear()

    def __del__(self) -> None:
        self.close()

    @classmethod
    def create(cls, project: Project, project_path: Path | None = None, runs_root: Path | None = None) -> RunFolder:
        root = Path(runs_root) if runs_root is not None else default_runs_root(project_path)
        path = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        path.mkdir(parents=True, exist_ok=False)
        folder = cls(path)
        save_project(project, folder.project_file)
        return folder

    @property
    def project_file(self) -> Path:
        return self.path / "project.msproj"

    def load_project(self, catalog: Any = None) -> Project:
        """The project as it was trained; a RunFileError names what is wrong with the snapshot."""
        name = "project.msproj (the run's snapshot)"
        if not self.project_file.is_file():
            raise RunFileError(name, "missing")
        try:
            return load_project(self.project_file, catalog)
        except ProjectError as exc:
            raise RunFileError(name, "; ".join(str(p) for p in exc.problems)) from None
        except RecursionError:
            read_json_object(self.project_file, name)  # names how deep it goes
            raise RunFileError(name, "nested too deeply to read") from None

    def append(self, name: str, record: Mapping[str, Any]) -> None:
        """One JSON line, flushed at once (a reader sees whole lines; the file stays open between calls).

        A half-written last line left by a killed run is cut off first, so that a resumed run's lines
        do not continue it."""
        handle = self._open.get(name)
        if handle is None:
            _cut_half_written_line(self.path / name)
            handle = self._open[name] = (self.path / name).open("a", encoding="utf-8")
        handle.write(json.dumps(jsonable(record)) + "\n")
        handle.flush()

    def read_lines(self, name: str) -> list[dict[str, Any]]:
        """The objects of a ``.jsonl`` file (see :meth:`check_lines`)."""
        return self.check_lines(name).records

    def check_lines(self, name: str) -> JsonLines:
        """The objects of a ``.jsonl`` file, a half-written last line skipped and counted; a damaged line
        elsewhere is a RunFileError naming the file and the line."""
        if name in self._open:
            self._open[name].flush()
        return check_json_lines(self.path / name)

    def save_weights(self, name: str, state: Mapping[str, torch.Tensor]) -> Path:
        target = self.path / f"{name}.safetensors"
        _save_tensors(target, state)
        return target

    def load_weights(self, name: str) -> dict[str, torch.Tensor]:
        """``<name>.safetensors``, checked before it is read: RunFileError when missing, truncated or a pickle."""
        return _load_tensors(self.path / f"{name}.safetensors")

    def has(self, name: str) -> bool:
        return (self.path / name).exists()

    def save_training_state(
        self, optimizer: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], info: Mapping[str, Any]
    ) -> None:
        """The optimizer's state_dict flattened into safetensors + JSON, with extra tensors and facts."""
        flat, meta = flatten_optimizer(optimizer)
        flat.update({f"trainer.{k}": v for k, v in tensors.items()})
        _save_tensors(self.path / "optimizer.safetensors", flat)
        write_atomic(
            self.path / "optimizer.json", json.dumps({"optimizer": meta, "trainer": jsonable(info)}, indent=1).encode()
        )

    def load_training_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict[str, Any]]:
        """(optimizer state_dict, trainer tensors, trainer facts); a RunFileError names a damaged file."""
        flat = _load_tensors(self.path / "optimizer.safetensors")
        meta = read_json_object(self.path / "optimizer.json")
        optimizer, trainer = meta.get("optimizer"), meta.get("trainer")
        if not isinstance(optimizer, dict) or not isinstance(optimizer.get("param_groups"), list):
            raise RunFileError("optimizer.json", 'no optimizer settings ("optimizer": {"param_groups": [...]})')
        if not isinstance(optimizer.get("plain", {}), dict):
            raise RunFileError("optimizer.json", "optimizer.plain is not a JSON object")
        if not isinstance(trainer, dict):
            raise RunFileError("optimizer.json", 'no trainer facts ("trainer": {...})')
        for key in ("epoch", "step"):
            value = trainer.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise RunFileError("optimizer.json", f"trainer.{key} is {value!r}, not a whole number >= 0")
        tensors = {k[len("trainer.") :]: v for k, v in flat.items() if k.startswith("trainer.")}
        state = {k: v for k, v in flat.items() if k.startswith("state.")}
        unknown = sorted(set(flat) - set(state) - {f"trainer.{k}" for k in tensors})
        if unknown:
            raise RunFileError("optimizer.safetensors", f"unknown tensors: {', '.join(unknown[:5])}")
        try:
            return unflatten_optimizer(state, optimizer), tensors, trainer
        except (ValueError, TypeError, AttributeError) as exc:
            raise RunFileError("optimizer.json", f"the optimizer state cannot be rebuilt: {exc}") from None

    def write_info(self, info: Mapping[str, Any]) -> None:
        write_atomic(self.path / "run.json", (json.dumps(jsonable(info), indent=1) + "\n").encode())

    def read_info(self) -> dict[str, Any]:
        """``run.json``; {} when there is none or it is damaged (it is rewritten whole at the end of a run)."""
        try:
            return read_json_object(self.path / "run.json")
        except RunFileError:
            return {}


def _cut_half_written_line(file: Path) -> None:
    try:
        with file.open("rb+") as handle:
            size = handle.seek(0, 2)
            if size == 0:
                return
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                return
            start = max(size - 1_000_000, 0)  # a line is never longer than this
            handle.seek(start)
            tail = handle.read()
            cut = tail.rfind(b"\n")
            handle.truncate(start + cut + 1 if cut >= 0 else start)
    except FileNotFoundError:
        return


def _load_tensors(file: Path) -> dict[str, torch.Tensor]:
    check_safetensors(file)
    try:
        return read_tensors(file)
    except WeightsError as exc:
        raise RunFileError(file.name, f"not a readable .safetensors file ({exc})") from None


def _save_tensors(target: Path, state: Mapping[str, torch.Tensor]) -> None:
    """safetensors wants contiguous tensors that share no memory: copy what is shared or strided."""
    seen: set[int] = set()
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        tensor = value.detach().cpu()
        pointer = tensor.untyped_storage().data_ptr() if tensor.numel() else -1
        if pointer in seen or not tensor.is_contiguous():
            tensor = tensor.clone().contiguous()
        seen.add(pointer)
        out[key] = tensor
    replace_atomically(target, lambda temporary: save_file(out, str(temporary)))


def flatten_optimizer(state: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``state.<param index>.<name>`` tensors for safetensors; everything else as JSON."""
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for index, entry in state["state"].items():
        for name, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{index}.{name}"] = value
            else:
                plain.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": jsonable(state["param_groups"]), "plain": jsonable(plain)}


def unflatten_optimizer(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = value
    for index, entry in meta.get("plain", {}).items():
        if not isinstance(entry, dict):
            raise ValueError(f"optimizer.plain.{index} is not a JSON object")
        state.setdefault(int(index), {}).update(entry)
    return {"state": state, "param_groups": meta["param_groups"]}
