"""Writes the library modules and templates in resources/ from readable builder code.

    python scripts/build_resources.py          # rewrite resources/library and resources/templates
    python scripts/build_resources.py --check  # exit 1 if the files on disk are out of date

The .msproj files are what ships and what people open; this script is how they are made.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from modstudio.graph.builder import ModuleBuilder, ProjectBuilder, Ref
from modstudio.graph.io import project_to_json
from modstudio.graph.model import DataSection, Project, TrainingSection

ROOT = Path(__file__).resolve().parent.parent / "resources"


def conv_bn(
    b: ModuleBuilder, name: str, x: Ref, channels: object, kernel: int, stride: object = 1, groups: object | None = None
) -> Ref:
    """Conv (no bias) followed by BatchNorm: the unit every ResNet-family block is made of."""
    if groups is None:
        h = b.add(
            "conv2d",
            f"{name}",
            x,
            out_channels=channels,
            kernel_size=kernel,
            stride=stride,
            padding=kernel // 2,
            bias=False,
        )
    else:
        h = b.add(
            "group_conv2d",
            f"{name}",
            x,
            out_channels=channels,
            kernel_size=kernel,
            stride=stride,
            padding=kernel // 2,
            groups=groups,
            bias=False,
        )
    return b.add("batch_norm2d", name.replace("conv", "bn"), h)


# ---------------------------------------------------------------- library: ResNet family


def resnet_library() -> Project:
    pb = ProjectBuilder("library/resnet")
    for down in (False, True):
        name = "BasicBlockDown" if down else "BasicBlock"
        doc = (
            "ResNet basic block (He et al. 2016): two 3x3 convolutions with batch norm, and the input "
            "added back (a residual connection), so the block learns a correction F(x) + x. "
            + (
                "This variant changes resolution or width: a strided 1x1 projection carries the shortcut."
                if down
                else "The shortcut is the identity: input and output have the same shape."
            )
        )
        b = pb.module(name, doc, channels=64, **({"stride": 2} if down else {}))
        x = b.input("x")
        h = conv_bn(b, "conv1", x, "=channels", 3, "=stride" if down else 1)
        h = b.add("relu", "relu1", h)
        h = conv_bn(b, "conv2", h, "=channels", 3)
        shortcut = conv_bn(b, "down_conv", x, "=channels", 1, "=stride") if down else x
        h = b.add("add", "residual", h, shortcut)
        b.output("y", b.add("relu", "relu2", h))
    for down in (False, True):
        name = "BottleneckDown" if down else "Bottleneck"
        doc = (
            "ResNet bottleneck block (He et al. 2016): 1x1 reduce, 3x3, 1x1 expand to 4x channels, plus the "
            "residual shortcut; cheaper than two 3x3 convolutions at large widths (ResNet-50 and deeper). "
            + (
                "This variant projects the shortcut (1x1, strided) to the new shape."
                if down
                else "Identity shortcut: the input must already have 4 x channels."
            )
        )
        b = pb.module(name, doc, channels=64, **({"stride": 2} if down else {}))
        x = b.input("x")
        h = b.add("relu", "relu1", conv_bn(b, "conv1", x, "=channels", 1))
        h = b.add("relu", "relu2", conv_bn(b, "conv2", h, "=channels", 3, "=stride" if down else 1))
        h = conv_bn(b, "conv3", h, "=channels * 4", 1)
        shortcut = conv_bn(b, "down_conv", x, "=channels * 4", 1, "=stride") if down else x
        b.output("y", b.add("relu", "relu3", b.add("add", "residual", h, shortcut)))
    _demo(
        pb,
        "BasicBlock",
        [
            ("BasicBlock", {"channels": 16}),
            ("BasicBlockDown", {"channels": 32, "stride": 2}),
            ("BottleneckDown", {"channels": 16, "stride": 1}),
            ("Bottleneck", {"channels": 16}),
        ],
    )
    return pb.project(
        "ResNet blocks",
        doc="ResNet basic and bottleneck blocks, each with an identity and a projection variant.",
        data=DataSection(dataset="digits"),
    )


def resnext_library() -> Project:
    pb = ProjectBuilder("library/resnext")
    for down in (False, True):
        name = "ResNeXtBlockDown" if down else "ResNeXtBlock"
        doc = (
            "ResNeXt block (Xie et al. 2017): a bottleneck whose 3x3 convolution is split into `cardinality` "
            "parallel groups of `group_width` channels (a group convolution), aggregating many small "
            "transformations: more modules side by side instead of deeper or wider ones. "
            + ("Projection shortcut." if down else "Identity shortcut: input has `channels` channels.")
        )
        b = pb.module(name, doc, channels=256, cardinality=32, group_width=4, **({"stride": 2} if down else {}))
        x = b.input("x")
        h = b.add("relu", "relu1", conv_bn(b, "conv1", x, "=cardinality * group_width", 1))
        h = b.add(
            "relu",
            "relu2",
            conv_bn(b, "conv2", h, "=cardinality * group_width", 3, "=stride" if down else 1, groups="=cardinality"),
        )
        h = conv_bn(b, "conv3", h, "=channels", 1)
        shortcut = conv_bn(b, "down_conv", x, "=channels", 1, "=stride") if down else x
        b.output("y", b.add("relu", "relu3", b.add("add", "residual", h, shortcut)))
    _demo(
        pb,
        "ResNeXtBlock",
        [
            ("ResNeXtBlockDown", {"channels": 64, "cardinality": 8, "group_width": 4, "stride": 1}),
            ("ResNeXtBlock", {"channels": 64, "cardinality": 8, "group_width": 4}),
        ],
    )
    return pb.project(
        "ResNeXt blocks",
        doc="ResNeXt aggregated-transformation blocks (grouped bottlenecks).",
        data=DataSection(dataset="digits"),
    )


def wide_resnet_library() -> Project:
    pb = ProjectBuilder("library/wide_resnet")
    for down in (False, True):
        name = "WideBlockDown" if down else "WideBlock"
        doc = (
            "Wide-ResNet block (Zagoruyko & Komodakis 2016): pre-activation BN-ReLU-conv3x3 twice with dropout "
            "between, on few but wide layers (channels = base width x widening factor k). "
            + (
                "The shortcut is a strided 1x1 convolution of the pre-activated input."
                if down
                else "Identity shortcut."
            )
        )
        b = pb.module(name, doc, channels=160, dropout=0.3, **({"stride": 2} if down else {}))
        x = b.input("x")
        pre = b.add("relu", "relu1", b.add("batch_norm2d", "bn1", x))
        h = b.add(
            "conv2d",
            "conv1",
            pre,
            out_channels="=channels",
            kernel_size=3,
            stride="=stride" if down else 1,
            padding=1,
            bias=False,
        )
        h = b.add("relu", "relu2", b.add("batch_norm2d", "bn2", h))
        h = b.add("dropout", "drop", h, p="=dropout")
        h = b.add("conv2d", "conv2", h, out_channels="=channels", kernel_size=3, padding=1, bias=False)
        shortcut = (
            b.add(
                "conv2d",
                "down_conv",
                pre,
                out_channels="=channels",
                kernel_size=1,
                stride="=stride",
                padding=0,
                bias=False,
            )
            if down
            else x
        )
        b.output("y", b.add("add", "residual", h, shortcut))
    _demo(
        pb,
        "WideBlock",
        [
            ("WideBlockDown", {"channels": 32, "stride": 1, "dropout": 0.3}),
            ("WideBlock", {"channels": 32, "dropout": 0.3}),
        ],
    )
    return pb.project(
        "Wide-ResNet blocks",
        doc="Wide residual blocks (pre-activation, dropout between the convolutions).",
        data=DataSection(dataset="digits"),
    )


def inception_library() -> Project:
    pb = ProjectBuilder("library/inception")
    doc = (
        "Inception module (Szegedy et al. 2015): four parallel branches — 1x1, 1x1 then 3x3, 1x1 then 5x5, "
        "and 3x3 max-pooling then 1x1 — concatenated along channels. Each branch is a module looking at a "
        "different scale; the 1x1 convolutions keep the cost down."
    )
    b = pb.module("Inception", doc, c1=64, c3_reduce=96, c3=128, c5_reduce=16, c5=32, pool_proj=32)

    def unit(name: str, x: Ref, channels: str, kernel: int) -> Ref:
        h = b.add(
            "conv2d", f"{name}_conv", x, out_channels=channels, kernel_size=kernel, padding=kernel // 2, bias=False
        )
        return b.add("relu", f"{name}_relu", b.add("batch_norm2d", f"{name}_bn", h))

    x = b.input("x")
    b1 = unit("b1", x, "=c1", 1)
    b2 = unit("b2", unit("b2_reduce", x, "=c3_reduce", 1), "=c3", 3)
    b3 = unit("b3", unit("b3_reduce", x, "=c5_reduce", 1), "=c5", 5)
    pooled = b.add("max_pool2d", "b4_pool", x, kernel_size=3, stride=1, padding=1)
    b4 = unit("b4", pooled, "=pool_proj", 1)
    b.output("y", b.add("concat", "join", b1, b2, b3, b4, dim=1))
    _demo(
        pb, "Inception", [("Inception", {"c1": 16, "c3_reduce": 16, "c3": 24, "c5_reduce": 4, "c5": 8, "pool_proj": 8})]
    )
    return pb.project(
        "Inception module", doc="GoogLeNet's Inception module with batch norm.", data=DataSection(dataset="digits")
    )


def transformer_library() -> Project:
    pb = ProjectBuilder("library/transformer")
    doc = (
        "Transformer encoder layer (Vaswani et al. 2017, pre-norm as in ViT): LayerNorm, multi-head "
        "self-attention and a residual add, then LayerNorm, a two-layer GELU MLP and a second residual add. "
        "`dim` must equal the width of the incoming tokens."
    )
    b = pb.module("TransformerEncoder", doc, dim=64, heads=4, mlp_dim=128, dropout=0.0)
    x = b.input("x")
    h = b.add(
        "multi_head_attention",
        "attn",
        b.add("layer_norm", "norm1", x),
        port="query",
        num_heads="=heads",
        dropout="=dropout",
    )
    r = b.add("add", "residual1", h, x)
    h = b.add("linear", "fc1", b.add("layer_norm", "norm2", r), out_features="=mlp_dim")
    h = b.add("linear", "fc2", b.add("gelu", "gelu", h), out_features="=dim")
    h = b.add("dropout", "drop", h, p="=dropout")
    b.output("y", b.add("add", "residual2", h, r))
    m = pb.module("main", "A tiny transformer over 8-step bit sequences.")
    t = m.add("linear", "embed", m.input("x", [8, 1]), out_features=32)
    t = m.use("TransformerEncoder", "encoder", t, dim=32, heads=4, mlp_dim=64)
    t = m.add("token_pool", "pool", t, mode="mean")
    m.output("y", m.add("linear", "head", t, out_features=2), task="classification")
    return pb.project(
        "Transformer encoder",
        doc="A pre-norm transformer encoder layer built from layers.",
        data=DataSection(dataset="parity", options={"length": 8}),
    )


def _demo(pb: ProjectBuilder, first: str, uses: list[tuple[str, dict[str, object]]]) -> None:
    """A small main network on 8x8 digits that uses the library's modules in a chain."""
    m = pb.module("main", f"A small network on 8x8 digits that uses {first} and its relatives.")
    h = m.add("conv2d", "stem", m.input("x", [1, 8, 8]), out_channels=16, kernel_size=3, padding=1)
    for i, (module, params) in enumerate(uses):
        h = m.use(module, f"block{i + 1}", h, **params)
    h = m.add("global_avg_pool", "pool", h)
    m.output("y", m.add("linear", "head", h, out_features=10), task="classification")


