"""Everything wrong with a training setup that can be known before a run starts, without torch.

``training_problems(project)`` lists, in sentences a person understands, what would make
the worker refuse the run: a network that cannot be built, a dataset file that is not
there, data that does not fit the network's Input or Output, a batch larger than the
training split, a split that leaves a part empty, a device this machine does not have.
An empty list means the run should start; the worker still checks everything again.

With ``memory=True`` (just before a run starts: the CLI's ``train``, the GUI's Train button)
also a network too large for this machine's memory (see :mod:`modstudio.compile.memory`);
that check imports torch and builds the network on the meta device, so the live checks that
run on every edit leave it out.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modstudio.blocks import default_catalog
from modstudio.compile.shapes import ModuleShapes, ShapeInference
from modstudio.engine.dataset_facts import DatasetFacts, DatasetProblem, dataset_facts
from modstudio.engine.settings import TrainSettings
from modstudio.graph.graft import split_weights
from modstudio.graph.model import Project
from modstudio.graph.validate import check_project

DEVICES = ("auto", "cpu", "cuda", "mps")


def training_problems(
    project: Project, settings: TrainSettings | None = None, project_path: Path | None = None, *, memory: bool = False
) -> list[str]:
    """Why training this project would fail, one sentence each (empty: nothing known to be wrong).

    ``project_path`` is where the project is saved: dataset paths are relative to its folder.
    ``memory``: also estimate the memory training needs (imports torch).
    """
    settings = settings or TrainSettings()
    problems = _settings_problems(project, settings)
    if settings.resume:
        folder = Path(settings.resume)
        if not (folder / "optimizer.json").exists() or not (folder / "last.safetensors").exists():
            problems.append(f"{folder} is not a run folder with a checkpoint to resume")
        return problems  # the run continues the project saved in that folder
    # only a project opened for repair in the editor has any (every other way in loads strictly)
    problems += [f"The project has a problem to fix first: {p}" for p in check_project(project, default_catalog())]
    shapes = ShapeInference(project, default_catalog()).run()
    problems += [f"The network cannot be built: {p.message} (in module '{p.module}')" for p in shapes.errors]
    if memory and not shapes.errors:
        problems += memory_problems(project, shapes)
    task = _task(project, shapes) if not shapes.errors else None
    if isinstance(task, str):
        problems.append(task)
        task = None
    base = project_path.parent if project_path is not None else None
    problems += weights_problems(project, base)
    try:
        facts = dataset_facts(project.data, base, task.input_shape if task else None)
    except DatasetProblem as exc:
        problems.append(_sentence(str(exc)))
        return problems
    problems += _split_problems(project, facts)
    problems += augmentation_problems(project.data.augmentation, _is_image(facts))
    problems += curriculum_problems(project.data.curriculum)
    if task is not None:
        problems += _fit_problems(task, facts)
    return problems


def memory_problems(project: Project, shapes: ModuleShapes | None = None) -> list[str]:
    """Training that cannot fit in this machine's memory, refused before anything is allocated
    (an estimate from a build on torch's meta device; empty when the network does not compile,
    which ``training_problems`` says, or cannot be built on the meta device)."""
    from modstudio.compile.graphnet import CompileError
    from modstudio.compile.memory import estimate_memory, training_refusal

    try:
        estimate = estimate_memory(project, default_catalog(), shapes)
    except CompileError:  # shapes are said elsewhere; a plugin's build that needs real tensors (.item()) on
        return []  # the meta device (BlockBuildError) gives no estimate: the run is tried as before
    refusal = training_refusal(estimate)
    return [refusal] if refusal else []


@dataclass(frozen=True)
class _Task:
    """The trained Output and the Input it is fed through (as the engine's Task sees them)."""

    kind: str
    output: str
    width: int
    input: str
    input_shape: tuple[int, ...]


def _task(project: Project, shapes: ModuleShapes) -> _Task | str:
    main = project.main_module
    inputs = main.input_nodes
    if len(inputs) != 1:
        return f"Training needs a main module with exactly one Input; '{project.main}' has {len(inputs)}."
    for index, node in enumerate(main.output_nodes):
        kind = node.params.get("task", "none")
        if kind in ("classification", "regression"):
            info = shapes.outputs[index] if index < len(shapes.outputs) else None
            if info is None or len(info.shape) != 1:
                what = "classes" if kind == "classification" else "outputs"
                return f"Output '{node.name}' receives {info}, not [N, {what}]; add a Flatten or a Linear before it."
            received = shapes.nodes[inputs[0].id].outputs["out"]
            return _Task(kind, node.name, info.shape[0], inputs[0].name, tuple(received.shape))
    names = ", ".join(f"'{n.name}'" for n in main.output_nodes) or "none"
    return (
        f"No Output of the main module has a task (Outputs: {names}); "
        "set an Output's task to classification or regression to train."
    )


def _fit_problems(task: _Task, facts: DatasetFacts) -> list[str]:
    problems = []
    if facts.sample_shape is not None and tuple(task.input_shape) != facts.sample_shape:
        problems.append(
            f"Input '{task.input}' takes samples of shape {list(task.input_shape)} "
            f"but the {facts.name} dataset gives {list(facts.sample_shape)}."
        )
    if task.kind == "classification" and facts.target == "regression":
        problems.append(
            f"Output '{task.output}' is set to classification but the {facts.name} dataset has real-valued "
            "targets; set the Output's task to regression."
        )
    elif task.kind == "classification" and task.width != facts.classes:
        problems.append(
            f"Output '{task.output}' gives {task.width} classes but the {facts.name} dataset has {facts.classes}."
        )
    elif task.kind == "regression" and facts.target == "classification":
        problems.append(
            f"Output '{task.output}' is set to regression but the {facts.name} dataset has classes; "
            "set the Output's task to classification."
        )
    elif task.kind == "regression" and task.width != facts.outputs:
        problems.append(
            f"Output '{task.output}' gives {task.width} values per sample "
            f"but the {facts.name} dataset has {facts.outputs}."
        )
    return problems


def _split_problems(project: Project, facts: DatasetFacts) -> list[str]:
    d = project.data
    if facts.samples is None:
        return []
    n = facts.samples
    n_test, n_val = round(n * d.test_fraction), round(n * d.val_fraction)
    n_train = n - n_test - n_val
    if n_train < 1:
        return [
            f"The validation share {d.val_fraction} and test share {d.test_fraction} leave no training samples "
            f"of the {n} in the {facts.name} dataset; make them smaller."
        ]
    problems = []
    for what, share, count in (("validation", d.val_fraction, n_val), ("test", d.test_fraction, n_test)):
        if share > 0 and count == 0:
            problems.append(
                f"The {what} share {share} of the {n} samples in the {facts.name} dataset is less than one "
                f"sample, so the {what} split would be empty; make it larger, or 0 for no {what} split."
            )
    if d.batch_size > n_train:
        problems.append(
            f"The batch size {d.batch_size} is larger than the training split ({n_train} of the {n} samples "
            f"in the {facts.name} dataset); use a batch size of at most {n_train}."
        )
    return problems


def _is_image(facts: DatasetFacts) -> bool:
    return facts.sample_shape is not None and len(facts.sample_shape) == 3


def augmentation_problems(spec: Mapping[str, Any], is_image: bool) -> list[str]:
    """What the engine would refuse in ``data.augmentation`` (crop and flip are for images only)."""
    allowed = {"crop_padding": int, "flip": bool, "noise": float} if is_image else {"noise": float}
    problems = []
    for key, value in spec.items():
        if key not in allowed:
            what = "image" if is_image else "non-image"
            problems.append(f"Augmentation '{key}' is not available for {what} data (options: {', '.join(allowed)}).")
        elif allowed[key] is bool and not isinstance(value, bool):
            problems.append(f"Augmentation '{key}' must be true or false, not {value!r}.")
        elif allowed[key] is not bool and (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or value < 0
            or (allowed[key] is int and not float(value).is_integer())
        ):
            problems.append(f"Augmentation '{key}' must be a number >= 0, not {value!r}.")
    return problems


def curriculum_problems(spec: Mapping[str, Any] | None) -> list[str]:
    """What the engine would refuse in ``data.curriculum`` (None: no curriculum)."""
    if spec is None:
        return []
    problems = [
        f"The curriculum has no option '{key}' (options: start, epochs, score)."
        for key in spec
        if key not in ("start", "epochs", "score")
    ]
    start, epochs, score = spec.get("start", 0.3), spec.get("epochs", 5), spec.get("score", "auto")
    if isinstance(start, bool) or not isinstance(start, (int, float)) or not 0 < start <= 1:
        problems.append(f"The curriculum's start must be a share in (0, 1], not {start!r}.")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        problems.append(f"The curriculum's epochs must be a whole number >= 1, not {epochs!r}.")
    if score not in ("auto", "centroid"):
        problems.append(f"The curriculum's score must be auto or centroid, not {score!r}.")
    return problems


def weights_problems(project: Project, base: Path | None) -> list[str]:
    """Starting weights and grafted nodes' weights whose file is not there (whether they fit is the worker's check)."""
    wanted = [("The starting weights", project.training.init_weights)] + [
        (f"The weights attached to '{node.name}' in module '{name}'", node.weights)
        for name, module in project.modules.items()
        for node in module.nodes
    ]
    problems = []
    for what, reference in wanted:
        if reference is None:
            continue
        path = Path(split_weights(reference)[0]).expanduser()
        if not path.is_absolute():
            if base is None:
                problems.append(
                    f"{what} name the relative path '{path}' but the project is not saved yet; save it first."
                )
                continue
            path = base / path
        if not path.is_file():
            problems.append(f"{what} file {path} does not exist.")
    return problems


def _settings_problems(project: Project, settings: TrainSettings) -> list[str]:
    problems = []
    if settings.epochs is not None and (isinstance(settings.epochs, bool) or settings.epochs < 1):
        problems.append(f"The number of epochs must be at least 1, not {settings.epochs}.")
    device = settings.device or project.training.device
    if device not in DEVICES:
        problems.append(f"Unknown device '{device}' (devices: {', '.join(DEVICES)}).")
    else:
        why = _device_missing(device)
        if why:
            problems.append(why)
    return problems + optimizer_problems(project)


FLOAT32_MAX = 3.4028234663852886e38


def optimizer_problems(project: Project) -> list[str]:
    """Optimizer settings too large for the 32-bit weights they update: torch cannot even apply them
    (SGD with a learning rate of 1e308 stopped with "value cannot be converted to type float without overflow")."""
    t = project.training
    return [
        f"training.{name} is {value:g}, too large: the weights are 32-bit floats, which end at {FLOAT32_MAX:.1e}."
        for name, value in (("learning_rate", t.learning_rate), ("weight_decay", t.weight_decay))
        if value > FLOAT32_MAX
    ]


def _device_missing(device: str) -> str | None:
    """Only what is known without importing torch: MPS is Apple's, CUDA is not on macOS."""
    if device == "mps" and sys.platform != "darwin":
        return "Device 'mps' was asked for but Apple's MPS exists only on macOS; use auto or cpu."
    if device == "cuda" and sys.platform == "darwin":
        return "Device 'cuda' was asked for but CUDA is not available on macOS; use auto, mps or cpu."
    torch = sys.modules.get("torch")  # already loaded in this process: asking costs nothing
    if device == "cuda" and torch is not None and not torch.cuda.is_available():
        return "Device 'cuda' was asked for but no CUDA GPU is available; use auto or cpu."
    return None


def _sentence(text: str) -> str:
    """A DatasetProblem's message ("data.options.path: ...") as a sentence ending with a full stop."""
    text = text.strip()
    return text if text.endswith((".", ")")) else f"{text}."
