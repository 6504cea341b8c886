"""The environment for the Python processes the tests start."""

from __future__ import annotations

import os
from pathlib import Path


def python_path(first: Path | str) -> str:
    """``PYTHONPATH`` with ``first`` ahead of what it already holds: the package under test wins, and
    packages the environment put on the path (a ``--target`` install, say) stay importable."""
    return os.pathsep.join([str(first), *filter(None, [os.environ.get("PYTHONPATH")])])