# ---------------------------------------------------------------- templates


def empty_template() -> Project:
    pb = ProjectBuilder("templates/empty")
    b = pb.module("main", "Build your network between the Input and the Output.")
    b.output("y", b.add("linear", "linear", b.input("x", [2]), out_features=2), task="classification")
    return pb.project(
        "Empty project",
        doc="The smallest project that trains: an Input, one Linear layer and an Output, on the two moons "
        "(2-D points, 2 classes). Replace the Linear layer with your own network.",
        data=DataSection(dataset="moons", options={"samples": 1000, "noise": 0.2}),
        training=TrainingSection(optimizer="adam", learning_rate=0.01, epochs=10),
    )


def mlp_template() -> Project:
    pb = ProjectBuilder("templates/mlp_2d")
    b = pb.module("main", "Two hidden layers of 64 units; a first network on 2-D data.")
    h = b.input("x", [2])
    for i in (1, 2):
        h = b.add("relu", f"relu{i}", b.add("linear", f"fc{i}", h, out_features=64))
    b.output("y", b.add("linear", "head", h, out_features=2), task="classification")
    return pb.project(
        "MLP on 2-D data",
        doc="A multilayer perceptron that classifies the two interleaved moons.",
        data=DataSection(dataset="moons", options={"samples": 1000, "noise": 0.2}),
        training=TrainingSection(optimizer="adam", learning_rate=0.01, epochs=30),
    )


