"""Span-level SRL scoring exactly as the CoNLL-2005 scorer ``srl-eval.pl`` does, and CoNLL-2009-style
head-word scoring for dependency-based corpora.

Span scoring (``score`` / ``format_report``) follows ``srl-eval.pl`` (Carreras & Màrquez) step by step:

* propositions are aligned by the predicate's word position; a predicted proposition with no gold one at
  that position is skipped, a gold one with no prediction (or whose lemma differs) has all its arguments
  missed;
* a ``C-X`` span joins the closest preceding ``X`` of its proposition into one discontinuous argument,
  which is correct only if every piece matches; a ``C-X`` with no ``X`` before it becomes a plain ``X``;
* ``R-X`` is a role of its own; ``V`` has its own row and is left out of the overall line and of the
  perfect-proposition count;
* precision, recall and F1 come from summed counts and are printed with ``%6.2f``.

Dependency scoring (``score_dependencies``) counts ``(predicate, head word, role)`` triples, ``V`` left out.
"""

from __future__ import annotations

import gzip
import io
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path
from typing import Any

from albert_srl.data import Argument, Frame, Predicate, Sentence
from albert_srl.errors import SRLFormatError
from albert_srl.spans import BracketError, spans_from_brackets

log = logging.getLogger(__name__)

EXCLUDED_ROLES = frozenset({"V"})
NONE = "-NONE-"  # the confusion matrix's name for "no argument here"
_RULE = "-" * 60
_HEADER = f"{'':>10}   {'corr.':>6}  {'excess':>6}  {'missed':>6}   {'prec.':>6}  {'rec.':>6}  {'F1':>6}"
_UNLABELED_RULE = "-" * 68

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


class _SentenceMismatch(SRLFormatError):
    """Gold and predicted sentence number ``index`` (0-based) do not align; ``path`` is the file to blame."""

    def __init__(self, path: str, index: int, message: str) -> None:
        self.index = index
        super().__init__(path, None, message)


# ---------------------------------------------------------------------------------------------------
# Span scoring


def score(
    gold: Iterable[Sentence], pred: Iterable[Sentence], gold_path: str = "gold", pred_path: str = "pred"
) -> SpanScore:
    """Score predicted against gold sentences as ``srl-eval.pl`` does; both are consumed in step.

    Raises ``SRLFormatError`` naming the file and the sentence when the two sides have different
    numbers of sentences or a sentence has different numbers of words.
    """
    result = SpanScore()
    for index, (gold_sentence, pred_sentence) in enumerate(zip_longest(gold, pred)):
        _check_aligned(gold_sentence, pred_sentence, index, gold_path, pred_path)
        _score_sentence(gold_sentence, pred_sentence, index, result)
        result.sentences += 1
    result.overall = _sum_counts(result.roles.values())
    return result


