"""Mutated templates and library files end in a loaded project or named problems, never a traceback.

A seeded run of a few hundred mutants (bench/fuzz_projects.py runs tens of thousands).
"""

from __future__ import annotations

from modstudio.blocks import default_catalog
from tests.graph import project_fuzzer
from tests.graph.project_fuzzer import Mutator, Outcome, fuzz, run_one, seed_files


def test_mutated_projects_give_named_problems_not_tracebacks():
    outcome = fuzz(800, seed=14)
    shown = "\n".join(f"{n} x {key}\n{outcome.tracebacks[key][0]}" for key, n in outcome.counts.items())
    assert outcome.traceback_count == 0, shown
    # every ending is exercised: files that load and build, files refused by name, shape problems
    assert outcome.loaded > 50 and outcome.refused > 200 and outcome.shape_problems > 20


def test_mutants_are_reproducible_from_their_seed():
    assert [Mutator(3).mutant() for _ in range(3)] == [Mutator(3).mutant() for _ in range(3)]
    first = Mutator(3)
    assert len({first.mutant() for _ in range(20)}) == 20


def test_every_shipped_file_is_a_seed_and_loads():
    files = seed_files()
    assert {p.parent.name for p in files} == {"templates", "library"} and len(files) >= 10
    outcome = Outcome()
    for path in files:
        run_one(path.read_text(encoding="utf-8"), outcome, default_catalog())
    assert outcome.loaded == len(files)


def test_an_escaping_exception_is_counted_with_its_last_frame(monkeypatch):
    def broken(project, catalog):
        raise KeyError("boom")

    monkeypatch.setattr(project_fuzzer, "summarize", broken)
    outcome = Outcome()
    run_one(seed_files()[0].read_text(encoding="utf-8"), outcome, default_catalog())
    assert outcome.traceback_count == 1
    [key] = outcome.counts
    assert key.startswith("KeyError at test_fuzz.py:") and key.endswith("in broken")
    assert outcome.tracebacks[key][1].startswith('{\n  "format_version": 1')  # the mutant that caused it