def cnn_template() -> Project:
    pb = ProjectBuilder("templates/cnn_digits")
    b = pb.module("main", "Two conv-ReLU-pool stages and a two-layer classifier.")
    h = b.input("x", [1, 8, 8])
    for i, channels in ((1, 16), (2, 32)):
        h = b.add("conv2d", f"conv{i}", h, out_channels=channels, kernel_size=3, padding=1)
        h = b.add("max_pool2d", f"pool{i}", b.add("relu", f"relu{i}", h), kernel_size=2)
    h = b.add("flatten", "flatten", h)
    h = b.add("relu", "relu3", b.add("linear", "fc1", h, out_features=64))
    b.output("y", b.add("linear", "head", h, out_features=10), task="classification")
    return pb.project(
        "Small CNN for 8x8 digits",
        doc="A small convolutional network for scikit-learn's 1,797 handwritten 8x8 digits.",
        data=DataSection(dataset="digits", batch_size=64),
        training=TrainingSection(optimizer="adam", learning_rate=0.003, epochs=20),
    )


def resnet18_template(library: Project) -> Project:
    pb = ProjectBuilder("templates/resnet18")
    pb.include(library, "BasicBlock", "BasicBlockDown")
    b = pb.module("main", "ResNet-18 (He et al. 2016), ImageNet variant: 224x224 RGB in, 1000 classes out.")
    h = b.add(
        "conv2d", "conv1", b.input("x", [3, 224, 224]), out_channels=64, kernel_size=7, stride=2, padding=3, bias=False
    )
    h = b.add("relu", "relu", b.add("batch_norm2d", "bn1", h))
    h = b.add("max_pool2d", "maxpool", h, kernel_size=3, stride=2, padding=1)
    for stage, channels in enumerate((64, 128, 256, 512), start=1):
        if stage == 1:
            h = b.use("BasicBlock", f"layer{stage}_0", h, channels=channels)
        else:
            h = b.use("BasicBlockDown", f"layer{stage}_0", h, channels=channels, stride=2)
        h = b.use("BasicBlock", f"layer{stage}_1", h, channels=channels)
    h = b.add("global_avg_pool", "avgpool", h)
    b.output("y", b.add("linear", "fc", h, out_features=1000), task="classification")
    return pb.project(
        "ResNet-18 (ImageNet)",
        doc="ResNet-18 built from the library's BasicBlock and BasicBlockDown: one parametric block serves all four stages.",
        data=DataSection(dataset="image_folder", options={"path": "", "image_size": 224}, batch_size=32),
        training=TrainingSection(
            optimizer="sgd", learning_rate=0.1, momentum=0.9, weight_decay=1e-4, schedule="cosine", epochs=90
        ),
    )


