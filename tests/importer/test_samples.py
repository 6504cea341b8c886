"""The sample run uses one sample only where two could show nothing more; what the import makes is
the same either way."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import modstudio.importer.api as api
from modstudio.blocks import default_catalog
from modstudio.graph.io import project_to_json
from modstudio.importer.convert import Walker
from modstudio.importer.registry import Importers
from modstudio.importer.samples import one_sample_suffices

from . import resnet, sequence, vision


def _one(model: nn.Module) -> bool:
    catalog = default_catalog()
    walker = Walker(catalog, Importers(catalog, plugin_modules=[]))
    return one_sample_suffices(model.eval(), walker.importers, walker.graph_of)


class Head(nn.Module):
    """A small image head whose last steps vary per case."""

    def __init__(self, last: str, norm: nn.Module | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.norm = norm or nn.BatchNorm2d(4)
        self.last = last
        self.fc = nn.Linear((8 if last.startswith("cat") else 4) * 8 * 8, 2)
        self.token = nn.Parameter(torch.zeros(1, 4, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.norm(self.conv(x)))
        if self.last == "flatten(1)":
            y = torch.flatten(y, 1)
        elif self.last == "flatten(start_dim=1)":
            y = y.flatten(start_dim=1)
        elif self.last == "flatten()":
            return self.fc(torch.flatten(y).view(1, -1))
        elif self.last == "view(size(0), -1)":
            y = y.view(y.size(0), -1)
        elif self.last == "cat(dim=1)":
            y = torch.flatten(torch.cat([y, y], dim=1), 1)
        elif self.last == "cat(dim=1)[:, :8]":
            y = torch.flatten(torch.cat([y, y], dim=1)[:, :8], 1)
        elif self.last == "+ parameter":
            y = torch.flatten(y + self.token, 1)
        return self.fc(y)


@pytest.mark.parametrize(
    ("model", "one"),
    [
        (resnet.resnet18(), True),
        (vision.vgg11(), True),
        (vision.MobileNetV2(), True),
        (vision.SqueezeNet(), True),
        (sequence.VisionTransformer(), False),  # a class token and positions: parameters against the batch
        (sequence.LSTMClassifier(), False),  # an LSTM's state has the batch second
        (Head("flatten(1)"), True),
        (Head("flatten(start_dim=1)"), True),
        (Head("flatten()"), False),  # flattens the batch too
        (Head("view(size(0), -1)"), False),  # a size read from the sample
        (Head("cat(dim=1)"), True),
        (Head("cat(dim=1)[:, :8]"), False),  # indexing
        (Head("+ parameter"), False),
        (Head("flatten(1)", nn.BatchNorm2d(4, track_running_stats=False)), False),  # the batch's own statistics
        (nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1)), True),
        (nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=0)), False),
        (nn.Sequential(nn.Linear(4, 3), nn.Flatten(0)), False),
    ],
)
def test_one_sample_only_where_two_could_show_nothing_more(model: nn.Module, one: bool) -> None:
    assert _one(model) is one


def test_a_model_sampled_on_one_imports_as_on_two(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same project and weights from a sample of one as from the sample of two it replaces."""
    torch.manual_seed(0)
    model = resnet.resnet18().eval()
    on_one = api.import_model(model, input_shape=(1, 3, 32, 32))
    monkeypatch.setattr(api, "one_sample_suffices", lambda *args: False)
    on_two = api.import_model(model, input_shape=(1, 3, 32, 32))
    assert project_to_json(on_one.project) == project_to_json(on_two.project)
    assert on_one.state_dict.keys() == on_two.state_dict.keys()
    assert all(torch.equal(on_one.state_dict[k], on_two.state_dict[k]) for k in on_one.state_dict)
    assert on_one.report.max_difference <= 1e-5 and on_two.report.max_difference <= 1e-5
