"""The Qt views of one :class:`~modstudio.editor.session.EditorSession`, built together and dropped together,
so that opening a project can build them all before the window shows any of them."""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from modstudio.editor.session import EditorSession

from .canvas import Canvas
from .commands import UndoStack
from .inspector import Inspector
from .library_panel import ModuleLibraryPanel
from .scene import ModuleScene
from .training_ui import CanvasHooks

if TYPE_CHECKING:
    from modstudio.graph.document import Operation

    from .items import NodeItem


@dataclass
class Views:
    session: EditorSession
    stack: UndoStack
    scene: ModuleScene
    canvas: Canvas
    inspector: Inspector
    library: ModuleLibraryPanel
    _disconnects: list[Callable[[], None]] = field(default_factory=list)

    def connect(self, *disconnects: Callable[[], None]) -> None:
        """Keep the session subscriptions made for these views, to undo them when they go."""
        self._disconnects.extend(disconnects)

    def disconnect(self) -> None:
        for disconnect in self._disconnects:
            disconnect()
        self._disconnects.clear()

    def discard(self) -> None:
        """Stop following the document and delete the widgets (later, from the event loop)."""
        self.disconnect()
        with contextlib.suppress(RuntimeError):  # already deleted with the window
            self.scene.close()
            self.library.close_document()
            for widget in (self.canvas, self.inspector, self.library, self.stack, self.scene):
                widget.deleteLater()


def canvas_hooks(shown: Callable[[], Views | None]) -> CanvasHooks:
    """What training draws on and does to the canvas of the views ``shown()`` returns (None: no project yet)."""

    def node_items() -> dict[str, NodeItem]:
        views = shown()
        return dict(views.scene.nodes) if views is not None else {}

    def perform(op: Operation) -> bool:
        views = shown()
        return views is not None and views.canvas.perform(op)

    def focus(item: NodeItem) -> None:
        views = shown()
        if views is not None:
            views.scene.clearSelection()
            item.setSelected(True)
            views.canvas.centerOn(item)

    def frame_all() -> None:
        views = shown()
        if views is not None:
            views.canvas.frame_all()

    return CanvasHooks(node_items, perform, focus, frame_all)


_made = itertools.count(1)


def new_scratch_runs() -> Path:
    """A folder of its own for the runs of one unsaved project (created by the first run that needs it)."""
    from .files import state_dir

    return state_dir() / "unsaved runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{next(_made)}.runs"
