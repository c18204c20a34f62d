"""Ablations on EWT dev at one fixed (reduced) training budget: predicate awareness, CRF vs softmax,
model size, and a random vs a pretrained encoder. Every row trains with the same data, seed, epochs and
learning rates; only the named setting changes. Prints one table (best dev epoch of each run).

Run by hand (never by CI), from the repository root:
    python benchmarks/ablations.py [--train-sentences N] [--dev-sentences N] [--epochs N]
                                   [--pretrained DIR] [--only NAME ...] [--threads N]
                                   [--row "NAME=KEY=VALUE KEY=VALUE"] [--seeds 13 14]
                                   [--config configs/ewt-minilm.yaml]
Each run writes runs/ablations/<name>[-s<seed>]; a finished run (metrics for every epoch) is read, not
retrained (remove its directory to retrain). With several seeds a row shows the mean and, in brackets,
the spread (max - min) of its dev F1.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import statistics
import time
from itertools import islice
from pathlib import Path

from albert_srl.config import load_config
from albert_srl.data import Sentence
from albert_srl.formats import read
from albert_srl.scorer import score
from albert_srl.tagging.frames import copy_gold_lemmas
from albert_srl.tagging.tagger import SRLTagger
from albert_srl.training import train

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "corpora"
SMALL = ["encoder.hidden_size=128", "encoder.intermediate_size=512", "encoder.num_attention_heads=2"]
RUNS: dict[str, list[str]] = {
    "segment + crf (H256)": [],
    "pair + crf": ["predicate_awareness=pair"],
    "indicator + crf": ["predicate_awareness=indicator"],
    "segment + softmax": ["head=softmax"],
    "segment + crf, H128": SMALL,
}


def run_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")


def train_once(name: str, overrides: list[str], args: argparse.Namespace, seed: int) -> dict[str, float]:
    suffix = "" if seed == 13 else f"-s{seed}"
    output = ROOT / "runs" / "ablations" / f"{run_name(name)}{suffix}"
    metrics_path = output / "metrics.jsonl"
    if not (metrics_path.exists() and len(metrics_path.read_text().splitlines()) >= args.epochs):
        settings = [
            f"output_dir={output}",
            f"max_train_sentences={args.train_sentences}",
            f"max_dev_sentences={args.dev_sentences}",
            f"epochs={args.epochs}",
            f"patience={args.epochs}",
            f"num_threads={args.threads}",
            "checkpoint_every=null",
            f"seed={seed}",
            *args.set,
            *overrides,
        ]
        started = time.perf_counter()
        train(load_config(args.config, settings))
        (output / "seconds.txt").write_text(f"{time.perf_counter() - started:.0f}\n")
    records = [json.loads(line) for line in metrics_path.read_text().splitlines()]
    best = max(records, key=lambda r: r["f1"])
    best["seconds"] = float((output / "seconds.txt").read_text())
    tagger = SRLTagger.from_pretrained(output / "best", device="cpu")
    dev = list(islice(read(args.dev), args.dev_sentences))
    best["tag_speed"] = tagging_speed(tagger, dev)
    best["end_to_end_f1"] = end_to_end_f1(tagger, dev)
    best["parameters"] = sum(p.numel() for p in tagger.model.parameters())
    return best


def end_to_end_f1(tagger: SRLTagger, gold: list[Sentence]) -> float:
    """Span F1 on the dev subset with the predicates the model finds itself (gold lemmas copied onto
    predicates found at a gold predicate's word, as ``dev_scores.py`` does)."""
    predicted = list(tagger.tag_conll(gold, gold_predicates=False))
    for g, p in zip(gold, predicted, strict=True):
        copy_gold_lemmas(g, p)
    return score(gold, predicted).f1


def tagging_speed(tagger: SRLTagger, sentences: list[Sentence]) -> float:
    """Sentences/s of the batched tagger on the dev subset with gold predicates (CPU, one process)."""
    words = [s.words for s in sentences]
    predicates = [[f.predicate.index for f in s.frames] for s in sentences]
    tagger.tag(words[:32], predicates=predicates[:32])  # warm-up
    started = time.perf_counter()
    tagger.tag(words, predicates=predicates)
    return len(words) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train-sentences", type=int, default=2000)
    parser.add_argument("--dev-sentences", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--config", default=str(ROOT / "configs" / "ewt.yaml"), help="base training config")
    parser.add_argument(
        "--dev", default=str(ROOT.parent / "shared" / "corpora" / "ewt" / "dev.gold_conll.gz")
    )
    parser.add_argument("--pretrained", help="a pretrained ALBERT directory: adds a 'pretrained encoder' row")
    parser.add_argument("--only", nargs="*", help="run only these rows (names as in the table)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides for every run")
    parser.add_argument(
        "--row", action="append", default=[], metavar="NAME=OVERRIDES", help="an extra row: its overrides"
    )
    parser.add_argument("--seeds", nargs="*", type=int, default=[13], help="train every row with each seed")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    runs = dict(RUNS)
    if args.pretrained:
        runs["segment + crf, pretrained encoder"] = [f"encoder.pretrained={args.pretrained}"]
    for row in args.row:
        name, _, overrides = row.partition("=")
        runs[name] = overrides.split()
    if args.only:
        runs = {name: runs[name] for name in args.only}
    print(
        f"EWT train: first {args.train_sentences} sentences, {args.epochs} epochs; "
        f"dev: first {args.dev_sentences} sentences (gold predicates); "
        f"overrides: {' '.join(args.set) or 'none'}\n"
    )
    print(
        "| run | parameters | dev P | dev R | dev F1 | end-to-end F1 | sense acc. | pred. id F1 | train s |"
        " tag sent/s |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, overrides in runs.items():
        seeds = [train_once(name, overrides, args, seed) for seed in args.seeds]
        m = {key: statistics.mean(s[key] for s in seeds) for key in seeds[0] if key != "epoch"}
        f1s = [s["f1"] for s in seeds]
        spread = f" ({max(f1s) - min(f1s):.2f})" if len(seeds) > 1 else ""
        print(
            f"| {name} | {m['parameters'] / 1e6:.2f} M | {m['precision']:.2f} | {m['recall']:.2f} | "
            f"{m['f1']:.2f}{spread} | {m['end_to_end_f1']:.2f} | {m['sense_accuracy']:.2f} | "
            f"{m.get('predicate_f1', 0):.2f} | "
            f"{m['seconds']:.0f} | {m['tag_speed']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
