"""Commands with a plugin whose import never ends, and the memory refusal of a huge network.

    python bench/late_plugins.py [ROUNDS]

Each round runs, in fresh subprocesses, with a plugin folder holding ``spin.py``
(``while True: pass``):

1. ``modstudio --version`` (goal: under 1 s; plugins are not loaded) against the baseline
   ``python -c pass``, measured the same way in the same run;
2. ``modstudio validate`` of mlp_2d with the time limit at 1 s, against the same command with
   no plugin: the extra time is about the limit (the plugin is reported and skipped);
3. ``modstudio export`` of a 10^12-parameter MLP: refused before allocating (exit 2).

The last line is ``version seconds: X`` (median of 1).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(args: list[str], env: dict[str, str], expect: int = 0) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    seconds = time.perf_counter() - started
    if done.returncode != expect:
        raise SystemExit(f"{' '.join(args)} exited {done.returncode}: {done.stderr}")
    return seconds


def main() -> None:
    from modstudio.graph.io import save_project
    from tests.compile.test_memory import huge_mlp

    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as tmp:
        folder, empty = Path(tmp) / "plugins", Path(tmp) / "none"
        folder.mkdir()
        empty.mkdir()
        (folder / "spin.py").write_text("while True:\n    pass\n")
        huge = Path(tmp) / "huge.msproj"
        save_project(huge_mlp(), huge)
        base = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": tmp, "MODSTUDIO_PLUGIN_TIME_LIMIT": "1"}
        spinning = {**base, "MODSTUDIO_PLUGIN_PATH": str(folder)}
        clean = {**base, "MODSTUDIO_PLUGIN_PATH": str(empty)}
        python, cli = [sys.executable], [sys.executable, "-m", "modstudio"]
        project = str(ROOT / "resources/templates/mlp_2d.msproj")
        out = str(Path(tmp) / "huge.py")
        rows: dict[str, list[float]] = {k: [] for k in ("bare", "version", "validate", "plain", "refusal")}
        for _ in range(rounds):
            rows["bare"].append(timed([*python, "-c", "pass"], base))
            rows["version"].append(timed([*cli, "--version"], spinning))
            rows["validate"].append(timed([*cli, "validate", project], spinning))
            rows["plain"].append(timed([*cli, "validate", project], clean))
            rows["refusal"].append(timed([*cli, "export", str(huge), "--format", "python", "-o", out], clean, 2))
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"python -c pass:                           {med['bare']:.3f} s")
    print(f"--version, looping plugin installed:      {med['version']:.3f} s ({med['version'] / med['bare']:.2f}x)")
    print(f"validate, looping plugin (limit 1 s):     {med['validate']:.3f} s")
    print(
        f"validate, no plugin:                      {med['plain']:.3f} s (extra {med['validate'] - med['plain']:.2f} s)"
    )
    print(f"export of 10^12 parameters, refused:      {med['refusal']:.3f} s")
    print(f"version seconds: {med['version']:.3f}")


if __name__ == "__main__":
    main()
