"""Searches over a project's settings with Optuna: the study (``study.py``, torch-free, read by the
editor), the runner that trains each trial in a worker process (``runner.py``) and ``modstudio search``
(``cli.py``)."""
