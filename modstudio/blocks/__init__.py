"""The block catalogue: one BlockSpec per block type, built-in and from plugins.

Importing it does not import torch.
"""

from .catalog import Catalog, builtin_catalog, default_catalog
from .spec import BlockSpec
from .tensors import ShapeError, TensorInfo

__all__ = ["BlockSpec", "Catalog", "ShapeError", "TensorInfo", "builtin_catalog", "default_catalog"]
