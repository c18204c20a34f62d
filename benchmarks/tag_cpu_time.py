"""Tagging's time, one checkout against another, alternating: the comparison that holds on a shared
machine whose wall times drift by more than the code differs.

Run by hand (never by CI):
    OMP_NUM_THREADS=1 python benchmarks/tag_cpu_time.py [--mode gold|predicted] [--limit 400] [--passes 3]
                                                          [--dev PATH] [--model DIR] [--linear] [--crf]
    python benchmarks/tag_cpu_time.py --root BEFORE --root AFTER --rounds 8 --passes 5 --threads 2 \
        --clock wall --model DIR
Times ``SRLTagger.tag`` on the first ``--limit`` EWT dev sentences over ``--passes`` passes after a
warm-up, with ``time.process_time`` (``--clock cpu``, the default: waiting for a core does not count) or
the wall clock, on ``--threads`` torch threads (default 1), and prints their median. ``--linear`` adds
one instrumented pass: every linear map's calls, multiply-adds and wall time by weight shape, so that two
encoders can be shown to do the same work; ``--crf`` one pass with the CPU time of the CRF's Viterbi
(``decode``) and of its forward algorithm (the tagged paths' probabilities, where the code has them).
``--root DIR``, given twice or more, runs the package in each DIR in turn (a fresh process each, this
Python; every other round in reverse order), ``--rounds`` times, and prints each root's median and
minimum over all its passes and the median of the rounds' ratios to the first root. Uses only
``SRLTagger`` and ``formats.read``, so an older checkout runs it too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from albert_srl import SRLTagger
from albert_srl.formats import read

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "ewt" / "dev.gold_conll.gz"


def linear_work(tag: Any) -> dict[tuple[int, ...], list[float]]:
    """Per weight shape: calls, multiply-adds and wall seconds of ``F.linear`` during ``tag()``."""
    work: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    real = F.linear

    def counted(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        start = time.perf_counter()
        out = real(x, weight, bias)
        row = work[tuple(weight.shape)]
        row[0] += 1
        row[1] += x.numel() // x.shape[-1] * weight.shape[0] * weight.shape[1]
        row[2] += time.perf_counter() - start
        return out

    F.linear = counted  # type: ignore[assignment]
    try:
        tag()
    finally:
        F.linear = real
    return work


def crf_time(tag: Any, crf: torch.nn.Module) -> dict[str, float]:
    """CPU seconds of the CRF's ``decode`` and ``forward`` during ``tag()``."""
    spent = {"decode": 0.0, "forward": 0.0}
    kind = type(crf)
    real = {name: getattr(kind, name) for name in spent}

    def timed(name: str) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            start = time.process_time()
            out = real[name](*args, **kwargs)
            spent[name] += time.process_time() - start
            return out

        return run

    for name in spent:
        setattr(kind, name, timed(name))
    try:
        tag()
    finally:
        for name, function in real.items():
            setattr(kind, name, function)
    return spent


def alternate(args: argparse.Namespace) -> None:
    """Each root's passes in fresh processes, the roots in turn (reversed every other round), ``--rounds``
    times; the summary."""
    roots = [str(Path(root).resolve()) for root in args.root]
    child = [sys.executable, str(Path(__file__).resolve()), "--json", "--mode", args.mode]
    child += ["--limit", str(args.limit), "--passes", str(args.passes), "--dev", args.dev]
    child += ["--threads", str(args.threads), "--clock", args.clock]
    child += ["--model", args.model] if args.model else []
    passes: dict[str, list[list[float]]] = {root: [] for root in roots}
    for round_ in range(args.rounds):
        # Every other round in reverse order, so that whatever favours a place in the order (the first
        # process after a pause, the cache the one before left) falls on each root alike.
        for root in roots if round_ % 2 == 0 else roots[::-1]:
            env = {**os.environ, "PYTHONPATH": root}
            done = subprocess.run(child, env=env, cwd=root, capture_output=True, text=True, check=True)
            passes[root].append(json.loads(done.stdout))
    first = passes[roots[0]]
    print(
        f"{args.mode}, {args.limit} sentences, {args.threads} threads, {args.clock} clock, "
        f"{args.rounds} rounds of {args.passes} passes"
    )
    for root, rounds in passes.items():
        every = [seconds for one in rounds for seconds in one]
        ratios = [
            statistics.median(one) / statistics.median(base) for one, base in zip(rounds, first, strict=True)
        ]
        print(
            f"{root}: median {statistics.median(every):.3f} s, min {min(every):.3f} s, "
            f"median ratio to the first {statistics.median(ratios):.3f} "
            f"(rounds {', '.join(f'{r:.3f}' for r in ratios)})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["gold", "predicted"], default="gold")
    parser.add_argument("--limit", type=int, default=400)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--dev", default=str(SHARED))
    parser.add_argument("--model", help="model directory (default: the checkout's shipped model)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    parser.add_argument("--root", action="append", default=[], help="a checkout to run, alternating")
    parser.add_argument("--rounds", type=int, default=5, help="with --root: runs of each root, in turn")
    parser.add_argument("--json", action="store_true", help="print the passes' seconds as JSON only")
    parser.add_argument("--linear", action="store_true", help="also one instrumented pass of the linear maps")
    parser.add_argument(
        "--crf", action="store_true", help="also one pass timing the CRF's decode and forward"
    )
    args = parser.parse_args()
    if args.root:
        alternate(args)
        return
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    gold = list(read(args.dev))[: args.limit]
    words = [sentence.words for sentence in gold]
    predicates = [[f.predicate.index for f in s.frames] for s in gold] if args.mode == "gold" else None
    tagger = SRLTagger.from_pretrained(args.model)

    def tag() -> None:
        tagger.tag(words, predicates)

    tag()  # warm-up
    seconds = []
    for _ in range(args.passes):
        start = clock()
        tag()
        seconds.append(clock() - start)
    if args.json:
        print(json.dumps(seconds))
        return
    print(
        f"{args.mode}: {len(words)} sentences, {args.clock} s median {statistics.median(seconds):.3f}",
        seconds,
    )
    if args.linear:
        for shape, (calls, macs, wall) in sorted(linear_work(tag).items(), key=lambda kv: -kv[1][2]):
            print(f"linear {shape}: {int(calls)} calls, {macs / 1e9:.2f} G multiply-adds, {wall:.3f} s")
    if args.crf and tagger.model.crf is not None:  # a softmax head has no CRF
        spent = crf_time(tag, tagger.model.crf)
        print(f"CRF: decode {spent['decode']:.3f} s, forward {spent['forward']:.3f} s of CPU")


if __name__ == "__main__":
    main()
