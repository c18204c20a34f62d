"""Tagging speed on EWT dev: our batched ``SRLTagger.tag`` against a per-sentence, per-predicate loop in
the style of the archived AllenNLP predictor (one forward pass per predicate), same weights, same machine;
and, side by side in the same run, other models (``--compare NAME=DIR``: an early-fusion model of the
same encoder, the previous shipped model).

Run by hand (never by CI):
    python benchmarks/tag_speed.py [--model DIR] [--dev PATH] [--device cpu|cuda] [--limit N]
                                   [--modes batched-gold,int8-gold,...] [--json PATH]
                                   [--compare "early fusion=DIR" ...] [--rounds N] [--max-tokens N]
Each row runs in its own process so that its peak memory is its own, and times its second pass over the
sentences (the first warms up). With ``--rounds N`` every row runs N times in turn (A B C, A B C, ...)
and the table gives each row's median and each speed-up's median over the rounds' ratios, so that the
machine's drift (this shared one's loop varied by 20% between runs) falls on both sides of a ratio
alike. Prints one table, and the time the encoder alone takes on the same batches (the upper bound of
any tagger built on it). ``--modes`` runs some rows only (benchmarks/gpu_run.py's GPU timing);
``--json`` also writes the rows as JSON. A compared model runs the batched rows only; every speed-up is
against the loop on ``--model``'s weights.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from albert_srl.config import CPU_MAX_TOKENS, GPU_MAX_TOKENS
from albert_srl.formats import read
from albert_srl.model.encoding import Instance, collate, encode, make_batches
from albert_srl.tagging.tagger import SRLTagger

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "ewt" / "dev.gold_conll.gz"
MODES = [
    f"{tagger}-{kind}" for kind in ("gold", "predicted") for tagger in ("batched", "bf16", "int8", "loop")
] + ["encoder-gold"]
LABELS = {
    "batched": "SRLTagger.tag (batched)",
    "bf16": "SRLTagger.tag (batched, bf16 autocast)",
    "int8": "SRLTagger.tag (batched, int8 encoder)",
    "loop": "per-sentence, per-predicate loop",
}


def per_predicate_loop(tagger: SRLTagger, words: list[list[str]], predicates: list[list[int]] | None) -> int:
    """AllenNLP's habit: one sentence at a time, one forward pass per predicate (batch of one)."""
    config, model = tagger.config, tagger.model
    labels = {label: i for i, label in enumerate(config.labels)}
    senses = {sense: i for i, sense in enumerate(config.senses)}
    frames = 0

    def decode_one(sentence: list[str], predicate: int | None) -> Any:
        """One forward pass, the sentence tokenized for this call alone, as a per-predicate predictor does."""
        units = encode(tagger.tokenizer, [Instance(sentence, predicate)])
        return model.decode(collate(units, tagger.tokenizer, config, labels, senses).to(tagger.device))

    with torch.inference_mode():
        for i, sentence in enumerate(words):
            if predicates is None:
                flags = decode_one(sentence, None).predicate_flags[0, : len(sentence)]
                found = flags.nonzero().squeeze(1).tolist()
            else:
                found = predicates[i]
            for index in found:
                decode_one(sentence, index)
                frames += 1
    return frames


def encoder_only(
    tagger: SRLTagger, words: list[list[str]], predicates: list[list[int]], max_tokens: int | None
) -> tuple[int, float]:
    """The pure-encoder upper bound: the batches ``tag`` would run, collated beforehand (untimed); only the
    encoder's forward pass and the word gathering are timed. Returns (instances, seconds)."""
    config = tagger.config
    labels = {label: i for i, label in enumerate(config.labels)}
    senses = {sense: i for i, sense in enumerate(config.senses)}
    instances = [Instance(w, i) for w, indices in zip(words, predicates, strict=True) for i in indices]
    sentences = encode(tagger.tokenizer, instances)
    batches = [
        collate([sentences[i] for i in ids], tagger.tokenizer, config, labels, senses).to(tagger.device)
        for ids in make_batches(sentences, config, max_tokens=tagger.batch_budget(max_tokens))
    ]
    with torch.inference_mode():
        for batch in batches:  # warm-up
            tagger.model.word_states(batch)
        if tagger.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for batch in batches:
            tagger.model.word_states(batch)
        if tagger.device.type == "cuda":
            torch.cuda.synchronize()
    return len(instances), time.perf_counter() - start


def run_mode(
    mode: str, model: str | None, dev: str, device: str, limit: int | None, max_tokens: int | None
) -> dict[str, float]:
    sentences = list(read(dev))[:limit]
    words = [s.words for s in sentences]
    gold = [[f.predicate.index for f in s.frames] for s in sentences] if mode.endswith("gold") else None
    tagger = SRLTagger.from_pretrained(
        model, device=device, bf16=True if mode.startswith("bf16") else None, int8=mode.startswith("int8")
    )
    # Warm-up: the same work once, untimed (a first pass pays for its allocations and kernels' set-up,
    # which moved a single timed pass by 30% from one process to the next).
    if mode.startswith("loop"):
        per_predicate_loop(tagger, words, gold)
    elif not mode.startswith("encoder"):
        tagger.tag(words, predicates=gold, max_tokens=max_tokens)
    if device == "cuda":
        torch.cuda.synchronize()
    if mode.startswith("encoder"):
        frames, seconds = encoder_only(tagger, words, gold or [], max_tokens)
        return {"sentences": len(words), "frames": frames, "seconds": seconds, "rss_mib": 0, "parameters": 0}
    start = time.perf_counter()
    if mode.startswith(("batched", "bf16", "int8")):
        frames = sum(len(s.frames) for s in tagger.tag(words, predicates=gold, max_tokens=max_tokens))
    else:
        frames = per_predicate_loop(tagger, words, gold)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {
        "sentences": len(words),
        "frames": frames,
        "seconds": seconds,
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "parameters": sum(p.numel() for p in tagger.model.parameters()),
    }


