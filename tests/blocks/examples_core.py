"""Example inputs for the core blocks: (params, inputs) pairs checked by test_catalog."""

from modstudio.blocks.tensors import TensorInfo as T

EXAMPLES = {
    "linear": [({"out_features": 5}, {"in": T((7,))}), ({"out_features": 4, "bias": False}, {"in": T((6, 8))})],
    "relu": [({}, {"in": T((3, 4, 4))})],
    "relu6": [({}, {"in": T((3, 4, 4))})],
    "gelu": [({}, {"in": T((5,))})],
    "leaky_relu": [({}, {"in": T((5,))}), ({"negative_slope": 0.2}, {"in": T((3, 4, 4))})],
    "elu": [({"alpha": 0.5}, {"in": T((5,))})],
    "silu": [({}, {"in": T((5,))})],
    "hardswish": [({}, {"in": T((3, 4, 4))})],
    "tanh": [({}, {"in": T((5,))})],
    "sigmoid": [({}, {"in": T((5,))})],
    "softmax": [({"dim": -1}, {"in": T((4, 5))}), ({"dim": 1}, {"in": T((3, 2, 2))})],
    "flatten": [({}, {"in": T((3, 4, 5))})],
    "reshape": [({"shape": [3, -1]}, {"in": T((12,))}), ({"shape": [2, 2, 3]}, {"in": T((3, 4))})],
    "permute": [({"dims": [2, 1]}, {"in": T((6, 4))}), ({"dims": [3, 1, 2]}, {"in": T((2, 3, 4))})],
    "add": [({}, {"in": [T((4,)), T((4,)), T((4,))]})],
    "multiply": [({}, {"in": [T((2, 3)), T((2, 3))]})],
    "concat": [({"dim": 1}, {"in": [T((2, 3)), T((5, 3))]}), ({"dim": -1}, {"in": [T((2, 3)), T((2, 1))]})],
}
