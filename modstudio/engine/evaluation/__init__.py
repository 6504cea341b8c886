"""Evaluation of a trained run: what the network gets right and wrong, per class, per module and per expert.

``metrics``      confusion matrix, per-class precision/recall/F1, calibration (ECE), R²/MAE (numpy only)
``routes``       which expert, branch or member each sample went to; removing one ("what if")
``evaluate``     a run's weights on one split: predictions, metrics, the per-expert tables
``attribution``  saliency, Integrated Gradients and Grad-CAM with Captum (the ``explain`` extra)
``pictures``     PNGs with numpy and Pillow (confusion matrix, reliability diagram, samples)
``report``       the self-contained HTML report (``--report DIR``)
``cli``          ``modstudio evaluate``
"""
