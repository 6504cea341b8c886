"""Writes the corpus of broken project files beside this script.

Each file is the valid base project broken in one way; test_corpus.py checks that each gives
its own named error. Run `python tests/corpus/make_corpus.py` after changing the base.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modstudio.graph.builder import ProjectBuilder
from modstudio.graph.io import project_to_dict

HERE = Path(__file__).resolve().parent


def base_project() -> dict[str, Any]:
    pb = ProjectBuilder("corpus")
    inner = pb.module("Block", "a parametric block", width=16)
    x = inner.input("x")
    inner.output("y", inner.add("relu", "act", inner.add("linear", "fc", x, out_features="=width * 2")))
    b = pb.module("main")
    h = b.add("relu", "relu1", b.add("linear", "fc1", b.input("x", [2]), out_features=8))
    h = b.use("Block", "block", h, width=4)
    b.output("y", b.add("linear", "head", h, out_features=2), task="classification")
    return project_to_dict(pb.project("corpus base"))


def _main(d: dict[str, Any]) -> dict[str, Any]:
    return d["modules"]["main"]


def _ids(d: dict[str, Any]) -> dict[str, str]:
    return {n["name"]: n["id"] for n in _main(d)["nodes"]}


def _cycle(d: dict[str, Any]) -> None:
    ids, m = _ids(d), _main(d)
    m["edges"] = [e for e in m["edges"] if e["dst"] != ids["fc1"]]
    m["edges"].append({"src": ids["relu1"], "src_port": "out", "dst": ids["fc1"], "dst_port": "in"})


def _self_reference(d: dict[str, Any]) -> None:
    d["modules"]["Block"]["nodes"].append(
        {"id": "rec-1", "name": "again", "block": None, "module": "Block", "params": {}}
    )


def _mutual_reference(d: dict[str, Any]) -> None:
    other = copy.deepcopy(d["modules"]["Block"])
    for n in other["nodes"]:
        n["id"] = "o-" + n["id"]
    for e in other["edges"]:
        e["src"], e["dst"] = "o-" + e["src"], "o-" + e["dst"]
    other["nodes"].append({"id": "rec-2", "name": "back", "block": None, "module": "Block", "params": {}})
    d["modules"]["Other"] = other
    d["modules"]["Block"]["nodes"].append(
        {"id": "rec-3", "name": "forth", "block": None, "module": "Other", "params": {}}
    )


def _default_expert_is_itself(d: dict[str, Any]) -> None:
    """Module 'Expert' holds a Mixture of Experts left at its defaults: its default expert is 'Expert'."""
    d["modules"]["Expert"] = {
        "nodes": [
            {"id": "ex-in", "name": "x", "block": "input", "module": None, "params": {}},
            {"id": "ex-moe", "name": "mix", "block": "moe", "module": None, "params": {}},
            {"id": "ex-out", "name": "y", "block": "output", "module": None, "params": {}},
        ],
        "edges": [
            {"src": "ex-in", "src_port": "out", "dst": "ex-moe", "dst_port": "in"},
            {"src": "ex-moe", "src_port": "out", "dst": "ex-out", "dst_port": "in"},
        ],
        "params": {},
        "doc": "",
    }


def _set(path: Callable[[dict[str, Any]], dict[str, Any]], key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: path(d).__setitem__(key, value)


def _node(i: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda d: _main(d)["nodes"][i]


def _params(i: int, module: str = "main") -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda d: d["modules"][module]["nodes"][i]["params"]


# file name -> how the base is broken
VARIANTS: dict[str, Callable[[dict[str, Any]], None]] = {
    "wrong_type_epochs": _set(lambda d: d["training"], "epochs", "ten"),
    "wrong_type_param": _set(_params(1), "out_features", "eight"),
    "out_of_range_param": _set(_params(1), "out_features", 0),
    "unknown_block": _set(_node(2), "block", "rectifier"),
    "unknown_param": _set(_params(1), "kernel_size", 3),
    "unknown_field": _set(_node(0), "colour", "red"),
    "missing_field": lambda d: _node(1)(d).pop("id"),
    "cycle": _cycle,
    "dangling_edge": _set(lambda d: _main(d)["edges"][0], "dst", "0000-gone"),
    "unknown_port": _set(lambda d: _main(d)["edges"][0], "dst_port", "input"),
    "doubly_fed_port": lambda d: _main(d)["edges"].append(
        {"src": _ids(d)["x"], "src_port": "out", "dst": _ids(d)["relu1"], "dst_port": "in"}
    ),
    "missing_module": _set(_node(3), "module", "Missing"),
    "recursive_module": _self_reference,
    "mutually_recursive_modules": _mutual_reference,
    "bad_module_param": _set(_params(3), "depth", 3),
    "bad_expression": _set(_params(1, "Block"), "out_features", "=width *"),
    "unknown_name_in_expression": _set(_params(1, "Block"), "out_features", "=widht * 2"),
    "unsafe_expression": _set(_params(1, "Block"), "out_features", "=__import__('os').getcwd()"),
    "duplicate_ids": lambda d: _node(2)(d).__setitem__("id", _node(1)(d)["id"]),
    "duplicate_names": _set(_node(2), "name", "fc1"),
    "reserved_name": _set(_node(1), "name", "forward"),
    "newer_format": lambda d: d.__setitem__("format_version", 99),
    "missing_main": lambda d: d.__setitem__("main", "network"),
    "recursive_default_member": _default_expert_is_itself,
    # loads, but the shapes do not fit: a problem for `modstudio validate`, not for loading
    "shape_mismatch": _set(_params(0), "shape", [3, 4, 4]),
    "expression_out_of_range": _set(_params(3), "width", "=0"),
}


# file name -> (text in the valid file, what replaces it): values json.dumps cannot write
TEXT_VARIANTS: dict[str, tuple[str, str]] = {
    "huge_integer": ('"out_features": 8', '"out_features": 1' + "0" * 4300),
    "not_a_number": ('"out_features": 8', '"out_features": NaN'),
    "deep_nesting": ('"view": {}', '"view": ' + "[" * 1200 + "]" * 1200),
    "lone_surrogate": ('"name": "fc1"', '"name": "fc\\ud800"'),
}


def main() -> None:
    base = base_project()
    write = lambda name, data: (HERE / f"{name}.msproj").write_text(json.dumps(data, indent=2) + "\n")  # noqa: E731
    write("valid", base)
    text = json.dumps(base, indent=2)
    (HERE / "truncated.msproj").write_text(text[: len(text) // 2])
    (HERE / "empty.msproj").write_text("")
    (HERE / "not_utf8.msproj").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe not a project")
    write("not_an_object", [1, 2, 3])
    for name, (old, new) in TEXT_VARIANTS.items():
        assert old in text, old
        (HERE / f"{name}.msproj").write_text(text.replace(old, new, 1) + "\n")
    for name, breaks in VARIANTS.items():
        data = copy.deepcopy(base)
        breaks(data)
        write(name, data)


if __name__ == "__main__":
    main()
