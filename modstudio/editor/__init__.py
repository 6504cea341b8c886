"""The editor's state without Qt: :class:`EditorSession` (document, undo history, path, shown module,
dirty flag, runs) and its events. The window, docks, menus and dialogs in :mod:`modstudio.ui` are views of it."""

from .session import EditorSession, Event, RunMove

__all__ = ["EditorSession", "Event", "RunMove"]
