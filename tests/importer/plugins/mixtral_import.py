"""Imports Mixtral-style sparse MoE layers (tests/importer/mixtral.py) onto the catalogue's `moe` block."""

from modstudio.blocks.plugins import LayerImporter, Mapped, MemberModules


def _tokens(x):
    return (x.reshape(-1, x.shape[-1]),)  # each expert sees tokens [T, D]


def _sparse_moe(layer):
    count = len(layer.experts)
    return Mapped(
        {"experts": [], "num_experts": count, "gate": "topk", "k": layer.top_k},
        weights=lambda state: {"router.weight": state["gate.weight"]},
        members={
            "experts": MemberModules(
                tuple(f"experts.{i}" for i in range(count)), tuple(f"experts.{i}." for i in range(count)), _tokens
            )
        },
    )


IMPORTERS = (LayerImporter(("mixtral.SparseMoeBlock",), _sparse_moe, block="moe"),)
