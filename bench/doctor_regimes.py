"""The MoE doctor end to end on the regimes data, through the command line:

    python bench/doctor_regimes.py [EPOCHS] [SEED] [ROUNDS]

1. a collapsed run: the moe_2d template widened to 8 sectors and 8 experts (hidden 64, Switch gate,
   capacity factor 8 so capacity does not balance it), load-balance weight 0, no noise;
   ``modstudio train``;
2. ``modstudio doctor`` on it: it must find collapse (exit 1); its suggested fix is applied with
   ``modstudio doctor --apply N.1 -o fixed.msproj`` (one edit of the project);
3. ``modstudio train fixed.msproj``;
   with ROUNDS > 1, the doctor reads each new run and its next suggested fix is applied and trained;
4. each run's test accuracy and loss and routing NMI (region x expert on the test split,
   ``engine/routing.normalized_mutual_information``), and the experts each run uses.

The last line is ``nmi_ratio: X`` (the last fixed run's NMI over the collapsed run's).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def modstudio(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "modstudio", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if check and done.returncode != 0:
        raise SystemExit(f"modstudio {' '.join(args)} failed ({done.returncode}):\n{done.stderr}{done.stdout}")
    return done


def collapsed_project(folder: Path, epochs: int, seed: int) -> Path:
    file = folder / "collapsed.msproj"
    modstudio("new", "--template", "moe_2d", "-o", str(file))
    project = json.loads(file.read_text())
    for node in project["modules"]["main"]["nodes"]:
        if node["block"] == "moe":
            node["params"].update(num_experts=8, capacity_factor=8.0, load_balance_weight=0.0)
    for node in project["modules"]["Expert"]["nodes"]:
        if node["name"] == "fc1":
            node["params"]["out_features"] = 64
    project["data"]["options"]["regions"] = 8
    project["training"].update(epochs=epochs, seed=seed)
    file.write_text(json.dumps(project, indent=1))
    return file


def train(file: Path) -> dict:
    modstudio("train", str(file), "-q")
    run = sorted((file.parent / f"{file.stem}.runs").iterdir())[-1]
    summary = json.loads((run / "run.json").read_text())
    routing = [json.loads(line) for line in (run / "routing.jsonl").read_text().splitlines() if line.strip()]
    test = [r for r in routing if r.get("kind") == "test"]
    load = test[-1]["probes"]["moe"]["tokens_per_expert"] if test else []
    return {
        "run": run,
        "accuracy": summary["test_accuracy"],
        "loss": summary["test_loss"],
        "nmi": summary["routing_nmi"]["moe"],
        "experts used": sum(1 for v in load if v > 0),
    }


def main() -> None:
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 1  # more: apply the next suggested fix and train again
    with tempfile.TemporaryDirectory() as tmp:
        file = collapsed_project(Path(tmp), epochs, seed)
        rows = [("collapsed", train(file))]
        for number in range(1, rounds + 1):
            run = rows[-1][1]["run"]
            diagnosis = modstudio("doctor", str(file), "--run", str(run), "--no-sequences", check=False)
            print(diagnosis.stdout)
            found = json.loads(
                modstudio("doctor", str(file), "--run", str(run), "--json", "--no-sequences", check=False).stdout
            )
            kinds = [d["kind"] for d in found["diagnoses"]]
            if number == 1 and (diagnosis.returncode != 1 or "collapse" not in kinds):
                raise SystemExit(f"the doctor did not find collapse (exit {diagnosis.returncode}, found {kinds})")
            if not kinds:
                break
            first = kinds.index("collapse") + 1 if "collapse" in kinds else 1
            fixed = Path(tmp) / f"fixed{number}.msproj"
            applied = modstudio("doctor", str(file), "--run", str(run), "--apply", f"{first}.1",
                                "-o", str(fixed), "--no-sequences", check=False)  # fmt: skip
            print(applied.stdout.splitlines()[-1] if applied.returncode != 2 else applied.stderr)
            file = fixed
            rows.append((f"fixed {number}", train(file)))
        last = modstudio("doctor", str(file), "--run", str(rows[-1][1]["run"]), "--no-sequences", check=False)
        print(last.stdout)
        print(f"{'run':<10} {'test acc':>9} {'test loss':>10} {'NMI':>6} {'experts used':>13}")
        for name, row in rows:
            print(
                f"{name:<10} {row['accuracy']:>9.4f} {row['loss']:>10.4f} {row['nmi']:>6.3f} {row['experts used']:>10}/8"
            )
        print(f"nmi_ratio: {rows[-1][1]['nmi'] / max(rows[0][1]['nmi'], 1e-9):.3f}")


if __name__ == "__main__":
    main()
