"""What the network is trained to do (from the main module's Output node), checked against the data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from modstudio.compile.shapes import ModuleShapes
from modstudio.engine.data import TensorData
from modstudio.engine.errors import EngineError
from modstudio.graph.model import Project


@dataclass(frozen=True)
class Task:
    """The trained output: classification (logits, ``width`` classes) or regression (``width`` values)."""

    kind: Literal["classification", "regression"]
    output: str  # the Output node's name
    index: int  # position among the main module's outputs (when the network returns several)
    width: int
    input: str  # the Input node's name
    input_shape: tuple[int, ...]
    input_dtype: str
    num_outputs: int

    @property
    def metric(self) -> str:
        return "accuracy" if self.kind == "classification" else "r2"


def task_of(project: Project, shapes: ModuleShapes) -> Task:
    main = project.main_module
    inputs = main.input_nodes
    if len(inputs) != 1:
        raise EngineError(
            f"training needs a main module with exactly one Input; '{project.main}' has {len(inputs)}", "task"
        )
    outputs = main.output_nodes
    for index, node in enumerate(outputs):
        kind = node.params.get("task", "none")
        if kind in ("classification", "regression"):
            info = shapes.outputs[index] if index < len(shapes.outputs) else None
            if info is None or len(info.shape) != 1:
                raise EngineError(
                    f"Output '{node.name}' receives {info}, not [N, {'classes' if kind == 'classification' else 'outputs'}]",
                    "shape",
                )
            received = shapes.nodes[inputs[0].id].outputs["out"]
            return Task(
                kind, node.name, index, info.shape[0], inputs[0].name, received.shape, received.dtype, len(outputs)
            )
    names = ", ".join(f"'{n.name}'" for n in outputs) or "none"
    raise EngineError(
        f"no Output of the main module has a task (Outputs: {names}); set an Output's task to classification or regression to train",
        "task",
    )


def check_task(task: Task, data: TensorData) -> None:
    """Refuse data that does not fit the network, naming the node and the dataset."""
    if tuple(task.input_shape) != data.sample_shape:
        raise EngineError(
            f"Input '{task.input}' takes samples of shape {list(task.input_shape)} "
            f"but the {data.name} dataset gives {list(data.sample_shape)}",
            "task",
        )
    if task.kind == "classification":
        if data.target != "classification":
            raise EngineError(
                f"Output '{task.output}' is set to classification but the {data.name} dataset has real-valued "
                "targets; set the Output's task to regression",
                "task",
            )
        if task.width != data.num_classes:
            raise EngineError(
                f"Output '{task.output}' gives {task.width} classes but the {data.name} dataset has {data.num_classes}",
                "task",
            )
    else:
        if data.target != "regression":
            raise EngineError(
                f"Output '{task.output}' is set to regression but the {data.name} dataset has classes; "
                "set the Output's task to classification",
                "task",
            )
        width = data.y.shape[1] if data.y.dim() == 2 else 1
        if task.width != width:
            raise EngineError(
                f"Output '{task.output}' gives {task.width} values per sample but the {data.name} dataset has {width}",
                "task",
            )
