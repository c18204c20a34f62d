"""Span scoring exactly as the CoNLL-2005 scorer ``srl-eval.pl`` (Carreras & Màrquez) does it, step by step:

* propositions are aligned by the predicate's word position; a predicted proposition with no gold one at
  that position is skipped, a gold one with no prediction (or whose lemma differs) has all its arguments
  missed;
* a ``C-X`` span joins the closest preceding ``X`` of its proposition into one discontinuous argument,
  which is correct only if every piece matches; a ``C-X`` with no ``X`` before it becomes a plain ``X``;
* ``R-X`` is a role of its own; ``V`` has its own row and is left out of the overall line and of the
  perfect-proposition count;
* precision, recall and F1 come from summed counts (printed with ``%6.2f`` by ``scorer.report``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import zip_longest

from albert_srl.data import Frame, Predicate, Sentence
from albert_srl.errors import SRLFormatError

log = logging.getLogger(__name__)

EXCLUDED_ROLES = frozenset({"V"})
NONE = "-NONE-"  # the confusion matrix's name for "no argument here"

# One argument as srl-eval.pl sees it: its role and its pieces, half-open (start, end) word spans in order.
# A continuous argument has one piece; ``C-`` continuations add pieces to their base argument.
_Arg = tuple[str, tuple[tuple[int, int], ...]]


@dataclass
class RoleCounts:
    """Correct, excess (over-predicted) and missed arguments; scores in percent, as srl-eval.pl's."""

    correct: int = 0
    excess: int = 0
    missed: int = 0

    @property
    def precision(self) -> float:
        return 100 * self.correct / (self.correct + self.excess) if self.correct + self.excess > 0 else 0.0

    @property
    def recall(self) -> float:
        return 100 * self.correct / (self.correct + self.missed) if self.correct + self.missed > 0 else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0

    def add(self, other: RoleCounts) -> None:
        self.correct += other.correct
        self.excess += other.excess
        self.missed += other.missed

    def to_json(self) -> dict[str, float]:
        return {
            "correct": self.correct,
            "excess": self.excess,
            "missed": self.missed,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
        }


@dataclass
class SpanScore:
    """What ``srl-eval.pl`` counts over a corpus.

    ``roles`` holds every scored role but ``V`` (whose row is in ``excluded``); ``overall`` sums ``roles``.
    ``confusion[gold_role][pred_role]`` counts arguments whose pieces match whatever their roles, with
    ``"-NONE-"`` standing for a missed (column) or spurious (row) argument.
    """

    sentences: int = 0
    propositions: int = 0
    perfect: int = 0
    overall: RoleCounts = field(default_factory=RoleCounts)
    roles: dict[str, RoleCounts] = field(default_factory=lambda: defaultdict(RoleCounts))
    excluded: dict[str, RoleCounts] = field(default_factory=lambda: defaultdict(RoleCounts))
    confusion: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )

    @property
    def precision(self) -> float:
        return self.overall.precision

    @property
    def recall(self) -> float:
        return self.overall.recall

    @property
    def f1(self) -> float:
        return self.overall.f1

    @property
    def perfect_percent(self) -> float:
        return 100 * self.perfect / self.propositions if self.propositions > 0 else 0.0

    def unlabeled(self) -> tuple[RoleCounts, float]:
        """Argument boundaries regardless of role (``V`` left out), and the label accuracy (percent) of
        the boundaries found; the ``Unlabeled`` line of ``srl-eval.pl -C``."""
        counts = RoleCounts()
        labelled_right = 0
        for gold_role, row in self.confusion.items():
            if gold_role in (NONE, *EXCLUDED_ROLES):
                continue
            counts.correct += sum(n for role, n in row.items() if role not in (NONE, *EXCLUDED_ROLES))
            counts.missed += row.get(NONE, 0)
            labelled_right += row.get(gold_role, 0)
        spurious = self.confusion.get(NONE, {})
        counts.excess = sum(n for role, n in spurious.items() if role not in (NONE, *EXCLUDED_ROLES))
        # srl-eval.pl dies dividing by zero here; a score of 0 says the same without a crash.
        accuracy = 100 * labelled_right / counts.correct if counts.correct > 0 else 0.0
        return counts, accuracy


class SentenceMismatch(SRLFormatError):
    """Gold and predicted sentence number ``index`` (0-based) do not align; ``path`` is the file to blame."""

    def __init__(self, path: str, index: int, message: str) -> None:
        self.index = index
        super().__init__(path, None, message)