def median_row(runs: list[dict[str, float]]) -> dict[str, float]:
    """One row from its rounds: the median of each figure (the lower one of an even count: a measured one)."""
    return {key: statistics.median_low(run[key] for run in runs) for key in runs[0]}


def run_child(mode: str, model: str | None, args: argparse.Namespace) -> dict[str, float]:
    """One row in a fresh process, so that its peak memory is its own."""
    command = [sys.executable, __file__, "--mode", mode, "--dev", args.dev, "--device", args.device]
    command += ["--model", model] if model else []
    command += ["--limit", str(args.limit)] if args.limit else []
    command += ["--max-tokens", str(args.max_tokens)] if args.max_tokens else []
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="model directory (default: the shipped model)")
    parser.add_argument("--dev", default=str(SHARED))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--limit", type=int, help="only the first N sentences")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated rows to run (default all)")
    parser.add_argument("--json", help="also write the rows (sentences, frames, seconds...) to this file")
    parser.add_argument(
        "--compare", action="append", default=[], metavar="NAME=DIR", help="another model's batched rows"
    )
    parser.add_argument(
        "--max-tokens",
        type=int,
        help=f"subwords in one forward pass of the batched rows (default {CPU_MAX_TOKENS} on the CPU, "
        f"{GPU_MAX_TOKENS} on a GPU)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="runs of every row, in turn (default 1)")
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # one row, in a child process
    args = parser.parse_args()
    if args.mode:
        row = run_mode(args.mode, args.model, args.dev, args.device, args.limit, args.max_tokens)
        print(json.dumps(row))
        return
    modes = args.modes.split(",")
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        parser.error(f"unknown modes {', '.join(unknown)}; choose from {', '.join(MODES)}")
    runs: dict[str, list[dict[str, float]]] = {}
    for _ in range(args.rounds):
        for mode in modes:
            runs.setdefault(mode, []).append(run_child(mode, args.model, args))
        for name, _, directory in (item.partition("=") for item in args.compare):
            for mode in modes:
                if mode.startswith("batched"):
                    runs.setdefault(f"{name}={mode}", []).append(run_child(mode, directory, args))
    rows = {mode: median_row(runs[mode]) for mode in modes}
    compared = {
        name: {mode: median_row(runs[f"{name}={mode}"]) for mode in modes if mode.startswith("batched")}
        for name, _, _ in (item.partition("=") for item in args.compare)
    }

    def speedup(key: str, kind: str) -> str:
        """The median over rounds of the loop's seconds over this row's, each pair from one round."""
        if f"loop-{kind}" not in runs:
            return "-"
        pairs = zip(runs[f"loop-{kind}"], runs[key], strict=True)
        return f"{statistics.median(loop['seconds'] / row['seconds'] for loop, row in pairs):.1f}x"

    first = next(iter(rows.values()))
    print(
        f"EWT dev, {first['sentences']} sentences; model {first['parameters'] / 1e6:.1f} M parameters; "
        f"device {args.device}; torch threads {torch.get_num_threads()}; "
        f"max_tokens {args.max_tokens or 'the default'}; "
        f"{args.rounds} round(s)"
    )
    print("| predicates | tagger | frames | seconds | sentences/s | speed-up | peak RSS (MiB) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for kind in ("gold", "predicted"):
        for name, label in LABELS.items():
            row = rows.get(f"{name}-{kind}")
            if row is None:
                continue
            print(
                f"| {kind} | {label} | {row['frames']} | {row['seconds']:.1f} | "
                f"{row['sentences'] / row['seconds']:,.1f} | {speedup(f'{name}-{kind}', kind)} | "
                f"{row['rss_mib']:.0f} |"
            )
    for name, model_rows in compared.items():
        for mode, row in model_rows.items():
            kind = mode.rsplit("-", 1)[1]
            label = f"{name}: SRLTagger.tag (batched), {row['parameters'] / 1e6:.1f} M"
            rate = row["sentences"] / row["seconds"]
            print(
                f"| {kind} | {label} | {row['frames']} | {row['seconds']:.1f} | {rate:,.1f} | "
                f"{speedup(f'{name}={mode}', kind)} | {row['rss_mib']:.0f} |"
            )
    if args.json:
        document = {"device": args.device, "rounds": runs, "rows": rows, "compared": compared}
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
    if "encoder-gold" not in rows or "batched-gold" not in rows:
        return
    encoder, batched = rows["encoder-gold"]["seconds"], rows["batched-gold"]["seconds"]
    print(
        "\nEncoder forward alone on the same batches (gold predicates, collated beforehand): "
        f"{encoder:.1f} s, "
        f"{first['sentences'] / encoder:,.1f} sentences/s: the encoder is {100 * encoder / batched:.0f}% of "
        "the batched tagger's time, which reaches that share of the pure-encoder upper bound."
    )


if __name__ == "__main__":
    main()
