"""Support for the plugin tests (no tests here): plugins written into temporary places, folders,
a user folder, and an installed distribution with a ``modstudio.plugins`` entry point."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import pytest

from modstudio.blocks.plugins import ENTRY_POINT_GROUP, PATH_VARIABLE, load_plugins


def block_source(block_id: str, extra: str = "") -> str:
    """A plugin module with one valid block (an identity with a documented param)."""
    return textwrap.dedent(
        f'''
        """A test plugin with the block {block_id}."""
        from modstudio.blocks.plugins import BlockSpec, ParamSpec, single

        def _shape(params, inputs):
            return (single(inputs),)

        def _build(params, inputs):
            from torch import nn

            return nn.Identity()

        {extra}
        BLOCKS = (
            BlockSpec(
                id="{block_id}", title="{block_id.title()}", category="Test", doc="Passes its input on unchanged.",
                params=(ParamSpec("width", "int", 4, "unused", min=1),), shape=_shape, build=_build,
            ),
        )
        '''
    )


@dataclass
class Places:
    """Where a test puts plugins; ``load()`` loads every plugin afresh from them."""

    folder: Path  # listed in MODSTUDIO_PLUGIN_PATH
    user: Path  # platformdirs.user_data_dir("ModStudio")/plugins
    site: Path  # on sys.path, for installed distributions

    def write(self, relative: str, text: str, where: Path | None = None) -> Path:
        path = (where or self.folder) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def install(self, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
        """A distribution in ``site`` (dist-info with entry_points.txt), as pip would leave it."""
        for name, text in modules.items():
            self.write(f"{name}.py", text, self.site)
        info = self.site / f"{dist}-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n", encoding="utf-8")
        lines = [f"[{ENTRY_POINT_GROUP}]", *(f"{k} = {v}" for k, v in entry_points.items())]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        importlib.invalidate_caches()

    def load(self):  # -> PluginReport
        importlib.invalidate_caches()
        load_plugins.cache_clear()
        return load_plugins()


def plugin_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Places]:
    """The body of a ``places`` fixture: plugins load from temporary places only (and from the
    repository's plugins/ folder), and what the test loaded is forgotten afterwards."""
    user_data = tmp_path / "user_data"
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda *args, **kwargs: str(user_data))
    folder, site = tmp_path / "plugins", tmp_path / "site"
    folder.mkdir()
    site.mkdir()
    monkeypatch.setenv(PATH_VARIABLE, str(folder))
    monkeypatch.syspath_prepend(str(site))  # sys.path is restored afterwards
    before = set(sys.modules)
    yield Places(folder, user_data / "plugins", site)
    for name in set(sys.modules) - before:  # the test's plugins, so the next test may reuse names
        if str(tmp_path) in str(getattr(sys.modules[name], "__file__", None) or ""):
            del sys.modules[name]
    load_plugins.cache_clear()  # the next user loads the real plugins again
