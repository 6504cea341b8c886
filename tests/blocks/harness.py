"""Checks that a block's shape rule agrees with the module it builds, and that it trains."""

from __future__ import annotations

from typing import Any

import torch

from modstudio.blocks.spec import BlockSpec
from modstudio.blocks.tensors import TensorInfo


def sample(info: TensorInfo, batch: int = 3) -> torch.Tensor:
    if info.dtype == "long":
        return torch.randint(0, 4, (batch, *info.shape))
    return torch.randn(batch, *info.shape)


def check_block(spec: BlockSpec, params: dict[str, Any], inputs: dict[str, Any], batch: int = 3) -> None:
    """Shape rule == real output shape, and gradients reach every trainable parameter."""
    full = {**spec.defaults(), **params}
    for name, value in full.items():
        assert spec.param(name).check(value) is None, (spec.id, name, value)
    expected = spec.shape(full, inputs)
    module = spec.make(full, inputs)
    args: list[Any] = []
    for port in spec.inputs:
        if port.name not in inputs:
            args.append(None)
            continue
        value = inputs[port.name]
        args.extend(sample(v, batch) for v in value) if port.multi else args.append(sample(value, batch))
    while args and args[-1] is None:
        args.pop()
    for a in args:
        if a is not None and a.is_floating_point():
            a.requires_grad_(True)
    module.train()
    out = module(*args)
    outs = out if isinstance(out, tuple) else (out,)
    assert len(outs) == len(expected), spec.id
    for got, want in zip(outs, expected):
        assert tuple(got.shape) == (batch, *want.shape), f"{spec.id}: rule says {want}, module gives {list(got.shape)}"
        assert (got.dtype == torch.long) == (want.dtype == "long"), spec.id
    loss = sum(o.float().square().mean() for o in outs)
    if loss.requires_grad:
        loss.backward()
        for name, p in module.named_parameters():
            assert p.grad is not None, f"{spec.id}: parameter {name} gets no gradient"