def vit_template(library: Project) -> Project:
    pb = ProjectBuilder("templates/vit_tiny")
    pb.include(library, "TransformerEncoder")
    b = pb.module("main", "Patches of 2x2 pixels, a class token, two encoder layers, a linear head.")
    h = b.add("patch_embedding", "patches", b.input("x", [1, 8, 8]), patch_size=2, embed_dim=32)
    h = b.add("class_token", "cls", h)
    h = b.add("positional_embedding", "pos", h)
    for i in (1, 2):
        h = b.use("TransformerEncoder", f"encoder{i}", h, dim=32, heads=4, mlp_dim=64)
    h = b.add("token_pool", "take_cls", b.add("layer_norm", "norm", h), mode="first")
    b.output("y", b.add("linear", "head", h, out_features=10), task="classification")
    return pb.project(
        "Tiny ViT for 8x8 digits",
        doc="A vision transformer (Dosovitskiy et al. 2021) small enough to train on a laptop CPU.",
        data=DataSection(dataset="digits", batch_size=64),
        training=TrainingSection(
            optimizer="adamw", learning_rate=0.001, weight_decay=0.05, schedule="cosine", epochs=40
        ),
    )


def lstm_template() -> Project:
    pb = ProjectBuilder("templates/lstm_sequence")
    b = pb.module("main", "An LSTM reads the sequence; its last state feeds a linear classifier.")
    h = b.add("lstm", "lstm", b.input("x", [20, 1]), hidden_size=32, output="last")
    b.output("y", b.add("linear", "head", h, out_features=2), task="classification")
    return pb.project(
        "LSTM sequence classifier",
        doc="Classifies the parity of a 20-step bit sequence with an LSTM.",
        data=DataSection(dataset="parity", options={"length": 20}),
        training=TrainingSection(optimizer="adam", learning_rate=0.003, epochs=30, grad_clip=1.0),
    )


