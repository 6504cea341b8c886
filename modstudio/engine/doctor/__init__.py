"""The MoE doctor: diagnoses of the routing of conditional layers, and fixes as undoable edits.

Torch-free (the GUI thread reads live routing messages with it): ``thresholds``, ``history``,
``diagnoses``, ``fixes``, ``sequences``, ``report``, ``live``. With torch: ``reinit`` (a dead
expert's weights from a live one), ``sequence_pass`` (routing over sequences), ``cli``
(``modstudio doctor``; torch only inside its commands).
"""
