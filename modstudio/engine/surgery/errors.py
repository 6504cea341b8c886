"""The one error of expert surgery: a sentence naming what is wrong with the request."""

from __future__ import annotations


class SurgeryError(ValueError):
    """A surgery that cannot be done as asked (unknown node, too few experts, weights that do not fit)."""
