"""Example inputs for convolution, locally connected, pooling, normalization and embedding blocks."""

from modstudio.blocks.tensors import TensorInfo as T

EXAMPLES = {
    "conv1d": [
        ({"out_channels": 4}, {"in": T((3, 10))}),
        ({"out_channels": 2, "kernel_size": 4, "stride": 2, "padding": 0, "dilation": 2}, {"in": T((3, 11))}),
        ({"out_channels": 2, "kernel_size": 5, "bias": False}, {"in": T((1, 5))}),
    ],
    "conv2d": [
        ({"out_channels": 4}, {"in": T((3, 8, 8))}),
        ({"out_channels": 5, "kernel_size": 3, "stride": 2, "padding": 0}, {"in": T((2, 9, 7))}),
        ({"out_channels": 2, "kernel_size": 2, "stride": 3, "padding": 1, "dilation": 2}, {"in": T((1, 6, 5))}),
    ],
    "group_conv2d": [
        ({"out_channels": 6, "groups": 2}, {"in": T((4, 6, 6))}),
        ({"out_channels": 3, "groups": 3, "kernel_size": 5, "stride": 2, "padding": 1}, {"in": T((6, 7, 8))}),
    ],
    "depthwise_separable_conv2d": [
        ({"out_channels": 5}, {"in": T((3, 6, 6))}),
        ({"out_channels": 2, "kernel_size": 5, "stride": 2, "padding": 0, "bias": False}, {"in": T((4, 9, 8))}),
    ],
    "conv_transpose2d": [
        ({"out_channels": 3}, {"in": T((4, 5, 5))}),
        ({"out_channels": 2, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1}, {"in": T((3, 4, 6))}),
        ({"out_channels": 2, "kernel_size": 3, "stride": 1, "dilation": 2, "bias": False}, {"in": T((1, 3, 3))}),
    ],
    "locally_connected2d": [
        ({"out_channels": 3}, {"in": T((2, 5, 5))}),
        ({"out_channels": 2, "kernel_size": 2, "stride": 2, "padding": 0, "bias": False}, {"in": T((3, 6, 5))}),
    ],
    "low_rank_locally_connected2d": [
        ({"out_channels": 3, "rank": 2}, {"in": T((2, 5, 5))}),
        ({"out_channels": 2, "rank": 3, "kernel_size": 2, "stride": 2, "padding": 0}, {"in": T((3, 7, 6))}),
        ({"out_channels": 2, "rank": 1, "bias": False}, {"in": T((1, 4, 4))}),
    ],
    "max_pool2d": [
        ({}, {"in": T((3, 8, 8))}),
        ({"kernel_size": 3, "stride": 2, "padding": 1}, {"in": T((2, 7, 6))}),
        ({"kernel_size": 3, "stride": 2, "ceil_mode": True}, {"in": T((2, 8, 7))}),
    ],
    "avg_pool2d": [
        ({}, {"in": T((3, 7, 7))}),
        ({"kernel_size": 3, "stride": 1, "padding": 1}, {"in": T((2, 5, 4))}),
    ],
    "adaptive_avg_pool2d": [({"height": 2, "width": 3}, {"in": T((3, 7, 9))}), ({}, {"in": T((2, 7, 7))})],
    "global_avg_pool": [({}, {"in": T((5, 4, 3))})],
    "batch_norm1d": [({}, {"in": T((6,))}), ({"affine": False, "momentum": 0.5}, {"in": T((4, 9))})],
    "batch_norm2d": [({}, {"in": T((3, 4, 4))})],
    "layer_norm": [({}, {"in": T((7,))}), ({"elementwise_affine": False}, {"in": T((5, 8))})],
    "rms_norm": [({}, {"in": T((7,))}), ({"eps": 1e-6, "elementwise_affine": False}, {"in": T((5, 8))})],
    "group_norm": [({"num_groups": 2}, {"in": T((4, 3, 3))}), ({"num_groups": 3}, {"in": T((6,))})],
    "dropout": [({"p": 0.2}, {"in": T((5,))}), ({}, {"in": T((2, 3, 3))})],
    "embedding": [
        ({"num_embeddings": 10, "embedding_dim": 4}, {"in": T((6,), "long")}),
        ({"num_embeddings": 5, "embedding_dim": 3}, {"in": T((), "long")}),
    ],
}
