"""What the import's and the search's child processes share: the command, the environment, whole lines."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import QProcess

import modstudio
from modstudio.ui.child_process import LineReader, child_environment, worker_command


def test_lines_are_whole_across_chunks_and_the_rest_comes_at_the_end():
    reader = LineReader()
    assert reader.feed(b"first li") == []
    assert reader.feed(b"ne\r\nsecond\n\nthi") == ["first line", "second", ""]
    assert reader.feed(b"rd") == []
    assert reader.rest() == ["third"]
    assert reader.rest() == []  # given once


def test_bytes_that_are_not_utf8_become_replacement_characters():
    reader = LineReader()
    assert reader.feed("née ".encode() + b"\xff\n") == ["née \ufffd"]
    assert reader.rest() == []


def test_a_utf8_character_split_between_chunks_stays_whole():
    reader = LineReader()
    encoded = "→ done\n".encode()
    assert reader.feed(encoded[:1]) == []
    assert reader.feed(encoded[1:]) == ["→ done"]


def test_the_command_runs_this_pythons_modstudio():
    program, lead = worker_command()
    assert program == sys.executable and lead == ["-m", "modstudio"]


def test_the_child_runs_the_same_modstudio_unbuffered(qapp):
    env = child_environment()
    here = str(Path(modstudio.__file__).resolve().parents[1])
    assert env.value("PYTHONPATH").split(os.pathsep)[0] == here
    assert env.value("PYTHONUNBUFFERED") == "1"
    process = QProcess()
    process.setProcessEnvironment(env)
    process.start(sys.executable, ["-c", "import modstudio, sys; sys.stdout.write(modstudio.__file__)"])
    assert process.waitForFinished(60_000)
    reader = LineReader()
    lines = reader.feed(bytes(process.readAllStandardOutput().data())) + reader.rest()
    assert lines == [str(Path(modstudio.__file__).resolve())]
