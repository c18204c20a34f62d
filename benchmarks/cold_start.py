"""Cold start of the command line: the wall and CPU time of ``echo SENTENCE | albert-srl tag``.

Runs the command ``--runs`` times in fresh processes and prints the minimum and median wall time and
CPU time (user + system). On a shared machine the minimum is the figure to compare: other jobs only ever
add time. ``--root DIR`` runs the package found in DIR (e.g. an older checkout) instead of this one;
given more than once, runs alternate between the checkouts, and the output must be the same.

    python benchmarks/cold_start.py --runs 7
    python benchmarks/cold_start.py --runs 7 --root /tmp/before --root .
    python benchmarks/cold_start.py --sentence "The committee rescinded the budget."  # a rarer predicate
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


def run_once(root: Path, sentence: str = SENTENCE) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system of the child) and the output of one cold run."""
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "")}
    env = {k: v for k, v in env.items() if v}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "albert_srl.cli", "tag"],
        input=sentence + "\n",
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
    parser.add_argument(
        "--root",
        type=Path,
        action="append",
        help="a checkout to run (repeatable: runs alternate between them); default: this one",
    )
    parser.add_argument("--sentence", default=SENTENCE, help=f"the text tagged (default: {SENTENCE!r})")
    args = parser.parse_args()
    roots = [root.resolve() for root in args.root or [Path(__file__).resolve().parents[1]]]
    walls: dict[Path, list[float]] = {root: [] for root in roots}
    cpus: dict[Path, list[float]] = {root: [] for root in roots}
    outputs: set[str] = set()
    for _ in range(args.runs):
        for root in roots:  # alternating, so that a change in the machine's load hits every root alike
            wall, cpu, out = run_once(root, args.sentence)
            walls[root].append(wall)
            cpus[root].append(cpu)
            outputs.add(out)
    print(f"{args.runs} runs each, load average at the end: {os.getloadavg()[0]:.1f}")
    for root in roots:
        shown = sorted(round(w, 2) for w in walls[root])
        median = statistics.median(walls[root])
        print(f"{root}: wall s min {min(walls[root]):.2f} median {median:.2f} {shown}")
        print(f"{root}: cpu s  min {min(cpus[root]):.2f} median {statistics.median(cpus[root]):.2f}")
    if len(outputs) != 1:
        print("WARNING: the runs printed different output")
    print(next(iter(outputs)), end="")


if __name__ == "__main__":
    main()
