"""Palette search: the block whose title or id is what was typed comes first."""

from __future__ import annotations

import pytest

from modstudio.blocks import default_catalog
from modstudio.ui.app import create_app
from modstudio.ui.palette import Palette


@pytest.fixture
def palette(qtbot) -> Palette:  # type: ignore[no-untyped-def]
    create_app()
    widget = Palette(default_catalog())
    qtbot.addWidget(widget)
    return widget


def test_exact_and_prefix_matches_come_first(palette: Palette) -> None:
    palette.search.setText("relu")
    assert palette.visible_blocks()[0] == "relu"
    assert palette.tree.currentItem() is palette.items["relu"]
    palette.search.setText("conv")
    shown = palette.visible_blocks()
    assert shown[:2] == ["conv1d", "conv2d"] and shown[2] == "conv_transpose2d"
    palette.search.setText("Lin ")
    assert palette.visible_blocks()[0] == "linear"


def test_description_matches_are_listed_after_name_matches(palette: Palette) -> None:
    palette.search.setText("norm")
    shown = palette.visible_blocks()
    names = [b for b in shown if "norm" in palette.catalog[b].title.lower() or "norm" in b]
    assert shown[: len(names)] == names  # BatchNorm, LayerNorm... before blocks that only mention it
    assert len(shown) > len(names)


def test_clearing_the_search_gives_back_the_categories(palette: Palette) -> None:
    before = palette.visible_blocks()
    palette.search.setText("zzz-nothing")
    assert palette.visible_blocks() == []
    palette.search.setText("")
    assert palette.visible_blocks() == before
    assert palette.items["relu"].parent() is not None and palette.items["relu"].parent().text(0) == "Activation"
    assert palette.mime_for("relu").text() == "relu"
