"""The import's check takes the model's recorded output only for a layer provably the model's own,
on an equal input never changed since; whatever differs is computed, and caught."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import pytest
import torch
from torch import nn

from modstudio.blocks import default_catalog
from modstudio.blocks.importing import LayerImporter, Mapped
from modstudio.importer import verify
from modstudio.importer.api import import_model
from modstudio.importer.errors import ImportProblem
from modstudio.importer.registry import Importers
from modstudio.importer.replay import Replays, replay_identical, same_layer
from modstudio.importer.trace import record_calls


def _conv(**settings: object) -> nn.Conv2d:
    torch.manual_seed(0)
    return nn.Conv2d(3, 4, 3, padding=1, **settings)


def _sharing(source: nn.Conv2d, **settings: object) -> nn.Conv2d:
    """A new conv with ``source``'s own tensors (as the check's network gets them)."""
    block = nn.Conv2d(3, 4, 3, **{"padding": 1, **settings})
    block.weight = nn.Parameter(source.weight.detach())
    block.bias = nn.Parameter(source.bias.detach())
    return block


class Conv2dVariant(nn.Conv2d):
    pass


def _hooked(module: nn.Module) -> nn.Module:
    module.register_forward_hook(lambda m, args, out: out * 2)
    return module


def test_the_model_s_own_settings_and_tensors_make_the_same_layer() -> None:
    source = _conv()
    assert same_layer(_sharing(source), source)


@pytest.mark.parametrize(
    "differs",
    [
        lambda source: _sharing(source, padding=2),
        lambda source: _sharing(source, padding_mode="reflect"),
        lambda source: _sharing(source, dilation=2),
        lambda source: _hooked(_sharing(source)),
        lambda source: nn.Conv2d(3, 4, 3, padding=1),  # the same settings, other weights
    ],
    ids=["padding", "padding mode", "dilation", "a hook", "other tensors"],
)
def test_any_difference_makes_another_layer(differs: Callable[[nn.Conv2d], nn.Module]) -> None:
    source = _conv()
    assert not same_layer(differs(source), source)


def test_copied_weights_another_class_or_a_hook_on_the_model_s_layer_are_not_the_same() -> None:
    source = _conv()
    copied = _sharing(source)
    copied.weight = nn.Parameter(source.weight.detach().clone())
    assert not same_layer(copied, source)
    variant = Conv2dVariant(3, 4, 3, padding=1)
    variant.weight, variant.bias = nn.Parameter(source.weight.detach()), nn.Parameter(source.bias.detach())
    assert not same_layer(variant, source)
    shared = _sharing(source)
    assert not same_layer(shared, _hooked(source))


def test_the_recorded_output_is_taken_for_an_equal_input_never_changed_since() -> None:
    source = _conv().eval()
    x = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    layers: dict = {}
    with torch.no_grad():
        record_calls(source, lambda: source(x), layers)
    net = nn.Sequential(OrderedDict(conv=_sharing(source))).eval()
    assert replay_identical(net, Replays({"conv": source}, layers)) == ["conv"]
    recorded = layers[id(source)][0].output
    with torch.no_grad():
        assert net(x) is recorded  # taken, not computed
        other = x + 1
        assert net(other) is not recorded
        torch.testing.assert_close(net(other), source(other))
        expected = source(x)
        recorded.add_(1)  # changed in place after the run, as ``out += identity`` does
        changed = net(x)
    assert changed is not recorded
    torch.testing.assert_close(changed, expected)


def test_a_layer_whose_weights_changed_since_the_run_is_computed() -> None:
    source = _conv().eval()
    x = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    layers: dict = {}
    with torch.no_grad():
        record_calls(source, lambda: source(x), layers)
        net = nn.Sequential(OrderedDict(conv=_sharing(source))).eval()
        replay_identical(net, Replays({"conv": source}, layers))
        source.weight.mul_(2)  # the same memory, other numbers (as a forward that updates its weights would)
        torch.testing.assert_close(net(x), source(x))


def _model(padding_mode: str) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, padding_mode=padding_mode), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 2)
    ).eval()


def _careless(convert: Callable[[nn.Conv2d], Mapped]) -> Importers:
    importers = Importers(default_catalog(), plugin_modules=[])
    importers.add(LayerImporter(("torch.nn.Conv2d",), convert, block="conv2d"))
    return importers


def _conv_params(m: nn.Conv2d) -> dict:
    return {"out_channels": m.out_channels, "kernel_size": 3, "padding": 1}


@pytest.mark.parametrize(
    ("padding_mode", "importers"),
    [
        ("reflect", _careless(lambda m: Mapped(_conv_params(m)))),  # drops the padding mode
        ("zeros", _careless(lambda m: Mapped(_conv_params(m), weights=lambda s: {k: -v for k, v in s.items()}))),
    ],
    ids=["a setting misread", "weights mapped wrong"],
)
def test_an_importer_s_mistake_is_caught_by_the_check(padding_mode: str, importers: Importers) -> None:
    with pytest.raises(ImportProblem, match="computes other values than the model"):
        import_model(_model(padding_mode), input_shape=(1, 3, 8, 8), importers=importers)


def test_a_layer_the_model_hooks_is_computed_so_the_difference_shows() -> None:
    model = _model("zeros")
    _hooked(model[3])
    with pytest.raises(ImportProblem, match="computes other values than the model"):
        import_model(model, input_shape=(1, 3, 8, 8))


def test_the_check_takes_the_recorded_outputs_of_the_model_s_own_layers(monkeypatch: pytest.MonkeyPatch) -> None:
    replayed: list[list[str]] = []

    def spy(net: nn.Module, replays: Replays) -> list[str]:
        replayed.append(replay_identical(net, replays))
        return replayed[-1]

    monkeypatch.setattr(verify, "replay_identical", spy)
    imported = import_model(_model("zeros"), input_shape=(1, 3, 8, 8))
    main = imported.project.main_module
    layers = {n.name: n.block for n in main.nodes}
    assert len(replayed) == 1 and {layers[path] for path in replayed[0]} >= {"conv2d", "linear"}
    assert imported.report.max_difference == 0.0
