"""bench/moe_gpu.py: without CUDA it says so and exits 0; its FLOP count and peak table; its
router stays fp32 under bf16 autocast; a tiny step runs on the CPU (``--smoke``)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import torch

from tests.environment import python_path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "moe_gpu.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", PYTHONPATH=python_path(ROOT))
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=120, cwd=ROOT
    )


def bench():
    spec = importlib.util.spec_from_file_location("moe_gpu_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_cuda_it_says_so_and_exits_0() -> None:
    done = run()
    assert done.returncode == 0, done.stderr
    assert "no CUDA device" in done.stdout and "Traceback" not in done.stderr


def test_a_smoke_step_runs_on_the_cpu() -> None:
    done = run("--smoke")
    assert done.returncode == 0, done.stderr
    assert "tokens/s" in done.stdout and "--peak" in done.stdout  # no peak for a CPU: it says how to give one


def test_flops_peaks_and_the_fp32_router() -> None:
    module = bench()
    assert module.peak_tflops("NVIDIA H200") == 989.0
    assert module.peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert module.peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert module.peak_tflops("Some GPU") is None
    # one token, one layer, top-1 of 1 expert: 2 matmuls of 2·d·h and the router's 2·d·E, forward and backward
    assert module.step_flops(1, 4, 8, 1, 1, 1) == 3 * (2 * 2 * 4 * 8 + 2 * 4 * 1)
    model = module.build(8, 16, 4, 2, 1, torch.device("cpu"))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert model[0].router(torch.randn(3, 8)).dtype == torch.float32
        assert model[0].experts[0](torch.randn(3, 8)).dtype == torch.bfloat16
