"""`modstudio export`: writes the artifact, or says what is wrong with exit status 2."""

from __future__ import annotations

from modstudio.cli import EXIT_BAD_INPUT, EXIT_OK, main


def test_cli_exports_python_and_torchscript_with_the_deprecation_said(tmp_path, capsys):
    project = tmp_path / "m.msproj"
    assert main(["new", "--template", "moe_2d", "-o", str(project)]) == EXIT_OK
    assert main(["export", str(project), "--format", "python", "-o", str(tmp_path / "m.py")]) == EXIT_OK
    assert "wrote" in capsys.readouterr().out and (tmp_path / "m.py").is_file()
    assert main(["export", str(project), "--format", "torchscript", "-o", str(tmp_path / "m.pt")]) == EXIT_OK
    captured = capsys.readouterr()
    assert "TorchScript is deprecated upstream" in captured.err and "checked" in captured.out


def test_cli_bad_input_is_a_sentence_not_a_traceback(tmp_path, capsys):
    project = tmp_path / "m.msproj"
    main(["new", "--template", "mlp_2d", "-o", str(project)])
    capsys.readouterr()
    code = main(
        [
            "export",
            str(project),
            "--format",
            "pt2",
            "-o",
            str(tmp_path / "m.pt2"),
            "--weights",
            str(tmp_path / "no.safetensors"),
        ]
    )
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT and "weights file" in err and "Traceback" not in err
    code = main(["export", str(project), "--format", "python", "-o", str(tmp_path / "missing" / "m.py")])
    assert code == EXIT_BAD_INPUT and "does not exist" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.msproj"]
