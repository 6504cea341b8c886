"""New from Template starts on "Empty project": the smallest project that trains."""

from __future__ import annotations


def test_the_gallery_offers_the_empty_project_first_and_it_opens(window) -> None:
    from modstudio.ui.dialogs import TemplateGallery
    from modstudio.ui.files import default_project

    gallery = TemplateGallery(window)
    assert gallery.chosen() == "empty"  # first, and selected: OK gives it
    assert gallery.list.item(0).text().startswith("Empty project\n")
    window.load(default_project(window.catalog, "empty"), None)
    module = window.scene.module
    assert [n.block for n in module.nodes] == ["input", "linear", "output"]
    assert window.scene.check_now().problems == []
    assert "Empty project" in window.windowTitle()
