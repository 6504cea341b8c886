"""Which importers recognise a torch module: the catalogue's blocks (their hooks) and plugins' ``IMPORTERS``."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from torch import nn

from modstudio.blocks.catalog import Catalog
from modstudio.blocks.importing import LayerImporter, class_names


@dataclass(frozen=True)
class Candidate:
    block: str
    importer: LayerImporter


class Importers:
    """Importers by the class names they recognise, in order: plugins' own first, then the catalogue's."""

    def __init__(self, catalog: Catalog, plugin_modules: list[str] | None = None) -> None:
        self.by_class: dict[str, list[Candidate]] = {}
        for module_name in plugin_modules if plugin_modules is not None else _plugin_modules():
            module = sys.modules.get(module_name)
            for importer in getattr(module, "IMPORTERS", ()) if module is not None else ():
                if isinstance(importer, LayerImporter) and importer.block:
                    self._add(importer.block, importer)
        for spec in catalog:
            importer = spec.importer
            if importer is not None:
                self._add(importer.block or spec.id, importer)

    def _add(self, block: str, importer: LayerImporter) -> None:
        for name in importer.classes:
            self.by_class.setdefault(name, []).append(Candidate(block, importer))

    def add(self, importer: LayerImporter) -> None:
        """One more importer (a plugin's, or a test's), tried before those already known."""
        for name in importer.classes:
            self.by_class.setdefault(name, []).insert(0, Candidate(importer.block, importer))

    def of(self, module: nn.Module) -> list[Candidate]:
        found: list[Candidate] = []
        for name in class_names(type(module)):
            found.extend(self.by_class.get(name, ()))
        return found


def _plugin_modules() -> list[str]:
    from modstudio.blocks.plugins import load_plugins

    return [plugin.module for plugin in load_plugins().plugins]
