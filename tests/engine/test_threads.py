"""One thread policy for the training worker (engine/threads.py), used by `modstudio train` and the editor."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from modstudio.cli import main
from modstudio.engine.errors import EngineError
from modstudio.engine.threads import THREAD_VARIABLES, prepare_worker, runnable_now, training_threads
from modstudio.graph.io import save_project

from .conftest import small_mlp


def test_free_cores_less_what_others_keep_busy_and_never_below_one():
    assert training_threads(cores=8, busy=0.2).threads == 8
    assert training_threads(cores=8, busy=2.4).threads == 6
    assert training_threads(cores=2, busy=2.0).threads == 1  # the 2-core machine beside a 2-thread process
    assert training_threads(cores=2, busy=7.0).threads == 1
    assert training_threads(cores=8, busy=0.0, keep_free=1).threads == 7  # the editor keeps one for its window
    assert training_threads(cores=1, busy=0.0, keep_free=1).threads == 1


def test_a_number_the_user_asks_for_wins_and_a_bad_one_is_named():
    assert training_threads(3, cores=2, busy=5.0).threads == 3
    with pytest.raises(EngineError, match="threads must be at least 1, not 0"):
        training_threads(0)


def test_the_load_now_is_read_from_the_run_queue_without_counting_the_reader():
    assert runnable_now(lambda: "0.50 0.40 0.30 3/512 4242\n") == 2.0
    assert runnable_now(lambda: "garbled") is None


def test_the_worker_sets_openmp_and_mkl_before_torch_and_torch_follows():
    code = (
        "import os, sys, json\n"
        "from modstudio.engine.threads import prepare_worker, use_threads\n"
        "settings = prepare_worker({'threads': None, 'keep_cores_free': 0})\n"
        "assert 'torch' not in sys.modules\n"
        "import torch\n"
        "use_threads(settings['threads'])\n"
        "print(json.dumps([settings['threads'], os.environ['OMP_NUM_THREADS'], torch.get_num_threads(),"
        " torch.get_num_interop_threads()]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    threads, omp, intra, interop = json.loads(done.stdout)
    assert threads >= 1 and omp == str(threads) and intra == threads and interop == threads


def test_prepare_worker_fills_in_the_number_and_leaves_a_bad_one_for_the_run_to_report():
    env: dict[str, str] = {}
    settings = prepare_worker({"threads": 2, "epochs": 3}, env)
    assert settings == {"threads": 2, "epochs": 3} and all(env[name] == "2" for name in THREAD_VARIABLES)
    assert prepare_worker({"threads": 0}, env) == {"threads": 0}


def test_modstudio_train_threads_flag_reaches_the_run_and_zero_is_refused(tmp_path, capsys):
    file = tmp_path / "moons.msproj"
    save_project(small_mlp(), file)
    assert main(["train", str(file), "--epochs", "1", "--threads", "0"]) == 2
    assert "--threads must be at least 1, not 0" in capsys.readouterr().err
    assert main(["train", str(file), "--epochs", "1", "--device", "cpu", "--threads", "1", "-q"]) == 0
    (record,) = (tmp_path / "moons.runs").glob("*/run.json")
    assert json.loads(record.read_text())["settings"]["threads"] == 1
    assert main(["train", str(file), "--epochs", "1", "--device", "cpu", "-q"]) == 0  # the policy decides
    threads = sorted(
        json.loads(r.read_text())["settings"]["threads"] for r in (tmp_path / "moons.runs").glob("*/run.json")
    )
    assert all(isinstance(t, int) and t >= 1 for t in threads)