def score(
    gold: Iterable[Sentence], pred: Iterable[Sentence], gold_path: str = "gold", pred_path: str = "pred"
) -> SpanScore:
    """Score predicted against gold sentences as ``srl-eval.pl`` does; both are consumed in step.

    Raises ``SRLFormatError`` naming the file and the sentence when the two sides have different
    numbers of sentences or a sentence has different numbers of words.
    """
    result = SpanScore()
    for index, (gold_sentence, pred_sentence) in enumerate(zip_longest(gold, pred)):
        check_aligned(gold_sentence, pred_sentence, index, gold_path, pred_path)
        _score_sentence(gold_sentence, pred_sentence, index, result)
        result.sentences += 1
    result.overall = sum_counts(result.roles.values())
    return result


def check_aligned(
    gold: Sentence | None, pred: Sentence | None, index: int, gold_path: str, pred_path: str
) -> None:
    if pred is None:
        raise SentenceMismatch(
            gold_path, index, f"sentence {index + 1} has no counterpart in {pred_path}, which has {index}"
        )
    if gold is None:
        raise SentenceMismatch(
            pred_path, index, f"sentence {index + 1} has no counterpart in {gold_path}, which has {index}"
        )
    if len(gold.words) != len(pred.words):
        raise SentenceMismatch(
            pred_path,
            index,
            f"sentence {index + 1} has {len(pred.words)} words, but {len(gold.words)} in {gold_path}",
        )


def _score_sentence(gold: Sentence, pred: Sentence, index: int, result: SpanScore) -> None:
    pred_frames = {frame.predicate.index: frame for frame in pred.frames}
    gold_frames = {frame.predicate.index: frame for frame in gold.frames}
    for position in sorted(pred_frames.keys() - gold_frames.keys()):
        log.debug("sentence %d: predicted predicate at %d has no gold one; skipped", index + 1, position)
    for position in sorted(gold_frames):
        gold_frame = gold_frames[position]
        pred_frame = pred_frames.get(position)
        if pred_frame is not None and not _same_lemma(gold_frame.predicate, pred_frame.predicate):
            log.debug(
                "sentence %d: predicate at %d has another lemma; all its arguments missed",
                index + 1,
                position,
            )
            pred_frame = None
        pred_args = _srl_eval_arguments(pred_frame) if pred_frame is not None else []
        _score_proposition(_srl_eval_arguments(gold_frame), pred_args, result)


def _same_lemma(gold: Predicate, pred: Predicate) -> bool:
    """srl-eval.pl compares the lemma columns; a side that has no lemma cannot disagree."""
    return gold.lemma is None or pred.lemma is None or gold.lemma == pred.lemma


def _srl_eval_arguments(frame: Frame) -> list[_Arg]:
    """The frame's arguments with each ``C-X`` piece joined to the closest preceding ``X``."""
    merged: list[tuple[str, list[tuple[int, int]]]] = []
    latest: dict[str, list[tuple[int, int]]] = {}  # the pieces of the last argument of each role
    for argument in sorted(frame.arguments, key=lambda a: (a.start, -a.end)):
        role, piece = argument.role, (argument.start, argument.end)
        if role.startswith("C-"):
            role = role[2:]
            if role in latest:
                latest[role].append(piece)
                continue
        pieces = [piece]
        merged.append((role, pieces))
        latest[role] = pieces
    return [(role, tuple(pieces)) for role, pieces in merged]


def _score_proposition(gold: list[_Arg], pred: list[_Arg], result: SpanScore) -> None:
    """Count one proposition, as srl-eval.pl's ``evaluate_proposition`` and ``update_confusion_matrix``.

    A predicted argument is looked up by its outer boundaries and matches only if all its pieces are
    the same; it is correct if its role is the same too. A match under another role is both an excess
    (of the predicted role) and a miss (of the gold role), and a confusion between the two.
    """
    unmatched = {_bounds(pieces): (role, pieces) for role, pieces in gold}
    perfect = True
    for role, pieces in pred:
        found = unmatched.get(_bounds(pieces))
        if found is not None and found[1] == pieces:
            del unmatched[_bounds(pieces)]
            gold_role = found[0]
            result.confusion[gold_role][role] += 1
            if gold_role == role:
                _row(result, role).correct += 1
                continue
            _row(result, gold_role).missed += 1
            perfect &= gold_role in EXCLUDED_ROLES
        else:
            result.confusion[NONE][role] += 1
        _row(result, role).excess += 1
        perfect &= role in EXCLUDED_ROLES
    for gold_role, _ in unmatched.values():
        result.confusion[gold_role][NONE] += 1
        _row(result, gold_role).missed += 1
        perfect &= gold_role in EXCLUDED_ROLES
    result.propositions += 1
    result.perfect += perfect


def _bounds(pieces: tuple[tuple[int, int], ...]) -> tuple[int, int]:
    return pieces[0][0], pieces[-1][1]


def _row(result: SpanScore, role: str) -> RoleCounts:
    return result.excluded[role] if role in EXCLUDED_ROLES else result.roles[role]


def sum_counts(rows: Iterable[RoleCounts]) -> RoleCounts:
    total = RoleCounts()
    for counts in rows:
        total.add(counts)
    return total
