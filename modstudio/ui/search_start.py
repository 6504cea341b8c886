"""Whether a search can start now, asked before ``modstudio search`` runs: the project saved (the search
reads the file), a dimension to search, no problem in the search section, a readable time limit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modstudio.graph.search_space import all_search_problems

if TYPE_CHECKING:
    from modstudio.editor.session import EditorSession

    from .shell import Shell

NO_DIMENSIONS = (
    "Nothing to search yet: mark a setting with the magnifier beside its field (in the Inspector or the "
    "Training settings) and choose its range or choices."
)


def start_problem(shell: Shell, session: EditorSession | None, timeout: str) -> str | None:
    """None: the search may start. A sentence: why not. An empty string: the person said no (nothing to say)."""
    if session is None:
        return "No project is open."
    search = session.project.search
    if search is None or not search.dimensions:
        return NO_DIMENSIONS
    problems = all_search_problems(session.project, session.doc.catalog)
    if problems:
        return "\n".join(f"• {p}" for p in problems)
    text = timeout.strip()
    if text:
        try:
            minutes = float(text)
        except ValueError:
            return f"The time limit must be a number of minutes, not {text!r}."
        if not minutes > 0:
            return f"The time limit must be above 0 minutes, not {text}."
    if session.path is None or session.dirty:
        from .menus import save

        asked = "The search trains the saved project file. Save the project now?"
        if not shell.ask("Save before searching", asked) or not save(shell):
            return ""
    return None
