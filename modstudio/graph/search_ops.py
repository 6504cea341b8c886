"""Edits of the search section and "apply this trial", each one undoable with an exact inverse.

``SetSearchDimension`` adds, replaces or removes the dimension of one target; ``SetObjectives`` sets what
a search optimises; ``ApplyTrial`` sets a trial's values in the project as one edit. Changes of the
section emit ``search_changed`` (``param``: the target, or ``"objectives"``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from .document import Batch, Document, Operation, OperationError
from .model import Project, SearchDimension, SearchSection
from .module_ops import SetModuleParam
from .ops import SetParam
from .schema import BlockCatalog
from .search_form import TargetError, objectives_problem, parse_target
from .search_space import dimension_problem, new_section
from .section_ops import RestoreSearch, SetSectionField


@dataclass
class SetSearchDimension(Operation):
    """Search over ``target`` with ``dimension`` (added, or in place of the target's dimension); None
    stops searching it. A search section left with no dimension is removed."""

    target: str
    dimension: SearchDimension | None

    def apply(self, doc: Document) -> None:
        section = new_section(doc.project)
        index = next((i for i, d in enumerate(section.dimensions) if d.target == self.target), None)
        if self.dimension is None:
            if index is None:
                raise OperationError(f"{self.target} is not searched")
            del section.dimensions[index]
            text = f"Stop searching {self.target}"
        else:
            if self.dimension.target != self.target:
                raise OperationError(f"the dimension is for {self.dimension.target}, not {self.target}")
            why = dimension_problem(doc.project, self.dimension, doc.catalog)
            if why:
                raise OperationError(why)
            if index is None:
                section.dimensions.append(copy.deepcopy(self.dimension))
            else:
                section.dimensions[index] = copy.deepcopy(self.dimension)
            text = f"Search {self.target}"
        keep = section.dimensions or section.objectives != SearchSection().objectives
        op = RestoreSearch(section if keep else None, text, self.target)
        self._done(text, doc.apply(op))


@dataclass
class SetObjectives(Operation):
    """What a search optimises: ``accuracy`` (maximised), ``loss``, ``-params``, ``-flops`` (minimised)."""

    objectives: list[str]

    def apply(self, doc: Document) -> None:
        objectives = list(self.objectives)
        why = objectives_problem(objectives)
        if why:
            raise OperationError(why)
        section = new_section(doc.project)
        section.objectives = objectives
        text = f"Search for {', '.join(objectives)}"
        self._done(text, doc.apply(RestoreSearch(section, text, "objectives")))


@dataclass
class ApplyTrial(Operation):
    """Set every target to its value (a trial's parameters) as one edit; a refused value undoes the rest."""

    values: dict[str, Any]
    text: str = ""

    def apply(self, doc: Document) -> None:
        inverses: list[Operation] = []
        try:
            for target, value in self.values.items():
                inverses.append(doc.apply(_setter(doc, target, value)))
        except (OperationError, TargetError) as exc:
            for inverse in reversed(inverses):
                doc.apply(inverse)
            if isinstance(exc, TargetError):
                raise OperationError(str(exc)) from None
            raise
        text = self.text or f"Apply {', '.join(f'{t} = {v}' for t, v in self.values.items())}"
        self._done(text, Batch(inverses[::-1], text))


def _setter(doc: Document, target: str, value: Any) -> Operation:
    """The editor's own operation that sets one target (so it is checked as the inspector's edit is)."""
    where = parse_target(target)
    if where.kind in ("training", "data"):
        return SetSectionField(where.kind, where.name, value)  # type: ignore[arg-type]
    if where.kind == "option":
        options = {**doc.project.data.options, where.name: value}
        return SetSectionField("data", "options", options)
    if where.kind == "module":
        doc.module(where.module)
        return SetModuleParam(where.module, where.name, value)
    node = doc.module(where.module).node_named(where.node)
    if node is None:
        raise OperationError(f"{target}: module '{where.module}' has no node named '{where.node}'")
    return SetParam(where.module, node.id, where.name, value)


def with_values(project: Project, values: dict[str, Any], catalog: BlockCatalog) -> Project:
    """A copy of the project with each target set to its value (checked as the editor checks an edit:
    raises OperationError naming a refused value); the project itself is not changed."""
    doc = Document(copy.deepcopy(project), catalog)
    doc.apply(ApplyTrial(dict(values)))
    return doc.project