# ---------------------------------------------------------------- composition and MoE templates


def mlp_member(
    pb: ProjectBuilder, name: str, out: int, hidden: tuple[int, ...] = (16,), act: str = "relu", doc: str = ""
) -> None:
    """A small MLP module: hidden layers with an activation, then a linear layer of ``out`` units."""
    b = pb.module(name, doc or f"A small MLP ({' -> '.join(map(str, (*hidden, out)))}).")
    h = b.input("x")
    for i, width in enumerate(hidden, start=1):
        h = b.add(act, f"act{i}", b.add("linear", f"fc{i}", h, out_features=width))
    b.output("y", b.add("linear", "out", h, out_features=out))


def moe_2d_template() -> Project:
    pb = ProjectBuilder("templates/moe_2d")
    mlp_member(pb, "Expert", 2, (16,), doc="One expert: a small MLP that scores the two classes.")
    b = pb.module("main", "A Switch gate sends each point to one of 4 experts, which scores its class.")
    h = b.add("moe", "moe", b.input("x", [2]), experts=["Expert"], num_experts=4, gate="switch", capacity_factor=2.0)
    b.output("y", h, task="classification")
    return pb.project(
        "Mixture of experts on 2-D regimes",
        doc=(
            "Four expert MLPs behind a learned Switch gate (top-1) on the regimes data, where each angular sector of "
            "the plane follows its own rule. Watch the routing while it trains: the gate learns the sectors and "
            "each expert specializes on the regions it is sent."
        ),
        data=DataSection(dataset="regimes", options={"samples": 4000, "regions": 4}, batch_size=64),
        training=TrainingSection(optimizer="adam", learning_rate=0.01, schedule="cosine", epochs=60),
    )


