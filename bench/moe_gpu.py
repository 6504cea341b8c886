"""MoE training step on a GPU (issue 18): bf16 autocast, the router in fp32, tokens/s and MFU.

Builds a stack of ModStudio ``MixtureOfExperts`` layers (the layer the engine trains: sorted
dispatch, Mixtral-sized experts Linear(d, h)-GELU-Linear(h, d), top-k gate) and times whole
training steps: forward under ``torch.autocast("cuda", torch.bfloat16)`` with each router's
matmul and softmax kept in fp32 (autocast off around it, as Switch does), the auxiliary
losses, backward, and a fused AdamW step over fp32 master weights. The default size fills a
large GPU (tokens per step chosen from the device's memory); every size is a flag.

Model FLOPs per step = 3 x (forward FLOPs): per token and layer, k experts x 2 matmuls x 2·d·h
plus the router's 2·d·E (attention-free, so nothing else). MFU = model FLOPs per second /
the device's dense bf16 peak, from the table ``PEAK_TFLOPS`` by device name (``--peak`` for
another device). Timed with CUDA events after warm-up steps; medians over ``--steps``.

Without CUDA it says so and exits 0 (``--smoke`` runs a tiny step on the CPU instead, which
checks the script, not a speed). The last line is ``mfu: X`` (a fraction of the peak).

    python bench/moe_gpu.py [--tokens N] [--dim 4096] [--hidden 14336] [--experts 8] [--k 2]
                            [--layers 2] [--steps 10] [--warmup 3] [--peak TFLOPS] [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from torch import nn

from modstudio.blocks.layers.moe import MixtureOfExperts

# Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s, from the vendors' data sheets (SXM
# parts where there are several); the first name found in the device's name wins.
PEAK_TFLOPS = (
    ("GB200", 2500.0),
    ("B200", 2250.0),
    ("H200", 989.0),
    ("GH200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),
    ("H800", 989.0),
    ("A100", 312.0),
    ("A800", 312.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("A10", 125.0),
    ("RTX 4090", 165.0),
    ("RTX 3090", 71.0),
)


def peak_tflops(device_name: str) -> float | None:
    """The dense bf16 peak of a device by its name (``torch.cuda.get_device_name``), or None."""
    return next((peak for name, peak in PEAK_TFLOPS if name in device_name), None)


def step_flops(tokens: int, dim: int, hidden: int, experts: int, k: int, layers: int) -> float:
    """Model FLOPs of one training step (forward + backward = 3 x forward)."""
    per_token = k * 2 * (2 * dim * hidden) + 2 * dim * experts
    return 3.0 * tokens * per_token * layers


class Fp32Router(nn.Linear):
    """The router: its matmul runs in fp32 under autocast (parameter names as nn.Linear's)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x.float())


def build(dim: int, hidden: int, experts: int, k: int, layers: int, device: torch.device) -> nn.Module:
    blocks = []
    for _ in range(layers):
        moe = MixtureOfExperts(
            dim,
            [nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)) for _ in range(experts)],
            gate="topk",
            k=k,
        )
        router = Fp32Router(dim, experts, bias=False)
        router.load_state_dict(moe.router.state_dict())
        moe.router = router
        blocks.append(moe)
    return nn.Sequential(*blocks).to(device)


def default_tokens(device: torch.device, model: nn.Module, dim: int, hidden: int, k: int, layers: int) -> int:
    """Tokens per step (a power of two, 1024 to 65536) whose activations take about half the
    memory left once the model, its gradients and AdamW's two moments are in place."""
    free, _ = torch.cuda.mem_get_info(device)
    free -= 3 * sum(p.numel() * p.element_size() for p in model.parameters())  # grads + 2 moments, not yet there
    per_token = layers * (k * (4 * hidden + 12 * dim) + 16 * dim)  # bytes kept for the backward, roughly
    tokens = max(int(free * 0.5 / per_token), 1024)
    return min(65536, 1 << (tokens.bit_length() - 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=0, help="tokens per step (0: from the device's memory)")
    parser.add_argument("--dim", type=int, default=4096)
    parser.add_argument("--hidden", type=int, default=14336)
    parser.add_argument("--experts", type=int, default=8)
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--peak", type=float, default=0.0, help="the device's dense bf16 peak in TFLOP/s")
    parser.add_argument("--smoke", action="store_true", help="without CUDA: a tiny step on the CPU (checks the script)")
    args = parser.parse_args()
    if not torch.cuda.is_available() and not args.smoke:
        print("no CUDA device: this benchmark times a bf16 MoE training step on a GPU; nothing to measure here")
        return 0
    if args.smoke and not torch.cuda.is_available():
        device, name = torch.device("cpu"), "cpu (smoke run)"
        args.tokens, args.dim, args.hidden, args.experts, args.layers, args.steps, args.warmup = 64, 16, 32, 4, 1, 1, 1
    else:
        device, name = torch.device("cuda"), torch.cuda.get_device_name()
        torch.backends.cuda.matmul.allow_tf32 = True  # the fp32 router's matmul
    torch.manual_seed(0)
    model = build(args.dim, args.hidden, args.experts, args.k, args.layers, device)
    tokens = args.tokens or default_tokens(device, model, args.dim, args.hidden, args.k, args.layers)
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    x = torch.randn(tokens, args.dim, device=device)
    target = torch.randn(tokens, args.dim, device=device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            out = model(x)
            loss = (out.float() - target).square().mean()
            for moe in model:
                loss = loss + sum(moe.aux_losses.values())
        loss.backward()
        optimizer.step()

    print(f"torch {torch.__version__}; {name}")
    print(
        f"{args.layers} MoE layer(s): {args.experts} experts Linear({args.dim}, {args.hidden})-GELU-Linear, "
        f"top-{args.k}, {params / 1e9:.2f} G parameters; {tokens} tokens per step; bf16 autocast, router fp32"
    )
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        times.append(timed(step, device))
    seconds = statistics.median(times)
    flops = step_flops(tokens, args.dim, args.hidden, args.experts, args.k, args.layers)
    peak = args.peak or (peak_tflops(name) if device.type == "cuda" else None)
    memory = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
    print(f"step {seconds * 1e3:.1f} ms (median of {args.steps}); {tokens / seconds:,.0f} tokens/s")
    print(f"model FLOPs {flops / 1e12:.2f} TFLOP per step; {flops / seconds / 1e12:.1f} TFLOP/s achieved")
    if device.type == "cuda":
        print(f"peak memory {memory:.1f} GiB")
    if peak is None:
        print("the device's bf16 peak is not known: give it with --peak TFLOPS for the MFU")
        return 0
    mfu = flops / seconds / (peak * 1e12)
    print(f"peak {peak:.0f} TFLOP/s (dense bf16)")
    print(f"mfu: {mfu:.3f}")
    return 0


def timed(step, device: torch.device) -> float:
    """Seconds of one step (CUDA events on the GPU)."""
    if device.type != "cuda":
        start = time.perf_counter()
        step()
        return time.perf_counter() - start
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    begin.record()
    step()
    end.record()
    torch.cuda.synchronize()
    return begin.elapsed_time(end) / 1e3


if __name__ == "__main__":
    sys.exit(main())
