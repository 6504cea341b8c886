"""The Qt undo stack over the document's operations.

Every edit goes through :meth:`UndoStack.perform`: the operation is applied to the Document
(which refuses it with an OperationError and a reason, changing nothing) and, once done, a
command that knows the inverse is pushed. Undo applies the inverse; redo applies the
inverse of that, exactly as the headless :class:`~modstudio.graph.document.History` does.
"""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand, QUndoStack
from PySide6.QtWidgets import QWidget

from modstudio.graph.document import Document, Operation


class OperationCommand(QUndoCommand):
    """One applied operation on the undo stack."""

    def __init__(self, doc: Document, text: str, inverse: Operation) -> None:
        super().__init__(text)
        self._doc = doc
        self._inverse = inverse
        self._applied = True  # push() calls redo() once; the operation is already applied then

    def undo(self) -> None:
        self._inverse = self._doc.apply(self._inverse)
        self._applied = False

    def redo(self) -> None:
        if self._applied:
            return
        self._inverse = self._doc.apply(self._inverse)
        self._applied = True


class UndoStack(QUndoStack):
    """A QUndoStack bound to one Document."""

    def __init__(self, doc: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc

    def perform(self, op: Operation) -> Operation:
        """Apply ``op`` (raises OperationError when refused) and make it undoable."""
        inverse = self.doc.apply(op)
        self.push(OperationCommand(self.doc, op.description, inverse))
        return inverse
