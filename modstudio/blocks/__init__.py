"""The block catalogue: one BlockSpec per block type. Importing it does not import torch."""

from .catalog import Catalog, default_catalog
from .spec import BlockSpec
from .tensors import ShapeError, TensorInfo

__all__ = ["BlockSpec", "Catalog", "ShapeError", "TensorInfo", "default_catalog"]
