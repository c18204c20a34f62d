"""Dev-set scores during fine-tuning: the tagger tags the dev sentences as ``albert-srl predict`` would,
and the project's scorer scores them as ``srl-eval.pl`` would."""

from __future__ import annotations

from collections.abc import Iterable

from albert_srl.config import TrainConfig
from albert_srl.data import Sentence
from albert_srl.model.encoding import sense_number
from albert_srl.scorer import score
from albert_srl.tagging.frames import copy_gold_lemmas
from albert_srl.tagging.tagger import SRLTagger


def evaluate(tagger: SRLTagger, dev: list[Sentence], config: TrainConfig) -> dict[str, float]:
    """Dev scores in percent: span P/R/F1 with gold predicates (srl-eval.pl's overall line), sense
    accuracy, and, when the predicate head is trained, predicate-identification F1 and the end-to-end
    span F1 (the model's own predicates, gold lemmas copied as benchmarks/dev_scores.py does)."""
    chunk, max_tokens = max(1, len(dev)), config.eval_max_tokens
    tagged = list(tagger.tag_conll(dev, chunk=chunk, max_tokens=max_tokens))
    result = score(dev, tagged, gold_path=config.dev_path, pred_path="dev predictions")
    metrics = {"precision": result.precision, "recall": result.recall, "f1": result.f1}
    metrics["sense_accuracy"] = sense_accuracy(dev, tagged)
    if config.predicate_identification:
        found = list(tagger.tag_conll(dev, chunk=chunk, gold_predicates=False, max_tokens=max_tokens))
        metrics["predicate_f1"] = predicate_f1(dev, found)
        for gold_sentence, found_sentence in zip(dev, found, strict=True):
            copy_gold_lemmas(gold_sentence, found_sentence)
        end_to_end = score(dev, found, gold_path=config.dev_path, pred_path="dev predictions")
        metrics["end_to_end_f1"] = end_to_end.f1
    tagger.model.train()
    return metrics


def sense_accuracy(gold: Iterable[Sentence], pred: Iterable[Sentence]) -> float:
    """Percent of gold predicates whose predicted sense number is right."""
    right = total = 0
    for gold_sentence, pred_sentence in zip(gold, pred, strict=True):
        predicted = {f.predicate.index: sense_number(f.predicate.sense) for f in pred_sentence.frames}
        for frame in gold_sentence.frames:
            total += 1
            right += predicted.get(frame.predicate.index) == sense_number(frame.predicate.sense)
    return 100 * right / total if total else 0.0


def predicate_f1(gold: Iterable[Sentence], pred: Iterable[Sentence]) -> float:
    """F1 (percent) of predicted predicate positions against the gold ones."""
    correct = n_gold = n_pred = 0
    for gold_sentence, pred_sentence in zip(gold, pred, strict=True):
        gold_positions = {f.predicate.index for f in gold_sentence.frames}
        pred_positions = {f.predicate.index for f in pred_sentence.frames}
        correct += len(gold_positions & pred_positions)
        n_gold += len(gold_positions)
        n_pred += len(pred_positions)
    return 200 * correct / (n_gold + n_pred) if n_gold + n_pred else 0.0
