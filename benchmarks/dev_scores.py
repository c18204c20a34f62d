"""Accuracy of a model on EWT dev, every number the docs report about it:

- argument span P/R/F1 with gold predicates and end to end (predicates found by the model), by the
  project's srl-eval.pl-exact scorer;
- predicate identification P/R/F1, overall and by the gold part of speech;
- argument span P/R/F1 by the gold part of speech of the predicate (verb, noun, adjective);
- sense number and roleset id accuracy on the gold predicates (the roleset with our own lemma).

Span scores copy the gold lemma onto predicted predicates at the same word (the CoNLL target column):
srl-eval.pl counts a proposition whose lemma differs as wholly missed, which would score lemmatizer
errors as argument errors.

Run by hand:  python benchmarks/dev_scores.py MODEL_DIR [--dev PATH] [--device cpu|cuda] [--json PATH]
                                             [--int8]
(``--json`` also writes the span, predicate and sense scores as JSON; ``--int8`` scores the int8 encoder.)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import Counter
from pathlib import Path

from albert_srl.data import Sentence
from albert_srl.formats import read
from albert_srl.scorer import score
from albert_srl.tagging.frames import copy_gold_lemmas
from albert_srl.tagging.tagger import SRLTagger

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "ewt" / "dev.gold_conll.gz"


def prf(correct: int, predicted: int, gold: int) -> tuple[float, float, float]:
    p = 100 * correct / predicted if predicted else 0.0
    r = 100 * correct / gold if gold else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def coarse_pos(tag: str) -> str:
    """Penn tags grouped as the predicate types PropBank annotates."""
    for prefix, name in (("VB", "verb"), ("NN", "noun"), ("JJ", "adjective"), ("MD", "modal")):
        if tag.startswith(prefix):
            return name
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model")
    parser.add_argument("--dev", default=str(SHARED))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--json", help="also write the scores to this file")
    parser.add_argument("--int8", action="store_true", help="the int8 encoder (SRLTagger int8=True)")
    args = parser.parse_args()
    gold = list(read(args.dev))
    tagger = SRLTagger.from_pretrained(args.model, device=args.device, int8=args.int8)
    with_gold = list(tagger.tag_conll(gold))  # gold lemmas copied, as the CoNLL target column
    own_lemmas = tagger.tag(gold, predicates=[[f.predicate.index for f in s.frames] for s in gold])
    end_to_end = list(tagger.tag_conll(gold, gold_predicates=False))
    for g, p in zip(gold, end_to_end, strict=True):
        copy_gold_lemmas(g, p)  # srl-eval.pl pairs propositions by position and lemma

    spans_gold = score(gold, with_gold)
    spans_e2e = score(gold, end_to_end)
    print(f"model: {args.model}   dev: {args.dev} ({len(gold)} sentences)\n")
    print("| arguments | precision | recall | F1 |\n| --- | ---: | ---: | ---: |")
    for name, result in (("gold predicates", spans_gold), ("predicted predicates (end to end)", spans_e2e)):
        print(f"| {name} | {result.precision:.2f} | {result.recall:.2f} | {result.f1:.2f} |")

    counts: dict[str, Counter[str]] = {}
    for g, p in zip(gold, end_to_end, strict=True):
        gold_set = {f.predicate.index for f in g.frames}
        pred_set = {f.predicate.index for f in p.frames}
        for index in gold_set | pred_set:
            group = coarse_pos(g.pos[index]) if g.pos else "other"
            for key in ("all", group):
                c = counts.setdefault(key, Counter())
                c["correct"] += index in gold_set and index in pred_set
                c["gold"] += index in gold_set
                c["predicted"] += index in pred_set
    print("\n| predicate identification | gold | predicted | precision | recall | F1 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for key in ("all", "verb", "noun", "adjective", "modal", "other"):
        if key in counts:
            c = counts[key]
            p, r, f = prf(c["correct"], c["predicted"], c["gold"])
            print(f"| {key} | {c['gold']} | {c['predicted']} | {p:.2f} | {r:.2f} | {f:.2f} |")

    print("\n| arguments by predicate type (gold predicates) | predicates | precision | recall | F1 |")
    print("| --- | ---: | ---: | ---: | ---: |")
    by_type: dict[str, dict[str, float]] = {}
    for group in ("verb", "noun", "adjective"):
        kept_gold = [of_type(g, g, group) for g in gold]
        kept_pred = [of_type(t, g, group) for t, g in zip(with_gold, gold, strict=True)]
        result = score(kept_gold, kept_pred)
        frames = sum(len(g.frames) for g in kept_gold)
        by_type[group] = vars_of(result)
        print(f"| {group} | {frames} | {result.precision:.2f} | {result.recall:.2f} | {result.f1:.2f} |")

    total = sense_right = roleset_right = 0
    for g, p in zip(gold, own_lemmas, strict=True):
        predicted = {f.predicate.index: f.predicate.sense or "" for f in p.frames}
        for frame in g.frames:
            total += 1
            guess = predicted.get(frame.predicate.index, "")
            truth = frame.predicate.sense or ""
            sense_right += guess.rsplit(".", 1)[-1] == truth.rsplit(".", 1)[-1]
            roleset_right += guess == truth
    print("\n| senses (gold predicates) | accuracy |\n| --- | ---: |")
    print(f"| sense number | {100 * sense_right / total:.2f} |")
    print(f"| roleset id (our lemma + predicted sense) | {100 * roleset_right / total:.2f} |")
    if args.json:
        scores = {
            "sentences": len(gold),
            "gold_predicates": vars_of(spans_gold),
            "end_to_end": vars_of(spans_e2e),
            "predicate_identification": {
                key: prf(c["correct"], c["predicted"], c["gold"])[2] for key, c in counts.items()
            },
            "arguments_by_predicate_type": by_type,
            "sense_accuracy": 100 * sense_right / total,
            "roleset_accuracy": 100 * roleset_right / total,
        }
        Path(args.json).write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")


def of_type(sentence: Sentence, gold: Sentence, group: str) -> Sentence:
    """``sentence`` with only the frames whose predicate's gold part of speech is of ``group``."""
    frames = [f for f in sentence.frames if gold.pos and coarse_pos(gold.pos[f.predicate.index]) == group]
    return dataclasses.replace(sentence, frames=frames)


def vars_of(result: object) -> dict[str, float]:
    return {name: getattr(result, name) for name in ("precision", "recall", "f1")}


if __name__ == "__main__":
    main()
