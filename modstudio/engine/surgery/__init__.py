"""Expert surgery from a trained run (``modstudio experts``): freeze all experts but one, prune
experts by importance, clone an expert, upcycle a dense node into a mixture of experts.

Each surgery is one undoable edit of the project (``graph/expert_ops.py``) together with new
starting weights (``training.init_weights``, a new ``.safetensors`` file beside the project):
``experts.py`` edits the tensors, ``measure.py`` measures on the validation split (task metric,
NLLB's importance), ``surgery.py`` plans a surgery (``plan``, ``Request``), ``cli.py`` is the
command. This package file imports nothing, so the command line starts without torch.
"""