def switch_transformer_template() -> Project:
    pb = ProjectBuilder("templates/switch_transformer")
    mlp_member(pb, "FeedForward", 32, (64,), act="gelu", doc="One expert feed-forward network of the Switch layer.")
    e = pb.module(
        "SwitchEncoder",
        "A pre-norm transformer encoder layer whose feed-forward network is a Switch mixture of experts "
        "(Fedus et al. 2021): each token goes to one expert, up to a capacity; overflow passes through.",
        dim=32,
        heads=4,
        experts=4,
    )
    x = e.input("x")
    h = e.add("multi_head_attention", "attn", e.add("layer_norm", "norm1", x), port="query", num_heads="=heads")
    r = e.add("add", "residual1", h, x)
    h = e.add(
        "moe",
        "moe",
        e.add("layer_norm", "norm2", r),
        experts=["FeedForward"],
        num_experts="=experts",
        gate="switch",
        capacity_factor=1.25,
    )
    e.output("y", e.add("add", "residual2", h, r))
    b = pb.module("main", "Patches of 2x2 pixels, two Switch encoder layers, a linear head.")
    h = b.add("patch_embedding", "patches", b.input("x", [1, 8, 8]), patch_size=2, embed_dim=32)
    h = b.add("positional_embedding", "pos", b.add("class_token", "cls", h))
    for i in (1, 2):
        h = b.use("SwitchEncoder", f"encoder{i}", h)
    h = b.add("token_pool", "take_cls", b.add("layer_norm", "norm", h), mode="first")
    b.output("y", b.add("linear", "head", h, out_features=10), task="classification")
    return pb.project(
        "Switch transformer for 8x8 digits",
        doc=(
            "A small vision transformer whose feed-forward layers are Switch mixtures of four experts: top-1 routing "
            "with a capacity factor, dropped tokens passing through unchanged, load-balancing and z-losses. The "
            "token-level routing of each layer can be watched separately."
        ),
        data=DataSection(dataset="digits", batch_size=64),
        training=TrainingSection(
            optimizer="adamw", learning_rate=0.002, weight_decay=0.05, schedule="cosine", epochs=30
        ),
    )


def hierarchical_moe_template() -> Project:
    pb = ProjectBuilder("templates/hierarchical_moe")
    mlp_member(pb, "Expert", 2, (16,), doc="One expert: a small MLP that scores the two classes.")
    b = pb.module("main", "A primary gate picks one of two groups, a secondary gate 2 of its 4 experts.")
    h = b.add(
        "hierarchical_moe", "moe", b.input("x", [2]), experts=["Expert"], num_experts=8, groups=2, k_groups=1, k=2
    )
    b.output("y", h, task="classification")
    return pb.project(
        "Hierarchical mixture of experts",
        doc=(
            "Eight experts in two groups of four (Shazeer et al. 2017): a primary gate chooses a group, a secondary "
            "gate chooses experts inside it, y = sum G_i G_ij E_ij. Trained on regimes data with eight sectors; "
            "the load of groups and of experts is recorded level by level."
        ),
        data=DataSection(dataset="regimes", options={"samples": 3000, "regions": 8}, batch_size=64),
        training=TrainingSection(optimizer="adam", learning_rate=0.01, epochs=40),
    )


