"""What a ``modstudio`` command returns: its exit status, and a project written or the reason it was not.

Every command module (``cli``, and those of ``engine``, ``importer`` and ``ui`` it registers) takes these,
so that 2 means the same everywhere: bad input, named on stderr, nothing written.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modstudio.graph.model import Project

EXIT_OK = 0
EXIT_ERROR = 1  # the input was fine, the work or the writing failed
EXIT_BAD_INPUT = 2


def write_project(project: Project, out: Path) -> int:
    """Save ``project`` to ``out`` (atomically): EXIT_OK, or EXIT_ERROR with the reason on stderr."""
    from modstudio.graph.io import save_project  # not at import: `modstudio --version` loads no document code

    try:
        save_project(project, out)
    except OSError as exc:
        print(f"error: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK
