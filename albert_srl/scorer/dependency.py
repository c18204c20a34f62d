"""Dependency (head-word) SRL scoring, CoNLL-2009 style: ``(predicate, head word, role)`` triples, ``V``
left out, for dependency-based corpora such as CoNLL-U PropBank."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any

from albert_srl.data import Frame, Sentence
from albert_srl.scorer.spans import EXCLUDED_ROLES, RoleCounts, check_aligned, sum_counts

_Triple = tuple[int, int, str]  # (predicate index, head word index, role)


@dataclass
class DependencyScore:
    """Head-word SRL scores: ``labeled`` counts ``(predicate, head word, role)`` triples (``V`` left out),
    ``unlabeled`` the same without the role, ``roles`` the labeled counts per role, ``predicates`` the
    predicate words found. ``senses_correct / senses_total`` is the sense accuracy over gold predicates
    with a sense; both are 0 when either side has no senses at all.
    """

    sentences: int = 0
    propositions: int = 0
    labeled: RoleCounts = field(default_factory=RoleCounts)
    unlabeled: RoleCounts = field(default_factory=RoleCounts)
    predicates: RoleCounts = field(default_factory=RoleCounts)
    roles: dict[str, RoleCounts] = field(default_factory=lambda: defaultdict(RoleCounts))
    senses_correct: int = 0
    senses_total: int = 0

    @property
    def sense_accuracy(self) -> float | None:
        """Percent of gold senses predicted right; ``None`` when senses were not scored."""
        return 100 * self.senses_correct / self.senses_total if self.senses_total > 0 else None


def score_dependencies(
    gold: Iterable[Sentence], pred: Iterable[Sentence], gold_path: str = "gold", pred_path: str = "pred"
) -> DependencyScore:
    """Score head-word arguments (each ``Argument.start`` is the head) of aligned sentences.

    Unlike srl-eval.pl, a predicted predicate with no gold one counts its arguments as excess.
    """
    result = DependencyScore()
    sense_pairs: list[tuple[str | None, str | None]] = []
    for index, (gold_sentence, pred_sentence) in enumerate(zip_longest(gold, pred)):
        check_aligned(gold_sentence, pred_sentence, index, gold_path, pred_path)
        gold_frames = {frame.predicate.index: frame for frame in gold_sentence.frames}
        pred_frames = {frame.predicate.index: frame for frame in pred_sentence.frames}
        result.predicates.add(_compare(set(gold_frames), set(pred_frames)))
        gold_triples = _head_triples(gold_frames.values())
        pred_triples = _head_triples(pred_frames.values())
        for role, counts in _compare_by_role(gold_triples, pred_triples).items():
            result.roles[role].add(counts)
        result.unlabeled.add(_compare({t[:2] for t in gold_triples}, {t[:2] for t in pred_triples}))
        sense_pairs += [
            (frame.predicate.sense, pred_frames[i].predicate.sense if i in pred_frames else None)
            for i, frame in gold_frames.items()
        ]
        result.propositions += len(gold_frames)
        result.sentences += 1
    result.labeled = sum_counts(result.roles.values())
    if any(p is not None for _, p in sense_pairs):
        scored = [(g, p) for g, p in sense_pairs if g is not None]
        result.senses_total = len(scored)
        result.senses_correct = sum(g == p for g, p in scored)
    return result


def _head_triples(frames: Iterable[Frame]) -> set[_Triple]:
    return {
        (frame.predicate.index, argument.start, argument.role)
        for frame in frames
        for argument in frame.arguments
        if argument.role not in EXCLUDED_ROLES
    }


def _compare(gold: set[Any], pred: set[Any]) -> RoleCounts:
    correct = len(gold & pred)
    return RoleCounts(correct, len(pred) - correct, len(gold) - correct)


def _compare_by_role(gold: set[_Triple], pred: set[_Triple]) -> dict[str, RoleCounts]:
    rows: dict[str, RoleCounts] = defaultdict(RoleCounts)
    for triple in gold & pred:
        rows[triple[2]].correct += 1
    for triple in pred - gold:
        rows[triple[2]].excess += 1
    for triple in gold - pred:
        rows[triple[2]].missed += 1
    return rows