def _check_aligned(
    gold: Sentence | None, pred: Sentence | None, index: int, gold_path: str, pred_path: str
) -> None:
    if pred is None:
        raise _SentenceMismatch(
            gold_path, index, f"sentence {index + 1} has no counterpart in {pred_path}, which has {index}"
        )
    if gold is None:
        raise _SentenceMismatch(
            pred_path, index, f"sentence {index + 1} has no counterpart in {gold_path}, which has {index}"
        )
    if len(gold.words) != len(pred.words):
        raise _SentenceMismatch(
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


def _sum_counts(rows: Iterable[RoleCounts]) -> RoleCounts:
    total = RoleCounts()
    for counts in rows:
        total.add(counts)
    return total


# ---------------------------------------------------------------------------------------------------
# srl-eval.pl's report


def format_report(result: SpanScore, confusion: bool = False, latex: bool = False) -> str:
    """Exactly what ``srl-eval.pl [-C] [-latex] gold pred`` prints on its standard output."""
    text = _latex_table(result) if latex else _text_table(result)
    if confusion:
        text += _unlabeled_block(result) + _confusion_matrix(result)
    return text


def _row_line(name: str, counts: RoleCounts) -> str:
    return (
        f"{name:>10}   {counts.correct:6d}  {counts.excess:6d}  {counts.missed:6d}   "
        f"{counts.precision:6.2f}  {counts.recall:6.2f}  {counts.f1:6.2f}\n"
    )


def _text_table(result: SpanScore) -> str:
    lines = [
        f"Number of Sentences    :      {result.sentences:6d}\n",
        f"Number of Propositions :      {result.propositions:6d}\n",
        f"Percentage of perfect props : {result.perfect_percent:6.2f}\n",
        "\n",
        _HEADER + "\n",
        _RULE + "\n",
        _row_line("Overall", result.overall),
        "----------\n",
        *(_row_line(role, result.roles[role]) for role in sorted(result.roles)),
        _RULE + "\n",
        *(_row_line(role, result.excluded[role]) for role in sorted(result.excluded)),
        _RULE + "\n",
    ]
    return "".join(lines)


def _latex_line(name: str, counts: RoleCounts) -> str:
    return f"{name:<10} & {counts.precision:6.2f}\\% & {counts.recall:6.2f}\\% & {counts.f1:6.2f}\\\\\n"


def _latex_table(result: SpanScore) -> str:
    lines = [
        "\\begin{table}[t]\n",
        "\\centering\n",
        "\\begin{tabular}{|l|r|r|r|}\\cline{2-4}\n",
        "\\multicolumn{1}{l|}{}\n",
        # srl-eval.pl prints four backslashes here (a Perl quoting slip, kept for byte equality).
        "           & Precision & Recall & F$_{\\beta=1}$\\\\\\\\\n",
        "\\hline\n",
        _latex_line("Overall", result.overall),
        "\\hline\n",
        *(_latex_line(role, result.roles[role]) for role in sorted(result.roles)),
        "\\hline\n",
        "\\hline\n",
        *(_latex_line(role, result.excluded[role]) for role in sorted(result.excluded)),
        "\\hline\n",
        "\\end{tabular}\n",
        "\\end{table}\n",
    ]
    return "".join(lines)


def _unlabeled_block(result: SpanScore) -> str:
    counts, accuracy = result.unlabeled()
    row = _row_line("Unlabeled", counts).rstrip("\n") + f"  {accuracy:6.2f}"
    return "\n".join([_UNLABELED_RULE, _HEADER + f"  {'lAcc':>6}", row, _UNLABELED_RULE]) + "\n"


def _confusion_matrix(result: SpanScore) -> str:
    # srl-eval.pl always has a "-NONE-" row and column: its unlabeled count creates the entry.
    labels = sorted({NONE, *result.confusion, *(role for row in result.confusion.values() for role in row)})
    lines = [
        "\n---- Confusion Matrix: (one row for each correct role, with the distribution of predictions)\n"
    ]
    lines.append(" " * 13 + "".join(f"{i:4d} " for i in range(-1, len(labels) - 1)) + "\n")
    for i, gold_role in enumerate(labels, start=-1):
        row = result.confusion.get(gold_role, {})
        lines.append(
            f"{i:2d}: {gold_role:<8} " + "".join(f"{row.get(role, 0):4d} " for role in labels) + "\n"
        )
    return "".join(lines)


def score_to_json(result: SpanScore) -> dict[str, Any]:
    """The scores as plain JSON data (the ``--json`` output); schema in ``docs/scoring.md``."""
    unlabeled, accuracy = result.unlabeled()
    return {
        "sentences": result.sentences,
        "propositions": result.propositions,
        "perfect_propositions": result.perfect,
        "perfect_percent": result.perfect_percent,
        "overall": result.overall.to_json(),
        "roles": {role: result.roles[role].to_json() for role in sorted(result.roles)},
        "excluded": {role: result.excluded[role].to_json() for role in sorted(result.excluded)},
        "unlabeled": {**unlabeled.to_json(), "label_accuracy": accuracy},
        "confusion": {gold: dict(sorted(row.items())) for gold, row in sorted(result.confusion.items())},
    }


# ---------------------------------------------------------------------------------------------------
# Files


def score_files(
    gold_path: str | Path,
    pred_path: str | Path,
    gold_format: str | None = None,
    pred_format: str | None = None,
) -> SpanScore:
    """``score`` over two files. ``format`` ``"props"`` is srl-eval.pl's own input (``read_props``); the
    other names go to ``albert_srl.formats``; ``None`` detects props files and asks ``formats`` otherwise.

    A misaligned sentence raises ``SRLFormatError`` with the file and the line where that sentence starts.
    """
    try:
        return score(
            _read_sentences(gold_path, gold_format),
            _read_sentences(pred_path, pred_format),
            str(gold_path),
            str(pred_path),
        )
    except _SentenceMismatch as error:
        raise _located(error) from None


def _located(error: _SentenceMismatch) -> SRLFormatError:
    """The same error with the line where the misaligned sentence starts in its file."""
    return SRLFormatError(error.path, _sentence_start_line(error.path, error.index), error.message)


def _read_sentences(path: str | Path, format: str | None) -> Iterator[Sentence]:
    if format == "props" or (format is None and _looks_like_props(path)):
        return read_props(path)
    from albert_srl.formats import read  # imported here: formats depends on nothing in this module

    return read(path, format)


_BRACKET_CELL = re.compile(r"^(\([^\s*()]+)?\*\)?$")


def _looks_like_props(path: str | Path) -> bool:
    """A props file's first line is a lemma (or ``-``) then bracket cells only (``*``, ``(A0*``, ``*)``)."""
    with _open_text(path) as stream:
        for line in stream:
            cells = line.split()
            if cells:
                has_columns = len(cells) > 1 or cells[0] == "-"  # a lone cell may be a JSON line
                return has_columns and all(_BRACKET_CELL.match(cell) for cell in cells[1:])
    return False


def _open_text(path: str | Path) -> io.TextIOBase:
    if str(path).endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8")
    return open(path, encoding="utf-8")


def read_props(path: str | Path) -> Iterator[Sentence]:
    """Read srl-eval.pl's own input: one word a line, the predicate's lemma (or ``-``) then one bracket
    column per predicate, a blank line after each sentence (plain or ``.gz``).

    Props files have no words: ``Sentence.words`` holds ``"_"`` per word and each ``Predicate`` has
    ``text`` and ``lemma`` set to the lemma.
    """
    with _open_text(path) as stream:
        rows: list[list[str]] = []
        start = 1
        for number, line in enumerate(stream, start=1):
            cells = line.split()
            if cells:
                if not rows:
                    start = number
                rows.append(cells)
            elif rows:
                yield _props_sentence(rows, path, start)
                rows = []
        if rows:
            yield _props_sentence(rows, path, start)


def _props_sentence(rows: list[list[str]], path: str | Path, start: int) -> Sentence:
    width = len(rows[0])
    for offset, cells in enumerate(rows):
        if len(cells) != width:
            raise SRLFormatError(
                str(path), start + offset, f"{len(cells)} columns where the sentence's first line has {width}"
            )
    lemmas = [cells[0] for cells in rows]
    positions = [i for i, lemma in enumerate(lemmas) if lemma != "-"]
    if len(positions) != width - 1:
        # srl-eval.pl gives the columns to the predicates in order, ignores extra columns and leaves a
        # predicate without a column with no arguments; so do we, for the same numbers.
        log.warning("%s:%d: %d predicates but %d argument columns", path, start, len(positions), width - 1)
    frames = []
    for column, position in enumerate(positions, start=1):
        predicate = Predicate(position, lemmas[position], lemma=lemmas[position])
        frames.append(Frame(predicate, _props_arguments(rows, column, path, start)))
    return Sentence(words=["_"] * len(rows), frames=frames)


def _props_arguments(rows: list[list[str]], column: int, path: str | Path, start: int) -> list[Argument]:
    if column >= len(rows[0]):
        return []
    try:
        spans = spans_from_brackets([cells[column] for cells in rows])
    except BracketError as error:
        raise SRLFormatError(str(path), start + error.row, f"column {column + 1}: {error}") from None
    return [Argument(role, s, e) for role, s, e in spans]


def _sentence_start_line(path: str | Path, index: int) -> int | None:
    """The 1-based line where sentence ``index`` (0-based) starts in a line-per-word file (comment lines,
    ``#...``, skipped), or where the file ends if it has fewer sentences; ``None`` for one-line formats."""
    if str(path).endswith((".jsonl", ".jsonl.gz", ".json", ".json.gz")):
        return index + 1
    seen = -1
    in_sentence = False
    number = 0
    with _open_text(path) as stream:
        for number, line in enumerate(stream, start=1):
            content = line.strip()
            if not content or content.startswith("#"):
                in_sentence = False
                continue
            if not in_sentence:
                seen += 1
                in_sentence = True
                if seen == index:
                    return number
    return number + 1


# ---------------------------------------------------------------------------------------------------
# Dependency (head-word) scoring, CoNLL-2009 style


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
        _check_aligned(gold_sentence, pred_sentence, index, gold_path, pred_path)
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
    result.labeled = _sum_counts(result.roles.values())
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


def format_dependency_report(result: DependencyScore) -> str:
    """A table in srl-eval.pl's layout: labeled, unlabeled and predicate lines, then one row per role."""
    lines = [
        f"Number of Sentences    :      {result.sentences:6d}\n",
        f"Number of Propositions :      {result.propositions:6d}\n",
        "\n",
        _HEADER + "\n",
        _RULE + "\n",
        _row_line("Labeled", result.labeled),
        _row_line("Unlabeled", result.unlabeled),
        _row_line("Predicates", result.predicates),
        "----------\n",
        *(_row_line(role, result.roles[role]) for role in sorted(result.roles)),
        _RULE + "\n",
    ]
    if result.sense_accuracy is not None:
        lines.append(
            f"Sense accuracy : {result.sense_accuracy:6.2f} ({result.senses_correct}/{result.senses_total})\n"
        )
    return "".join(lines)


def dependency_score_to_json(result: DependencyScore) -> dict[str, Any]:
    """The dependency scores as plain JSON data; schema in ``docs/scoring.md``."""
    return {
        "sentences": result.sentences,
        "propositions": result.propositions,
        "labeled": result.labeled.to_json(),
        "unlabeled": result.unlabeled.to_json(),
        "predicates": result.predicates.to_json(),
        "roles": {role: result.roles[role].to_json() for role in sorted(result.roles)},
        "sense_accuracy": result.sense_accuracy,
        "senses_correct": result.senses_correct,
        "senses_total": result.senses_total,
    }


def score_dependency_files(
    gold_path: str | Path,
    pred_path: str | Path,
    gold_format: str | None = None,
    pred_format: str | None = None,
) -> DependencyScore:
    """``score_dependencies`` over two files read by ``albert_srl.formats``."""
    from albert_srl.formats import read

    try:
        return score_dependencies(
            read(gold_path, gold_format), read(pred_path, pred_format), str(gold_path), str(pred_path)
        )
    except _SentenceMismatch as error:
        raise _located(error) from None
