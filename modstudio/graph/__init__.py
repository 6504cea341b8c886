"""The document: Project, ModuleDef, Node, Edge, JSON I/O, validation, edit operations.

Imports neither Qt nor torch.
"""

from .document import Change, Document, History, Operation, OperationError
from .model import FORMAT_VERSION, DataSection, Edge, ModuleDef, Node, Project, TrainingSection, UIData, new_id
from .problems import Problem, ProjectError

__all__ = [
    "FORMAT_VERSION",
    "Change",
    "DataSection",
    "Document",
    "Edge",
    "History",
    "ModuleDef",
    "Node",
    "Operation",
    "OperationError",
    "Problem",
    "Project",
    "ProjectError",
    "TrainingSection",
    "UIData",
    "new_id",
]
