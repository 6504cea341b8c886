"""Reference models in torchvision's style: each imports into a project that validates, has the
model's parameter count, computes the model's outputs with the imported weights, trains a step,
and exports to Python code that computes them too."""

from __future__ import annotations

import pytest
import torch

from modstudio.blocks import default_catalog
from modstudio.graph.validate import check_project
from modstudio.importer.api import import_model
from modstudio.importer.registry import Importers

from . import mixtral, resnet, sequence, vision
from .conftest import compiled, difference, exported, load_plugin, parameters


def _images(batch: int = 3) -> torch.Tensor:
    return torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def _tokens(batch: int = 3) -> torch.Tensor:
    return torch.randint(0, 100, (batch, 12), generator=torch.Generator().manual_seed(1))


def _moe_importers() -> Importers:
    importers = Importers(default_catalog(), plugin_modules=[])
    for importer in load_plugin("mixtral_import").IMPORTERS:
        importers.add(importer)
    return importers


CASES = {
    "resnet18": (resnet.resnet18, (1, 3, 32, 32), _images, None),
    "resnet50": (resnet.resnet50, (1, 3, 32, 32), _images, None),
    "vgg11": (vision.vgg11, (1, 3, 32, 32), _images, None),
    "mobilenet_v2": (vision.MobileNetV2, (1, 3, 32, 32), _images, None),
    "squeezenet": (vision.SqueezeNet, (1, 3, 32, 32), _images, None),
    "vit": (sequence.VisionTransformer, (1, 3, 32, 32), _images, None),
    "lstm_classifier": (sequence.LSTMClassifier, (1, 12), _tokens, None),
    "mixtral_moe": (mixtral.MixtralLayer, (1, 5, 16), lambda: torch.randn(3, 5, 16), _moe_importers),
}


@pytest.mark.parametrize("name", list(CASES))
def test_reference_model_imports_exactly(name: str, tmp_path) -> None:
    make, shape, sample, importers = CASES[name]
    torch.manual_seed(0)
    model = make().eval()
    imported = import_model(model, input_shape=shape, importers=importers() if importers else None)
    catalog = default_catalog()
    assert check_project(imported.project, catalog) == []
    net = compiled(imported)
    assert parameters(net) == parameters(model)
    x = sample()
    assert difference(model, net, x) <= 1e-5
    code = exported(imported.project, net, tmp_path)
    assert difference(model, code, x) <= 1e-5

    net.train()  # one training step changes the weights and keeps them finite
    before = [p.detach().clone() for p in net.parameters()]
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    loss = net(x).float().pow(2).mean()
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    changed = [not torch.equal(a, b) for a, b in zip(before, net.parameters())]
    assert sum(changed) >= len(changed) // 2
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_the_mixtral_experts_become_one_member_module_of_the_moe_block() -> None:
    imported = import_model(mixtral.MixtralLayer().eval(), input_shape=(1, 5, 16), importers=_moe_importers())
    main = imported.project.main_module
    moe = main.node_named("moe")
    assert moe is not None and moe.block == "moe"
    assert moe.params["experts"] == ["MixtralExpert"] and moe.params["num_experts"] == 4
    expert = imported.project.modules["MixtralExpert"]
    assert [n.block for n in expert.nodes if n.block not in ("input", "output")] == [
        "linear",
        "silu",
        "linear",
        "multiply",
        "linear",
    ]
    assert "moe.router.weight" in imported.state_dict and "moe.experts.3.w2.weight" in imported.state_dict


def test_without_its_plugin_the_sparse_moe_lists_what_has_no_block() -> None:
    from modstudio.importer.errors import NotMappable

    with pytest.raises(NotMappable) as caught:
        import_model(mixtral.MixtralLayer().eval(), input_shape=(1, 5, 16), importers=Importers(default_catalog(), []))
    text = str(caught.value)
    assert "mixtral.py:" in text and "torch.topk" in text


def test_same_structure_shares_a_module_and_sizes_become_module_params() -> None:
    imported = import_model(resnet.resnet18().eval(), input_shape=(1, 3, 32, 32))
    main = imported.project.main_module
    stages = [main.node_named(name) for name in ("layer2", "layer3", "layer4")]
    assert len({node.module for node in stages}) == 1  # one parametric stage, as the library's BasicBlockDown
    assert [node.params["out_channels"] for node in stages] == [128, 256, 512]
    assert imported.project.modules[stages[0].module].params == {"out_channels": 128}
    # node names come from the model's attribute names
    assert {"conv1", "bn1", "maxpool", "layer1", "avgpool", "fc"} <= {n.name for n in main.nodes}


def test_bottlenecks_of_every_stage_are_one_module_with_an_expression() -> None:
    imported = import_model(resnet.resnet50().eval(), input_shape=(1, 3, 32, 32))
    bottlenecks = {name: m for name, m in imported.project.modules.items() if name.startswith("Bottleneck")}
    assert len(bottlenecks) == 2  # with a downsampling shortcut and without: 16 blocks, 2 modules
    for module in bottlenecks.values():
        assert module.node_named("conv1").params["out_channels"] == "=out_channels"
        assert module.node_named("conv3").params["out_channels"] == "=out_channels * 4"
    with_shortcut = next(m for m in bottlenecks.values() if m.node_named("downsample") is not None)
    assert set(with_shortcut.params) == {"out_channels", "stride"}  # stride 1 in the first stage, 2 after


def test_mobilenet_v2_with_a_layer_without_block_names_every_one_with_its_line() -> None:
    from modstudio.importer.errors import NotMappable

    model = vision.MobileNetV2(activation=torch.nn.Mish)
    with pytest.raises(NotMappable) as caught:
        import_model(model.eval(), input_shape=(1, 3, 32, 32))
    unmapped = caught.value.unmapped
    assert unmapped and all(u.what.startswith("Mish ") for u in unmapped)
    assert all(u.where.startswith("vision.py:") for u in unmapped)
    assert len(unmapped) == sum(isinstance(m, torch.nn.Mish) for m in model.modules())


def test_leaky_relu_and_elu_layers_keep_their_settings() -> None:
    torch.manual_seed(0)
    for activation in (lambda inplace: torch.nn.LeakyReLU(0.2, inplace), lambda inplace: torch.nn.ELU(0.7, inplace)):
        model = vision.MobileNetV2(activation=activation).eval()
        imported = import_model(model, input_shape=(1, 3, 32, 32))
        assert difference(model, compiled(imported), torch.randn(2, 3, 32, 32)) <= 1e-5


def test_squeezenet_pools_round_up_as_torchvisions_do() -> None:
    """At 38x38 every ceil_mode pool of SqueezeNet 1.1 keeps a last partial window (18 -> 9, not 8):
    the imported pools do too, and the network computes the model's outputs."""
    torch.manual_seed(0)
    model = vision.SqueezeNet().eval()
    x = torch.randn(2, 3, 38, 38, generator=torch.Generator().manual_seed(1))
    rounded_down = vision.SqueezeNet().eval()
    for pool in rounded_down.modules():
        if isinstance(pool, torch.nn.MaxPool2d):
            pool.ceil_mode = False
    with torch.no_grad():
        assert model.features(x).shape[-1] == 2 and rounded_down.features(x).shape[-1] == 1

    imported = import_model(model, input_shape=(1, 3, 38, 38))
    pools = [n for m in imported.project.modules.values() for n in m.nodes if n.block == "max_pool2d"]
    assert len(pools) == 3 and all(n.params["ceil_mode"] is True for n in pools)
    assert difference(model, compiled(imported), x) <= 1e-5
