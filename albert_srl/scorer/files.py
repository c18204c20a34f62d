"""Scoring files: any two of the supported formats, or ``srl-eval.pl``'s own props input, with errors
that name the file and the line where a misaligned sentence starts."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from albert_srl.bio import BracketError, spans_from_brackets
from albert_srl.data import Argument, Frame, Predicate, Sentence
from albert_srl.errors import SRLFormatError
from albert_srl.files import read_lines
from albert_srl.scorer.dependency import DependencyScore, score_dependencies
from albert_srl.scorer.spans import SentenceMismatch, SpanScore, score

log = logging.getLogger(__name__)
Score = TypeVar("Score", SpanScore, DependencyScore)


def evaluate_files(
    gold_path: str | Path,
    pred_path: str | Path,
    gold_format: str | None = None,
    pred_format: str | None = None,
    dependency: bool | None = None,
) -> SpanScore | DependencyScore:
    """Score two files the way their corpus asks: head-word (CoNLL-2009) scoring when ``dependency`` is
    true, or, when it is ``None``, when the gold file is dependency-based (CoNLL-U PropBank, or JSON lines
    written from it); span scoring as ``srl-eval.pl`` otherwise."""
    if dependency is None:
        first = next(iter(_read_sentences(gold_path, gold_format)), None)
        dependency = first is not None and first.dependency
    if dependency:
        return score_dependency_files(gold_path, pred_path, gold_format, pred_format)
    return score_files(gold_path, pred_path, gold_format, pred_format)


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
    return _score_pair(score, gold_path, pred_path, gold_format, pred_format)


def _located(error: SentenceMismatch) -> SRLFormatError:
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
    for line in read_lines(path):
        cells = line.split()
        if cells:
            has_columns = len(cells) > 1 or cells[0] == "-"  # a lone cell may be a JSON line
            return has_columns and all(_BRACKET_CELL.match(cell) for cell in cells[1:])
    return False


def read_props(path: str | Path) -> Iterator[Sentence]:
    """Read srl-eval.pl's own input: one word a line, the predicate's lemma (or ``-``) then one bracket
    column per predicate, a blank line after each sentence (plain or ``.gz``).

    Props files have no words: ``Sentence.words`` holds ``"_"`` per word and each ``Predicate`` has
    ``text`` and ``lemma`` set to the lemma.
    """
    rows: list[list[str]] = []
    start = 1
    for number, line in enumerate(read_lines(path), start=1):
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
    for number, line in enumerate(read_lines(path), start=1):
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


def score_dependency_files(
    gold_path: str | Path,
    pred_path: str | Path,
    gold_format: str | None = None,
    pred_format: str | None = None,
) -> DependencyScore:
    """``score_dependencies`` over two files read by ``albert_srl.formats``."""
    return _score_pair(score_dependencies, gold_path, pred_path, gold_format, pred_format)


def _score_pair(
    scorer: Callable[[Iterable[Sentence], Iterable[Sentence], str, str], Score],
    gold_path: str | Path,
    pred_path: str | Path,
    gold_format: str | None,
    pred_format: str | None,
) -> Score:
    gold, pred = _read_sentences(gold_path, gold_format), _read_sentences(pred_path, pred_format)
    try:
        return scorer(gold, pred, str(gold_path), str(pred_path))
    except SentenceMismatch as error:
        raise _located(error) from None
