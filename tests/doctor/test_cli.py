"""``modstudio doctor``: exit 0 for a healthy run, 1 with problems, 2 for a bad input; --apply edits the file."""

from __future__ import annotations

import json

from modstudio.blocks import default_catalog
from modstudio.cli import main
from modstudio.engine.doctor.fixes import layer_node
from modstudio.graph.io import load_project, save_project
from modstudio.library import load_template

from .runs import moe_facts, write_run

CATALOG = default_catalog()
COLLAPSED = [moe_facts([0.0, 400.0, 0.0, 0.0])] * 3
HEALTHY = [moe_facts([100.0, 95.0, 105.0, 100.0], entropy=0.9)] * 3


def project_with_runs(tmp_path):
    project = load_template("moe_2d", CATALOG)
    file = tmp_path / "moe.msproj"
    save_project(project, file)
    runs = tmp_path / "moe.runs"
    healthy = write_run(runs / "20260101-000000-aaaaaa", HEALTHY, project=project)
    collapsed = write_run(runs / "20260102-000000-bbbbbb", COLLAPSED, project=project)
    return file, healthy, collapsed


def test_exit_codes_and_output(tmp_path, capsys):
    file, healthy, collapsed = project_with_runs(tmp_path)
    assert main(["doctor", str(file), "--run", str(healthy), "--no-sequences"]) == 0
    assert "no problems" in capsys.readouterr().out
    assert main(["doctor", str(file), "--no-sequences"]) == 1  # latest: the collapsed run
    out = capsys.readouterr().out
    assert "1. collapse · moe: Routing collapsed in 'moe': 1 of 4 experts (1) took 100% of the tokens" in out
    assert "fix 1.1 (suggested): Raise the load-balance weight of 'moe' from 0.01 to 0.1" in out
    assert main(["doctor", str(file), "--run", str(collapsed), "--json", "--no-sequences"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [d["kind"] for d in report["diagnoses"]] == ["collapse", "dead_experts"]


def test_bad_inputs_exit_2_with_a_named_problem(tmp_path, capsys):
    file, healthy, collapsed = project_with_runs(tmp_path)
    assert main(["doctor", str(file), "--run", str(tmp_path / "nowhere")]) == 2
    assert "is not a run folder" in capsys.readouterr().err
    (collapsed / "routing.jsonl").write_text('{"type": "routing"}\n[1, 2]\n{"type": "routing"}\n')
    assert main(["doctor", str(file), "--run", str(collapsed)]) == 2
    err = capsys.readouterr().err
    assert "routing.jsonl line 2: not a JSON object" in err and "Traceback" not in err
    (healthy / "routing.jsonl").write_text("")
    assert main(["doctor", str(file), "--run", str(healthy)]) == 2
    assert "has no routing records" in capsys.readouterr().err
    assert main(["doctor", str(tmp_path / "missing.msproj")]) == 2


def test_apply_writes_the_fix_and_refuses_an_unknown_number(tmp_path, capsys):
    file, _, collapsed = project_with_runs(tmp_path)
    out = tmp_path / "fixed.msproj"
    assert main(["doctor", str(file), "--run", str(collapsed), "--apply", "9.1", "-o", str(out)]) == 2
    assert "there is no fix 9.1" in capsys.readouterr().err and not out.exists()
    assert main(["doctor", str(file), "--run", str(collapsed), "--apply", "1.1", "-o", str(out), "--no-sequences"]) == 1
    assert "applied: Raise the load-balance weight" in capsys.readouterr().out
    assert layer_node(load_project(out, CATALOG), CATALOG, "moe").params["load_balance_weight"] == 0.1
    assert layer_node(load_project(file, CATALOG), CATALOG, "moe").params["load_balance_weight"] == 0.01


def test_a_network_over_sequences_gets_mixtrals_measure(tmp_path, capsys):
    import torch
    from safetensors.torch import save_file

    from modstudio.compile.graphnet import GraphNet

    project = load_template("switch_transformer", CATALOG)
    file = tmp_path / "st.msproj"
    save_project(project, file)
    torch.manual_seed(0)
    run = write_run(tmp_path / "st.runs" / "20260101-000000-cccccc", HEALTHY, project=project, layer="encoder1.moe")
    save_file(GraphNet(project, CATALOG).state_dict(), str(run / "best.safetensors"))
    assert main(["doctor", str(file), "--run", str(run)]) == 0
    out = capsys.readouterr().out
    assert "sequences (Mixtral's measure: consecutive tokens on the same expert):" in out
    assert "encoder1.moe: consecutive tokens on the same first expert" in out and "(random routing 25.0%" in out
    assert "encoder2.moe: first expert by position:" in out