def stacked_moe_template() -> Project:
    pb = ProjectBuilder("templates/stacked_moe")
    mlp_member(pb, "Expert", 32, (32,), doc="One expert: a 32 -> 32 -> 32 MLP.")
    b = pb.module("main", "Two MoE layers in sequence, each with its own gate, between linear layers.")
    h = b.add("relu", "act", b.add("linear", "embed", b.input("x", [2]), out_features=32))
    h = b.add("moe", "moe1", h, experts=["Expert"], num_experts=4, k=2)
    h = b.add("moe", "moe2", h, experts=["Expert"], num_experts=4, k=2)
    b.output("y", b.add("linear", "head", h, out_features=2), task="classification")
    return pb.project(
        "Stacked mixtures of experts",
        doc=(
            "A deep mixture of experts (Eigen et al. 2013): two MoE layers in sequence, each with its own gate, so "
            "4 x 4 expert paths exist. On two interleaved spirals; compare how the first and the second layer route."
        ),
        data=DataSection(dataset="spirals", options={"samples": 2000}),
        training=TrainingSection(optimizer="adam", learning_rate=0.005, epochs=60),
    )


def ensemble_template() -> Project:
    pb = ProjectBuilder("templates/ensemble")
    mlp_member(pb, "Wide", 2, (64,), doc="A wide, shallow member: one hidden layer of 64 ReLU units.")
    mlp_member(pb, "Deep", 2, (16, 16, 16), doc="A narrow, deep member: three hidden layers of 16 ReLU units.")
    mlp_member(pb, "Smooth", 2, (32, 32), act="tanh", doc="A smooth member: two hidden layers of 32 tanh units.")
    b = pb.module(
        "main", "Three different members see each point; their class scores are averaged with learned weights."
    )
    h = b.add("ensemble", "ensemble", b.input("x", [2]), members=["Wide", "Deep", "Smooth"], combine="weighted")
    b.output("y", h, task="classification")
    return pb.project(
        "Ensemble of different members",
        doc=(
            "A heterogeneous ensemble on the moons data: a wide, a deep and a smooth MLP, combined by learned "
            "weights. Members differ in architecture, so their mistakes differ; switch combine to vote or mean "
            "to compare."
        ),
        data=DataSection(dataset="moons", options={"samples": 1000, "noise": 0.25}),
        training=TrainingSection(optimizer="adam", learning_rate=0.01, epochs=30),
    )


def tree_template() -> Project:
    pb = ProjectBuilder("templates/class_tree")
    mlp_member(pb, "Trunk", 64, (128,), doc="The shared trunk: features every branch builds on.")
    mlp_member(pb, "LowDigits", 5, (32,), doc="Branch for the digits 0-4.")
    mlp_member(pb, "HighDigits", 5, (32,), doc="Branch for the digits 5-9.")
    b = pb.module("main", "A shared trunk, then one branch for digits 0-4 and one for 5-9.")
    h = b.add("flatten", "flatten", b.input("x", [1, 8, 8]))
    h = b.add("tree", "tree", h, trunk="Trunk", branches=["LowDigits", "HighDigits"], branch_of_class=[0] * 5 + [1] * 5)
    b.output("y", h, task="classification")
    return pb.project(
        "Tree of class subsets for digits",
        doc=(
            "Task decomposition by class subsets: a shared trunk feeds two branch modules, one scoring the digits "
            "0-4 and one the digits 5-9; their scores are put back in class order as ten logits."
        ),
        data=DataSection(dataset="digits", batch_size=64),
        training=TrainingSection(optimizer="adam", learning_rate=0.003, epochs=30),
    )


def one_vs_rest_template() -> Project:
    pb = ProjectBuilder("templates/one_vs_rest")
    mlp_member(pb, "Binary", 1, (16,), doc="A binary module: one score for 'my class or not'.")
    b = pb.module("main", "Four copies of one binary module, one per class; their scores are the logits.")
    h = b.add("one_vs_rest", "classes", b.input("x", [2]), members=["Binary"], classes=4)
    b.output("y", h, task="classification")
    return pb.project(
        "One-vs-rest binary modules",
        doc=(
            "A four-class problem split into four binary modules, each answering 'this class or the rest?'. "
            "Every member is the same small reusable module; the four scores side by side are the logits."
        ),
        data=DataSection(dataset="blobs", options={"samples": 1000, "classes": 4}),
        training=TrainingSection(optimizer="adam", learning_rate=0.01, epochs=30),
    )


