"""CoNLL-2005 files: one word a row, a blank line after each sentence, one bracket column per predicate.

Two layouts, told apart per sentence:

* *props* (what ``srl-eval.pl`` reads): the predicate lemma or ``-``, then the bracket columns. Props have
  no words: unless a words file is given, every word is the placeholder ``"_"`` and each predicate's
  ``text`` is its lemma (as ``albert_srl.scorer.read_props`` does).
* *words + props*: the word, any syntax columns, the predicate lemma or ``-``, then the bracket columns.
  The lemma column is the one whose non-``-`` rows are as many as the columns after it.

Predicate rows are those whose lemma is not ``-``; the k-th bracket column belongs to the k-th of them.
Labels (``A0``, ``AM-TMP``, ``C-A1``, ``R-A0``) are kept as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from albert_srl.data import Frame, Predicate, Sentence
from albert_srl.errors import SRLFormatError
from albert_srl.formats.common import (
    OnError,
    check_predicate_cells,
    check_widths,
    parse_each,
    read_blocks,
    split_cells,
    write_rows,
)
from albert_srl.formats.conll2012 import arguments_from_column, bracket_columns, frames_by_position

PLACEHOLDER_WORD = "_"
BRACKET_CELL = re.compile(r"^(\([^\s*()]+)?\*\)?$")


def read_conll2005(
    props_path: str | Path, words_path: str | Path | None = None, on_error: OnError | None = None
) -> Iterator[Sentence]:
    """Stream the sentences of a CoNLL-2005 file (props, or words + props; plain or gzip).

    With ``words_path`` (a file of one word a row, first column, sentences in the same order) the words
    replace the placeholders of a props file. A bad sentence raises ``SRLFormatError``, or (without
    ``words_path``, whose sentences must stay aligned) is handed to ``on_error`` and skipped.
    """
    blocks = read_blocks(props_path)
    if words_path is None:
        yield from parse_each(
            props_path,
            blocks,
            lambda block: sentence_from_rows([split_cells(line) for line in block[1]], props_path, block[0]),
            on_error,
        )
        return
    word_blocks = read_blocks(words_path)
    for start, lines in blocks:
        sentence = sentence_from_rows([split_cells(line) for line in lines], props_path, start)
        words = next(word_blocks, None)
        if words is None:
            raise SRLFormatError(str(words_path), None, f"has fewer sentences than {props_path}")
        yield with_words(sentence, [split_cells(line)[0] for line in words[1]], words_path, words[0])
    extra = next(word_blocks, None)
    if extra is not None:
        raise SRLFormatError(str(words_path), extra[0], f"has more sentences than {props_path}")


def with_words(sentence: Sentence, words: list[str], path: str | Path, start: int) -> Sentence:
    """``sentence`` (read from props) with its real words and predicate and argument texts."""
    if len(words) != len(sentence.words):
        message = f"{len(words)} words where the props sentence has {len(sentence.words)}"
        raise SRLFormatError(str(path), start, message)
    sentence.words = words
    for frame in sentence.frames:
        frame.predicate.text = words[frame.predicate.index]
        for argument in frame.arguments:
            argument.text = " ".join(words[argument.start : argument.end])
    return sentence


def sentence_from_rows(rows: list[list[str]], path: str | Path, start: int) -> Sentence:
    """One sentence from its rows of cells, in either layout; ``start`` is its first line."""
    width = check_widths(rows, path, start)
    if is_props(rows):
        return sentence_from_columns(None, 0, rows, path, start)
    lemma_column = find_lemma_column(rows, width)
    if lemma_column is None:
        message = (
            "no predicate-lemma column: expected a column whose rows other than '-' (the predicates) are "
            "as many as the bracket columns after it"
        )
        raise SRLFormatError(str(path), start, message)
    return sentence_from_columns(0, lemma_column, rows, path, start)


def is_props(rows: list[list[str]]) -> bool:
    """Props rows are a lemma then bracket cells only; a words row has a word then a lemma or ``-``."""
    return all(BRACKET_CELL.match(cell) for row in rows for cell in row[1:])


def find_lemma_column(rows: list[list[str]], width: int) -> int | None:
    """The lemma column of a words + props sentence, searched from the right: a bracket column never
    passes the test there (it has no ``-`` rows, and fewer columns after it than rows), the lemma
    column does."""
    for column in range(width - 1, 0, -1):
        predicates = sum(row[column] != "-" for row in rows)
        if predicates == width - 1 - column:
            return column
    return None


def sentence_from_columns(
    word_column: int | None, lemma_column: int, rows: list[list[str]], path: str | Path, start: int
) -> Sentence:
    """The sentence whose words (``None``: placeholders) and lemmas are in the given columns, the
    bracket columns right after the lemmas."""
    width = len(rows[0])
    words = [row[word_column] for row in rows] if word_column is not None else [PLACEHOLDER_WORD] * len(rows)
    predicates = [i for i, row in enumerate(rows) if row[lemma_column] != "-"]
    if len(predicates) != width - lemma_column - 1:
        message = (
            f"{len(predicates)} predicates (lemma column {lemma_column + 1} not '-') but "
            f"{width - lemma_column - 1} argument columns"
        )
        raise SRLFormatError(str(path), start, message)
    frames = []
    for k, index in enumerate(predicates):
        lemma = rows[index][lemma_column]
        if BRACKET_CELL.match(lemma):  # written back, it would read as a bracket column
            message = f"predicate lemma {lemma!r} (column {lemma_column + 1}) is a bracket cell"
            raise SRLFormatError(str(path), start + index, message)
        text = words[index] if word_column is not None else lemma
        column = lemma_column + 1 + k
        arguments = arguments_from_column([row[column] for row in rows], words, path, start, column)
        frames.append(Frame(Predicate(index, text, lemma=lemma), arguments))
    return Sentence(words=words, frames=frames)


def write_conll2005(sentences: Iterable[Sentence], stream: TextIO, props_only: bool = False) -> int:
    """Write tab-separated CoNLL-2005 rows: the word (left out with ``props_only``, which gives
    ``srl-eval.pl``'s input), the predicate lemma (or its word when the lemma is unknown) or ``-``, then
    the bracket columns. Returns the number of sentences written."""
    rows = map(rows_from_sentence, sentences)
    return write_rows(([row[1:] for row in r] for r in rows) if props_only else rows, stream)


def check_writable(sentence: Sentence) -> None:
    """The lemma cell marks a predicate: ``-`` would read as none, a bracket cell as a props column."""
    check_predicate_cells(
        ((f.predicate.index, lemma_cell(f)) for f in sentence.frames), misread, "CoNLL-2005"
    )


def misread(cell: str) -> str | None:
    return "no predicate" if cell == "-" else "a bracket cell" if BRACKET_CELL.match(cell) else None


def lemma_cell(frame: Frame) -> str:
    """A predicate's lemma column: its lemma, or its word where the lemma is unknown."""
    return frame.predicate.lemma or frame.predicate.text


def rows_from_sentence(sentence: Sentence) -> list[list[str]]:
    """The word, lemma and bracket cells of each word of ``sentence``."""
    frames = frames_by_position(sentence)
    length = len(sentence.words)
    columns = bracket_columns(frames, length)
    lemmas = ["-"] * length
    for frame in frames:
        lemmas[frame.predicate.index] = lemma_cell(frame)
    return [[word, lemmas[i], *(column[i] for column in columns)] for i, word in enumerate(sentence.words)]
