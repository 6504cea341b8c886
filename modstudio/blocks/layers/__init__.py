"""torch implementations of blocks that torch.nn does not provide as modules."""
