"""int8 on the CPU: dev F1 and tagging speed of dynamic int8 variants against float, on the same weights.

For each model, every variant is a copy of the float model with some linear layers quantized
(``albert_srl.tagging.quantize``); it tags the first N EWT dev sentences with their gold predicates.
F1 is the
span F1 of ``albert_srl.scorer``; speed is sentences/s of ``SRLTagger.tag`` on those sentences, the best
of ``--repeats`` timed runs after a warm-up, on ONE thread (``torch.set_num_threads(1)``), so a shared
machine's other work slows a run but seldom all of them.

Run by hand (never by CI), from the repository root:
    python benchmarks/int8.py MODEL_DIR [MODEL_DIR ...] [--dev-sentences 500] [--repeats 3]
                              [--only VARIANT ...] [--compare VARIANT]
Prints one markdown table per model. ``--compare`` measures speed alone: float and the variant tag in
turn, ``--repeats`` rounds, and the median of the rounds' speed-ups is printed.
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path

import torch
from torch import nn

from albert_srl.data import Sentence
from albert_srl.formats import read
from albert_srl.scorer import score
from albert_srl.tagging.quantize import quantizable, quantize_int8
from albert_srl.tagging.tagger import SRLTagger

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "corpora" / "ewt" / "dev.gold_conll.gz"

Names = Callable[[nn.Module], list[str]]


def every_linear(model: nn.Module) -> list[str]:
    """Every linear layer, the heads too (the issue's first probe)."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]


def encoder_but(*suffixes: str, top: int = 0) -> Names:
    return lambda model: quantizable(model, keep_float=suffixes, keep_top=top, lower_float=False)


def ffn_only(model: nn.Module) -> list[str]:
    """The feed-forward layers alone (two thirds of a layer's weights), attention in float."""
    names = quantizable(model, lower_float=False)
    return [n for n in names if n.endswith(("ffn", "ffn_output", "intermediate.dense"))]


# name -> (the linear layers quantized, per-channel weights, 8-bit activations (else torch's 7; None: 8
# where the CPU has VNNI, as quantize_int8 does by default))
VARIANTS: dict[str, tuple[Names, bool, bool | None]] = {
    "the default: the per-predicate (top) layers, per-channel, 8-bit activations, mapping float": (
        quantizable,
        True,
        None,
    ),
    "all linear, per-tensor": (every_linear, False, False),
    "all linear, per-channel": (every_linear, True, False),
    "encoder, per-tensor": (encoder_but(), False, False),
    "encoder, per-channel": (encoder_but(), True, False),
    "encoder, per-channel, 8-bit activations": (encoder_but(), True, True),
    "encoder, per-tensor, 8-bit activations": (encoder_but(), False, True),
    "all linear, per-channel, 8-bit activations": (every_linear, True, True),
    "encoder, per-channel, 8-bit activations, mapping float": (
        encoder_but("embedding_hidden_mapping_in"),
        True,
        True,
    ),
    "encoder, per-channel, 8-bit activations, top layer float": (encoder_but(top=1), True, True),
    "encoder, per-channel, 8-bit activations, mapping and FFN output float": (
        encoder_but("embedding_hidden_mapping_in", "ffn_output", "output.dense"),
        True,
        True,
    ),
    "encoder, per-channel, 8-bit activations, FFN output float": (
        encoder_but("ffn_output", "output.dense"),
        True,
        True,
    ),
    "encoder, per-channel, mapping float": (encoder_but("embedding_hidden_mapping_in"), True, False),
    "encoder, per-channel, top layer float": (encoder_but(top=1), True, False),
    "encoder, per-channel, top 2 layers float": (encoder_but(top=2), True, False),
    "encoder, per-channel, attention output float": (
        encoder_but("attention.dense", "output.dense"),
        True,
        False,
    ),
    "encoder, per-channel, FFN output float": (encoder_but("ffn_output", "output.dense"), True, False),
    "encoder FFNs only, per-channel": (ffn_only, True, False),
}


def speed(tagger: SRLTagger, sentences: list[Sentence], repeats: int) -> tuple[float, float]:
    """Best sentences/s of ``repeats`` timed ``tag`` calls with gold predicates, after a warm-up: by the
    wall clock, and by this process's CPU time (one thread: the work done, whatever else the machine
    runs meanwhile)."""
    words = [s.words for s in sentences]
    predicates = [[f.predicate.index for f in s.frames] for s in sentences]
    tagger.tag(words[:32], predicates=predicates[:32])
    wall = cpu = 0.0
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        tagger.tag(words, predicates=predicates)
        cpu = max(cpu, len(words) / (time.process_time() - cpu_started))
        wall = max(wall, len(words) / (time.perf_counter() - started))
    return wall, cpu


def f1(tagger: SRLTagger, gold: list[Sentence]) -> float:
    return score(gold, list(tagger.tag_conll(gold, gold_predicates=True))).f1


def measure(path: str, dev: list[Sentence], variants: list[str], repeats: int) -> None:
    base = SRLTagger.from_pretrained(path, device="cpu")
    config = base.config
    print(
        f"\n{path}: fusion_layers {config.fusion_layers}, {len(dev)} dev sentences (gold predicates), "
        f"1 thread, best of {repeats}; load average {os.getloadavg()[0]:.1f} at the start\n"
    )
    print("| variant | linear layers int8 | dev F1 | ΔF1 | sent/s (wall) | sent/s (CPU) | x float (CPU) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    float_f1 = f1(base, dev)
    float_wall, float_cpu = speed(base, dev, repeats)
    total = len(every_linear(base.model))
    print(
        f"| float | 0 / {total} | {float_f1:.2f} | | {float_wall:.1f} | {float_cpu:.1f} | 1.00 |", flush=True
    )
    for name in variants:
        names, per_channel, full_range = VARIANTS[name]
        tagger = copy.deepcopy(base)
        quantized = quantize_int8(
            tagger.model, names(tagger.model), per_channel=per_channel, full_range=full_range
        )
        score_ = f1(tagger, dev)
        wall, cpu = speed(tagger, dev, repeats)
        print(
            f"| {name} | {len(quantized)} / {total} | {score_:.2f} | {score_ - float_f1:+.2f} | "
            f"{wall:.1f} | {cpu:.1f} | {cpu / float_cpu:.2f} |",
            flush=True,
        )
    wall, cpu = speed(base, dev, repeats)
    print(
        f"\nfloat again at the end: {wall:.1f} sent/s wall, {cpu:.1f} CPU "
        f"(load average {os.getloadavg()[0]:.1f})",
        flush=True,
    )


def compare(path: str, dev: list[Sentence], name: str, rounds: int) -> None:
    """Float and one variant tagging in turn, ``rounds`` times each: the speed-up of each round and their
    median (a shared machine slows both sides of a round alike)."""
    base = SRLTagger.from_pretrained(path, device="cpu")
    names, per_channel, full_range = VARIANTS[name]
    int8 = copy.deepcopy(base)
    quantize_int8(int8.model, names(int8.model), per_channel=per_channel, full_range=full_range)
    print(f"\n{path}: float against {name!r}, {len(dev)} dev sentences, {rounds} rounds, 1 thread\n")
    print("| round | float sent/s (wall / CPU) | int8 sent/s (wall / CPU) | x (wall / CPU) |")
    print("| ---: | ---: | ---: | ---: |")
    ratios: list[tuple[float, float]] = []
    for k in range(rounds):
        (fw, fc), (qw, qc) = speed(base, dev, 1), speed(int8, dev, 1)
        ratios.append((qw / fw, qc / fc))
        print(
            f"| {k + 1} | {fw:.1f} / {fc:.1f} | {qw:.1f} / {qc:.1f} | {qw / fw:.2f} / {qc / fc:.2f} |",
            flush=True,
        )
    wall, cpu = (statistics.median(r[i] for r in ratios) for i in (0, 1))
    print(f"\nmedian speed-up: {wall:.2f}x wall, {cpu:.2f}x CPU (load average {os.getloadavg()[0]:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", nargs="+", help="model directories")
    parser.add_argument("--dev", default=str(DEV))
    parser.add_argument("--dev-sentences", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="*", choices=list(VARIANTS), help="these variants (default: all)")
    parser.add_argument(
        "--compare",
        choices=list(VARIANTS),
        help="instead of the table: float and this variant in turn, --repeats rounds (speed only)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(1)
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.machine()}, "
        f"{os.cpu_count()} cores; torch {torch.__version__}, quantized engine "
        f"{torch.backends.quantized.engine}, CPU capability {torch.backends.cpu.get_cpu_capability()}"
    )
    dev = list(islice(read(args.dev), args.dev_sentences))
    for path in args.models:
        if args.compare:
            compare(path, dev, args.compare, args.repeats)
        else:
            measure(path, dev, args.only or list(VARIANTS), args.repeats)


if __name__ == "__main__":
    main()
