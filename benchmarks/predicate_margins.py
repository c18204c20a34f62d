"""Would a threshold on the predicate head fix predicate identification? A diagnosis on EWT dev.

The model finds a predicate where the predicate head's margin (log-odds of "predicate") is above 0 and
the syntax head tags the word with a part of speech training predicates had. This script reads every
dev word's margin and predicted tag, then reports:

1. by the *gold* part of speech (verb, common noun, adjective): predicates found, recall and precision
   at thresholds other than 0 (what an oracle that knew the gold tag could reach);
2. one threshold per *predicted* class (what tagging can use), fitted for the best identification F1 on
   one half of dev and scored on the other half, both ways (does it carry over to unseen text?).

Run by hand:  python benchmarks/predicate_margins.py MODEL_DIR [--dev PATH]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch

from albert_srl.formats import read
from albert_srl.model.encoding import POS_TAGS, Instance, encode
from albert_srl.tagging.tagger import SRLTagger

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "ewt" / "dev.gold_conll.gz"
CLASSES = {
    "verb": ("VB", "VBD", "VBG", "VBN", "VBP", "VBZ"),
    "noun": ("NN", "NNS"),
    "adjective": ("JJ", "JJR", "JJS"),
}
GRID = [step / 4 for step in range(-16, 9)]  # -4 .. 2


@dataclass
class Word:
    gold_pos: str
    predicted_pos: str
    margin: float
    allowed: bool  # the predicted tag is one training predicates had
    gold: bool  # a gold predicate


def read_words(model: str, dev: str) -> list[Word]:
    """Every dev word with the two heads' outputs, captured from the modules as tagging runs them."""
    tagger = SRLTagger.from_pretrained(model, device="cpu")
    heads = tagger.model
    if heads.pos_head is None:
        raise SystemExit("the model has no syntax head: nothing to diagnose")
    seen: dict[str, torch.Tensor] = {}
    heads.predicate_head.register_forward_hook(lambda _m, _i, out: seen.__setitem__("margin", out.float()))
    heads.pos_head.register_forward_hook(lambda _m, _i, out: seen.__setitem__("pos", out.argmax(-1)))
    sentences = [s for s in read(dev) if s.words]
    allowed = set(tagger.config.predicate_pos)
    words: list[Word] = []
    with torch.inference_mode():
        units = encode(tagger.tokenizer, [Instance(s.words, None) for s in sentences])
        for ids, _ in tagger.decoder.decode_batches(units, 8192):
            margin = seen["margin"][..., 1] - seen["margin"][..., 0]
            for row, i in enumerate(ids):
                sentence, gold = sentences[i], {f.predicate.index for f in sentences[i].frames}
                for w in range(len(sentence.words)):
                    tag = POS_TAGS[int(seen["pos"][row, w])]
                    words.append(Word(sentence.pos[w] if sentence.pos else "", tag, float(margin[row, w]),
                                      tag in allowed, w in gold))  # fmt: skip
    return words


def counts(words: list[Word], threshold: float) -> tuple[int, int, int]:
    """(found, correct, gold) when a word is a predicate above ``threshold``."""
    chosen = [w for w in words if w.allowed and w.margin > threshold]
    return len(chosen), sum(w.gold for w in chosen), sum(w.gold for w in words)


def f1(found: int, correct: int, gold: int) -> float:
    return 200 * correct / (found + gold) if found + gold else 0.0


def fit(words: list[Word]) -> dict[str, float]:
    """The best-F1 threshold of each predicted class (the one nearest 0 on a tie)."""
    return {
        name: max(
            sorted(GRID, key=abs), key=lambda t: f1(*counts([w for w in words if w.predicted_pos in tags], t))
        )
        for name, tags in CLASSES.items()
    }


def identification(words: list[Word], thresholds: dict[str, float]) -> tuple[float, float, int]:
    """Overall identification F1, verb recall (by gold tag) and common nouns found, under ``thresholds``."""

    def above(w: Word) -> bool:
        limit = next((thresholds[n] for n, tags in CLASSES.items() if w.predicted_pos in tags), 0.0)
        return w.allowed and w.margin > limit

    chosen = [w for w in words if above(w)]
    verbs = [w for w in words if w.gold and w.gold_pos in CLASSES["verb"]]
    nouns = sum(1 for w in chosen if w.gold_pos in CLASSES["noun"])
    return f1(len(chosen), sum(w.gold for w in chosen), sum(w.gold for w in words)), \
        100 * sum(above(w) for w in verbs) / len(verbs), nouns  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model")
    parser.add_argument("--dev", default=str(SHARED))
    args = parser.parse_args()
    words = read_words(args.model, args.dev)
    print("| gold class | threshold | found | recall | precision |\n| --- | ---: | ---: | ---: | ---: |")
    for name, tags in CLASSES.items():
        members = [w for w in words if w.gold_pos in tags]
        for threshold in (-3.0, -2.0, -1.0, 0.0, 1.0):
            found, correct, gold = counts(members, threshold)
            print(f"| {name} | {threshold:+.1f} | {found} | {100 * correct / gold:.1f} | "
                  f"{100 * correct / max(1, found):.1f} |")  # fmt: skip
    half = len(words) // 2
    print("\n| fitted on | thresholds (verb, noun, adj.) | scored on | id. F1 | verb recall | nouns found |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for fitted, scored, a, b in ((words[:half], words[half:], "first half", "second half"),
                                 (words[half:], words[:half], "second half", "first half")):  # fmt: skip
        thresholds = fit(fitted)
        shown = ", ".join(f"{t:+.2f}" for t in thresholds.values())
        for label, used in (("(none: 0)", dict.fromkeys(CLASSES, 0.0)), (shown, thresholds)):
            score, recall, nouns = identification(scored, used)
            fitted_on = a if used is thresholds else "-"
            print(f"| {fitted_on} | {label} | {b} | {score:.2f} | {recall:.1f} | {nouns} |")


if __name__ == "__main__":
    main()
