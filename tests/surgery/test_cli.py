"""``modstudio experts``: exit 0 with the edited project and its weights written; 2 with a named
problem and nothing written on bad input."""

from __future__ import annotations

from modstudio.blocks import default_catalog
from modstudio.cli import main
from modstudio.graph.io import load_project


def test_prune_writes_the_project_and_its_weights(topk_run, capsys):
    project_file, run = topk_run
    out = project_file.parent / "pruned.msproj"
    assert (
        main(
            ["experts", str(project_file), "--run", str(run), "-o", str(out), "prune", "--layer", "moe", "--keep", "3"]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "importance" in printed and "before: accuracy" in printed and "after:  accuracy" in printed
    project = load_project(out, default_catalog())
    assert project.main_module.node_named("moe").params["num_experts"] == 3
    assert project.training.init_weights == "pruned.prune.init.safetensors"
    assert (out.parent / "pruned.prune.init.safetensors").is_file()


def test_bad_input_is_exit_2_with_a_named_problem_and_nothing_written(topk_run, capsys):
    project_file, run = topk_run
    folder = project_file.parent
    out = folder / "never.msproj"
    cases = [
        (["prune", "--layer", "nope", "--keep", "2"], "no node named 'nope'"),
        (["prune", "--layer", "moe", "--keep", "9"], "cannot keep 9 of 4 experts"),
        (["clone", "--layer", "moe", "--expert", "7"], "there is no expert 7"),
        (["upcycle", "--node", "moe", "--experts", "1"], "at least 2 experts"),
    ]
    for action, problem in cases:
        before = sorted(p.name for p in folder.iterdir())
        assert main(["experts", str(project_file), "--run", str(run), "-o", str(out), *action]) == 2
        err = capsys.readouterr().err
        assert problem in err and "Traceback" not in err
        assert sorted(p.name for p in folder.iterdir()) == before
    assert main(["experts", str(project_file), "prune", "--layer", "moe", "--keep", "3"]) == 2
    assert "use --force" in capsys.readouterr().err
    assert (
        main(
            [
                "experts",
                str(project_file),
                "--run",
                str(folder / "no-run"),
                "-o",
                str(out),
                "unfreeze",
                "--layer",
                "moe",
            ]
        )
        == 2
    )
    assert "not a run folder" in capsys.readouterr().err
