"""The Qt undo stack: a view of the session's undo history, for Qt's undo/redo actions.

Every edit goes through :meth:`UndoStack.perform`: the session applies the operation (the
Document refuses it with an OperationError and a reason, changing nothing) and records it in its
headless :class:`~modstudio.editor.session.SessionHistory`; the stack pushes one command per step,
whose undo and redo ask the session to undo and redo. So the menu texts ("Undo Add Linear 'fc1'")
come from Qt and the document, history and dirty flag live in the session, step for step the same.
"""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand, QUndoStack
from PySide6.QtWidgets import QWidget

from modstudio.editor.session import EditorSession
from modstudio.graph.document import Document, Operation


class OperationCommand(QUndoCommand):
    """One step of the session's history on the Qt stack."""

    def __init__(self, session: EditorSession, text: str) -> None:
        super().__init__(text)
        self._session = session
        self._applied = True  # push() calls redo() once; the operation is already applied then

    def undo(self) -> None:
        self._session.undo()
        self._applied = False

    def redo(self) -> None:
        if self._applied:
            return
        self._session.redo()
        self._applied = True


class UndoStack(QUndoStack):
    """A QUndoStack that mirrors one session's history (a Document gets a session of its own)."""

    def __init__(self, session: EditorSession | Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session if isinstance(session, EditorSession) else EditorSession(session)
        self.doc = self.session.doc

    def perform(self, op: Operation) -> Operation:
        """Apply ``op`` (raises OperationError when refused) and make it undoable."""
        inverse = self.session.perform(op)
        self.push(OperationCommand(self.session, op.description))
        return inverse

    def setClean(self) -> None:
        """The saved point, for Qt's clean state and the session's dirty flag alike."""
        super().setClean()
        self.session.mark_saved()
