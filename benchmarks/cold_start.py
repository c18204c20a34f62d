"""Cold start of the command line: the wall and CPU time of ``echo SENTENCE | albert-srl tag``.

Runs the command ``--runs`` times in fresh processes (alternating with nothing else) and prints the
minimum and median wall time and the minimum CPU time (user + system) of each. On a shared machine the
minimum is the figure to compare: other jobs only ever add time. ``--root DIR`` runs the package found in
DIR (e.g. an older checkout) instead of this one.

    python benchmarks/cold_start.py --runs 7
    python -X importtime -m albert_srl.cli tag <<< "The committee approved the new budget on Tuesday." \\
        2> importtime.txt   # where the import time goes
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SENTENCE = "The committee approved the new budget on Tuesday."


def run_once(root: Path) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system of the child) and the output of one cold run."""
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "")}
    env = {k: v for k, v in env.items() if v}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "albert_srl.cli", "tag"],
        input=SENTENCE + "\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        check=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args()
    walls, cpus, outputs = [], [], set()
    for _ in range(args.runs):
        wall, cpu, out = run_once(args.root.resolve())
        walls.append(wall)
        cpus.append(cpu)
        outputs.add(out)
    print(f"root: {args.root}  runs: {args.runs}  load average: {os.getloadavg()[0]:.1f}")
    shown = sorted(round(w, 2) for w in walls)
    print(f"wall s: min {min(walls):.2f}  median {statistics.median(walls):.2f}  all {shown}")
    print(f"cpu s:  min {min(cpus):.2f}  median {statistics.median(cpus):.2f}")
    if len(outputs) != 1:
        print("WARNING: the runs printed different output")
    print(next(iter(outputs)), end="")


if __name__ == "__main__":
    main()