def cooperative_template() -> Project:
    pb = ProjectBuilder("templates/cooperative")
    mlp_member(pb, "TopRows", 32, (64,), doc="Looks at the top four rows of the digit.")
    mlp_member(pb, "BottomRows", 32, (64,), doc="Looks at the bottom four rows of the digit.")
    b = pb.module("main", "Two modules each see half of the image; a learned combiner fuses what they found.")
    h = b.add("flatten", "flatten", b.input("x", [1, 8, 8]))
    h = b.add("cooperative", "halves", h, members=["TopRows", "BottomRows"], splits=[32, 32], out_features=64)
    b.output("y", b.add("linear", "head", b.add("relu", "act", h), out_features=10), task="classification")
    return pb.project(
        "Cooperative modules on image halves",
        doc=(
            "Cooperative fusion: one module reads the top half of each 8x8 digit and another the bottom half; a "
            "learned linear combiner fuses their features before the classifier. Partners, not alternatives."
        ),
        data=DataSection(dataset="digits", batch_size=64),
        training=TrainingSection(optimizer="adam", learning_rate=0.003, epochs=30),
    )


def hard_gate_template() -> Project:
    pb = ProjectBuilder("templates/hard_gate")
    mlp_member(pb, "Light", 32, (16,), doc="A cheap branch: 64 -> 16 -> 32.")
    mlp_member(pb, "Heavy", 32, (128, 64), doc="An expensive branch: 64 -> 128 -> 64 -> 32.")
    b = pb.module("main", "A learned hard gate sends each digit through the light or the heavy branch.")
    h = b.add("flatten", "flatten", b.input("x", [1, 8, 8]))
    h = b.add("hard_gate", "gate", h, branches=["Light", "Heavy"])
    b.output("y", b.add("linear", "head", b.add("relu", "act", h), out_features=10), task="classification")
    return pb.project(
        "Conditional computation with a hard gate",
        doc=(
            "Conditional computation: a learned hard gate runs each digit through exactly one of two branches, a "
            "light and a heavy one, so only the chosen branch costs compute. Module usage shows which inputs "
            "earn the heavy branch."
        ),
        data=DataSection(dataset="digits", batch_size=64),
        training=TrainingSection(optimizer="adam", learning_rate=0.003, epochs=30),
    )


def all_files() -> dict[str, Project]:
    resnet, transformer = resnet_library(), transformer_library()
    return {
        "library/resnet.msproj": resnet,
        "library/resnext.msproj": resnext_library(),
        "library/wide_resnet.msproj": wide_resnet_library(),
        "library/inception.msproj": inception_library(),
        "library/transformer.msproj": transformer,
        "templates/empty.msproj": empty_template(),
        "templates/mlp_2d.msproj": mlp_template(),
        "templates/cnn_digits.msproj": cnn_template(),
        "templates/resnet18.msproj": resnet18_template(resnet),
        "templates/vit_tiny.msproj": vit_template(transformer),
        "templates/lstm_sequence.msproj": lstm_template(),
        "templates/moe_2d.msproj": moe_2d_template(),
        "templates/switch_transformer.msproj": switch_transformer_template(),
        "templates/hierarchical_moe.msproj": hierarchical_moe_template(),
        "templates/stacked_moe.msproj": stacked_moe_template(),
        "templates/ensemble.msproj": ensemble_template(),
        "templates/class_tree.msproj": tree_template(),
        "templates/one_vs_rest.msproj": one_vs_rest_template(),
        "templates/cooperative.msproj": cooperative_template(),
        "templates/hard_gate.msproj": hard_gate_template(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the files are up to date")
    args = parser.parse_args()
    stale = []
    for rel, project in all_files().items():
        path, text = ROOT / rel, project_to_json(project)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(rel)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    verb = "out of date" if args.check else "written"
    print(f"{len(stale)} file(s) {verb}: {', '.join(stale) or '-'}")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
