"""``python -m modstudio`` and the frozen app's entry point.

``multiprocessing.freeze_support()`` comes first: in the frozen app the training worker is
this same program started again by multiprocessing (spawn), and that call turns such a
start into the worker before anything else runs.
"""

import multiprocessing

if __name__ == "__main__":
    multiprocessing.freeze_support()

    from modstudio.cli import main

    raise SystemExit(main())
