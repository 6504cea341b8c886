"""Embedding: a learned lookup table from integer indices to vectors."""

from __future__ import annotations

from typing import Any

from modstudio.graph.schema import ParamSpec

from .costs import zero
from .importing import Mapped, NoBlock, rule
from .spec import BlockSpec, Inputs, Layer, Params, single
from .tensors import ShapeError, TensorInfo


def _embedding_shape(params: Params, inputs: Inputs) -> tuple[TensorInfo, ...]:
    x = single(inputs)
    if x.dtype != "long":
        raise ShapeError(
            f"expects whole-number indices (dtype long, e.g. token ids) but receives real values {x}; "
            "set the Input's dtype to long, or use a Linear for real-valued features"
        )
    return (TensorInfo((*x.shape, params["embedding_dim"])),)


def _embedding_arguments(params: Params, inputs: Inputs) -> dict:
    return {"num_embeddings": params["num_embeddings"], "embedding_dim": params["embedding_dim"]}


def _import_embedding(m: Any) -> Mapped | NoBlock:
    if m.padding_idx is not None or m.max_norm is not None or m.scale_grad_by_freq or m.sparse:
        return NoBlock("padding_idx, max_norm, scale_grad_by_freq or sparse")
    return Mapped({"num_embeddings": m.num_embeddings, "embedding_dim": m.embedding_dim})


SPECS = (
    BlockSpec(
        id="embedding",
        title="Embedding",
        category="Embedding",
        doc=(
            "A learned lookup table: each integer index (a token, word, category or item id) becomes a "
            "vector of embedding_dim numbers, so indices [N, T] become [N, T, embedding_dim]. The usual "
            "first layer for text and categorical inputs. Indices must lie in 0 .. num_embeddings - 1."
        ),
        params=(
            ParamSpec(
                "num_embeddings", "int", 1000, "how many distinct indices (the vocabulary size)", min=1, max=2**24
            ),
            ParamSpec("embedding_dim", "int", 64, "length of each vector", min=1, max=65536),
        ),
        shape=_embedding_shape,
        layer=Layer("torch.nn.Embedding", _embedding_arguments),
        flops=zero,
        importer=rule("torch.nn.Embedding", _import_embedding),
    ),
)
