"""Inspector: the selected node's name, parameters (editors from its BlockSpec), shapes and doc."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit, QPushButton, QScrollArea, QVBoxLayout, QWidget

from modstudio.blocks.catalog import Catalog
from modstudio.graph.document import Change, Operation
from modstudio.graph.library import dependencies
from modstudio.graph.model import Node
from modstudio.graph.numbers import shown
from modstudio.graph.ops import RenameNode, SetModuleParam, SetParam
from modstudio.graph.schema import ParamSpec, params_that_matter

from .checking import CheckResult
from .param_editors import make_editor, parse_number_or_expression
from .scene import ModuleScene
from .search_dimension import Hint
from .search_marks import SearchMarks, hint_of_param, searchable_param


class Inspector(QScrollArea):
    """Edits one node of the shown module; every edit is a SetParam/RenameNode on the undo stack."""

    def __init__(self, scene: ModuleScene, catalog: Catalog, perform: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scene = scene
        self.catalog = catalog
        self.perform = perform  # Callable[[Operation], bool]
        self.node_id: str | None = None
        self.editors: dict[str, QWidget] = {}
        self.name_edit: QLineEdit | None = None
        self.open_member: Callable[[str], None] | None = None  # drill into a member module
        self.marks = SearchMarks(self)  # the magnifier beside each field a search can vary
        self.marks.set_document(scene.doc, perform)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumWidth(260)
        self._refresh = QTimer(self)
        self._refresh.setSingleShot(True)
        self._refresh.setInterval(0)
        self._refresh.timeout.connect(self.rebuild)
        scene.selectionChanged.connect(self._selection_changed)
        scene.checked.connect(lambda _result: self._refresh.start())
        scene.doc.subscribe(self._on_change)
        self.rebuild()

    def _selection_changed(self) -> None:
        try:
            items = self.scene.selectedItems()
        except RuntimeError:  # the scene is being destroyed: its items go and it says the selection changed
            return
        ids = [i.node_id for i in items if hasattr(i, "node_id")]
        self.node_id = ids[0] if len(ids) == 1 else None
        self._refresh.start()

    def _on_change(self, change: Change) -> None:
        if self.node_id in change.node_ids or change.kind.of_module:
            self._refresh.start()

    # building -------------------------------------------------------------------------

    def rebuild(self) -> None:
        self.editors = {}
        self.name_edit = None
        self.marks.clear()
        page = QWidget()
        layout = QVBoxLayout(page)
        module = self.scene.doc.project.modules.get(self.scene.module_name)
        node = module.find(self.node_id) if (module is not None and self.node_id) else None
        if node is None:
            self._module_page(layout)
        else:
            self._node_page(layout, node)
        layout.addStretch(1)
        self.setWidget(page)

    def _module_page(self, layout: QVBoxLayout) -> None:
        project = self.scene.doc.project
        name = self.scene.module_name
        layout.addWidget(_heading(f"Module {name}" if name != project.main else project.name))
        module = project.modules.get(name)
        text = (module.doc if module and module.doc else "") or (project.doc if name == project.main else "")
        if text:
            layout.addWidget(_doc(text))
        check = self.scene.last_check
        if check is not None and check.module == name and check.note:
            note = _doc(check.note[0].upper() + check.note[1:] + ".")
            note.setObjectName("shapes_note")
            layout.addWidget(note)
        if module and module.params:
            layout.addWidget(_doc("Parameters of this module (defaults; each use can set its own):"))
            form = QFormLayout()
            for pname, default in module.params.items():
                kind = "float" if isinstance(default, float) else "int"

                def commit(value: Any, pname: str = pname) -> None:
                    if value is not None and not isinstance(value, str):
                        self.perform(SetModuleParam(name, pname, value))

                editor = make_editor(ParamSpec(pname, kind, default), default, commit, as_text=True)
                label = QLabel(pname)
                form.addRow(label, self.marks.row(editor, f"module:{name}.{pname}", label, Hint(kind, default=default)))
                self.editors[pname] = editor
            layout.addLayout(form)
        layout.addWidget(
            _doc(
                "Select a node to edit it. Drag blocks from the palette; drag from a port to "
                "another port to connect; double-click a module to open it."
            )
        )

    def _node_page(self, layout: QVBoxLayout, node: Node) -> None:
        spec = self.catalog.lookup(node.block or "") if node.block else None
        kind = f"module {node.module}" if node.module else (spec.title if spec else node.block or "?")
        layout.addWidget(_heading(kind))
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.name_edit = QLineEdit(node.name)
        self.name_edit.editingFinished.connect(lambda: self._rename(node.id))
        form.addRow("name", self.name_edit)
        module = self.scene.module
        if node.module is not None:
            target = self.scene.doc.project.modules.get(node.module)
            for pname, default in (target.params if target else {}).items():
                pspec = ParamSpec(pname, "float" if isinstance(default, float) else "int", default)
                self._add_row(form, node, pspec, node.params.get(pname), as_text=True, placeholder=str(default))
            self._unknown_params(form, node, set(target.params) if target else None)
        elif spec is not None:
            for pspec in params_that_matter(spec.params, node.params):  # the others stay in the file, hidden
                value = node.params.get(pspec.name, pspec.default)
                self._add_row(form, node, pspec, value, as_text=bool(module.params))
            self._unknown_params(form, node, {p.name for p in spec.params})
        layout.addLayout(form)
        self._shapes(layout, node.id)
        if spec is not None and spec.doc:
            layout.addWidget(_doc(spec.doc))

    def _add_row(
        self, form: QFormLayout, node: Node, pspec: ParamSpec, value: Any, as_text: bool, placeholder: str = ""
    ) -> None:
        node_id, name = node.id, pspec.name

        def commit(new: Any) -> None:
            self.perform(SetParam(self.scene.module_name, node_id, name, new))

        doc, here = self.scene.doc, self.scene.module_name
        # only modules that do not use this one (directly or not): anything else would recurse
        others = [m for m in doc.project.modules if here not in dependencies(doc.project, m, doc.catalog)]
        editor = make_editor(pspec, value, commit, as_text=as_text, modules=others, on_open=self.open_member)
        if placeholder and isinstance(editor, QLineEdit):
            editor.setPlaceholderText(placeholder)
        if pspec.doc:
            editor.setToolTip(pspec.doc)
        label = QLabel(name)
        label.setToolTip(pspec.doc)
        label.setProperty("help", pspec.doc)
        if searchable_param(pspec):
            target = f"node:{self.scene.module_name}/{node.name}.{name}"
            hint = Hint(pspec.kind, default=pspec.default) if node.module is not None else hint_of_param(pspec)
            form.addRow(label, self.marks.row(editor, target, label, hint))
        else:
            form.addRow(label, editor)
        self.editors[name] = editor

    def _unknown_params(self, form: QFormLayout, node: Node, known: set[str] | None) -> None:
        """Params the block (or module) does not have, kept as a file wrote them: each can be removed."""
        for pname in [p for p in node.params if known is not None and p not in known]:
            button = QPushButton(f"{shown(node.params[pname])}: unknown, remove")
            button.setToolTip(f"'{pname}' is not a parameter of this node; remove it from the file")
            button.clicked.connect(
                lambda _=False, n=pname, i=node.id: self.perform(SetParam(self.scene.module_name, i, n, None))
            )
            label = QLabel(pname)
            label.setObjectName("error")
            form.addRow(label, button)
            self.editors[pname] = button

    def _shapes(self, layout: QVBoxLayout, node_id: str) -> None:
        result: CheckResult | None = self.scene.last_check
        if result is None:
            return
        outs = [label for (src, _port), label in result.edge_labels.items() if src == node_id]
        if outs:
            layout.addWidget(_doc("output " + ", ".join(outs)))
        error = result.node_errors.get(node_id)
        if error:
            label = QLabel(error)
            label.setObjectName("error")
            label.setWordWrap(True)
            layout.addWidget(label)

    def _rename(self, node_id: str) -> None:
        if self.name_edit is None:
            return
        node = self.scene.module.find(node_id)
        new = self.name_edit.text().strip()
        if node is not None and new and new != node.name:
            op: Operation = RenameNode(self.scene.module_name, node_id, new)
            if not self.perform(op):
                self.name_edit.setText(node.name)


def _heading(text: str) -> QLabel:
    label = QLabel(f"<b style='font-size:12pt'>{text}</b>")
    label.setWordWrap(True)
    return label


def _doc(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("doc")
    label.setWordWrap(True)
    return label


__all__ = ["Inspector", "parse_number_or_expression"]
