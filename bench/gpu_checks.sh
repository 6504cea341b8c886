#!/usr/bin/env bash
# The CUDA checks, as one script for a machine with an NVIDIA GPU (a session lent one runs it once;
# CI has no GPU). From the repository root, with torch (CUDA build) installed and ModStudio's other
# needs importable (no Qt needed: nothing here opens a window):
#
#   bash bench/gpu_checks.sh [OUT_FOLDER]
#
# 1. the tests that take another path on a GPU (evaluate --device cuda against the CPU, the precheck);
# 2. headless training on CUDA (bf16 autocast where the GPU has it) of a CNN, a Switch transformer and a
#    hierarchical MoE, each then evaluated on CUDA and on the CPU (the same test accuracy) and, for the
#    MoEs, doctored;
# 3. the torchrun export trained by torchrun on one GPU (NCCL);
# 4. the benches with a CUDA path: bench/moe_gpu.py (tokens/s, MFU), bench/statistics_overhead.py.
# Each step has its own time limit and says PASS or FAIL; the last line counts the failures.
set -u
OUT_DIR="${1:-${OUT:-/tmp/gpu_checks}}"
mkdir -p "$OUT_DIR"
WORK="$(mktemp -d)"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
failures=0

step() {  # step NAME SECONDS COMMAND...: run it, keep its output in OUT_DIR/NAME.log, say how it went
    local name="$1" limit="$2"
    shift 2
    local started=$SECONDS
    if timeout "$limit" "$@" >"$OUT_DIR/$name.log" 2>&1; then
        echo "PASS $name ($((SECONDS - started)) s)"
    else
        echo "FAIL $name (exit $?, $((SECONDS - started)) s); its last lines:"
        failures=$((failures + 1))
    fi
    tail -n 6 "$OUT_DIR/$name.log" | sed 's/^/    /'
}

ms="python3 -m modstudio"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"

step tests 240 python3 -m pytest -q -p no:cacheprovider \
    tests/evaluation/test_device.py tests/engine/test_precheck.py tests/blocks/test_moe_gpu_bench.py

for template in cnn_digits switch_transformer hierarchical_moe; do
    cp "resources/templates/$template.msproj" "$WORK/"
    step "train_$template" 150 $ms train "$WORK/$template.msproj" --device cuda --epochs 3
    for device in cuda cpu; do
        step "evaluate_${template}_$device" 90 $ms evaluate "$WORK/$template.msproj" --run latest --device "$device" \
            --report "$WORK/$template-$device"
        cp "$WORK/$template-$device/evaluation.json" "$OUT_DIR/evaluation_${template}_$device.json" 2>/dev/null
    done
done
for template in switch_transformer hierarchical_moe; do
    # exit 1 (problems found) is an answer too; 2 (bad input) or a traceback fails the step
    step "doctor_$template" 60 bash -c "said=\$(python3 -m modstudio doctor '$WORK/$template.msproj' --run latest 2>&1)
        status=\$?; echo \"\$said\"; test \$status -le 1 && ! grep -q Traceback <<< \"\$said\""
done
step same_accuracy 30 python3 - "$OUT_DIR" <<'EOF'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
for template in ("cnn_digits", "switch_transformer", "hierarchical_moe"):
    runs = {d: json.loads((out / f"evaluation_{template}_{d}.json").read_text()) for d in ("cuda", "cpu")}
    accuracy = {d: r["accuracy"] for d, r in runs.items()}
    print(template, "on", runs["cuda"]["device"], "and", runs["cpu"]["device"], "accuracy", accuracy)
    assert runs["cuda"]["device"].startswith("cuda") and runs["cpu"]["device"] == "cpu"
    assert abs(accuracy["cuda"] - accuracy["cpu"]) <= 0.01, accuracy
EOF

step export_torchrun 60 $ms export "$WORK/switch_transformer.msproj" --format torchrun -o "$WORK/torchrun"
step torchrun_1gpu 180 bash -c "cd '$WORK/torchrun' && python3 -m torch.distributed.run --standalone --nproc_per_node=1 train.py --epochs 2"

step moe_gpu 240 python3 bench/moe_gpu.py --steps 10 --warmup 3
step statistics_overhead 180 python3 bench/statistics_overhead.py --device cuda --rounds 10

rm -rf "$WORK"
echo "failures: $failures"
