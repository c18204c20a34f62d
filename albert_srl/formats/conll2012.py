"""CoNLL-2012 (OntoNotes 5.0 ``*_gold_conll``) files: one word a row, a blank line after each sentence.

Columns (1-based): document id, part, word index, word, POS, parse bit, predicate lemma, roleset
(``get.01``; ``-`` on rows that are not predicates), word sense, speaker, named entities, then one
bracketed argument column per predicate row in sentence order, then the coreference column.
``#begin document`` / ``#end document`` lines separate documents. A sentence with no predicate has no
argument column. The coreference column may be left out (some releases do); a last column with no
``*`` in its first cell is the coreference column.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import TextIO

from albert_srl.bio import BracketError, brackets_from_spans, spans_from_brackets
from albert_srl.data import Argument, Frame, Predicate, Sentence
from albert_srl.errors import SRLFormatError
from albert_srl.formats.common import (
    OnError,
    check_predicate_cells,
    check_widths,
    lemma_and_sense,
    parse_each,
    read_blocks,
    roleset_cell,
    split_cells,
    write_rows,
)

FIRST_ARGUMENT_COLUMN = 11  # 0-based: the eleven fixed columns come first


def read_conll2012(path: str | Path, on_error: OnError | None = None) -> Iterator[Sentence]:
    """Stream the sentences of a CoNLL-2012 file (plain or gzip), with ``pos``, ``doc_id`` and ``part``.

    Each predicate row becomes ``Frame(Predicate(index, word, lemma, sense=roleset))`` whose arguments are
    the spans of its column, ``V`` (and ``C-V``) included, exactly as written. A bad sentence raises
    ``SRLFormatError``, or is handed to ``on_error`` and skipped.
    """
    blocks = read_blocks(path, comments_separate=True)
    yield from parse_each(
        path,
        blocks,
        lambda block: sentence_from_rows([split_cells(line) for line in block[1]], path, block[0]),
        on_error,
    )


def sentence_from_rows(rows: list[list[str]], path: str | Path, start: int) -> Sentence:
    """One sentence from its rows of cells; ``start`` is the 1-based line of the first row."""
    width = check_widths(rows, path, start)
    if width < FIRST_ARGUMENT_COLUMN:
        message = f"{width} columns where a CoNLL-2012 row has at least {FIRST_ARGUMENT_COLUMN}"
        raise SRLFormatError(str(path), start, message)
    predicates = [i for i, row in enumerate(rows) if row[7] != "-"]
    # Bracket cells always hold a '*'; coreference cells ('-', '(12)') never do.
    has_coreference = width > FIRST_ARGUMENT_COLUMN and "*" not in rows[0][-1]
    argument_columns = width - FIRST_ARGUMENT_COLUMN - has_coreference
    if len(predicates) != argument_columns:
        message = (
            f"{len(predicates)} predicate rows (roleset column 8 not '-') but {argument_columns} "
            "argument columns (one per predicate row expected)"
        )
        raise SRLFormatError(str(path), start, message)
    columns = list(zip(*rows, strict=True))
    words = list(columns[3])
    frames = []
    for k, index in enumerate(predicates):
        row = rows[index]
        lemma, sense = lemma_and_sense(none_if_dash(row[6]), row[7])
        column = FIRST_ARGUMENT_COLUMN + k
        arguments = arguments_from_column(list(columns[column]), words, path, start, column)
        frames.append(Frame(Predicate(index, words[index], lemma=lemma, sense=sense), arguments))
    pos = list(columns[4])
    return Sentence(
        words=words,
        frames=frames,
        pos=None if all(tag == "-" for tag in pos) else pos,
        doc_id=none_if_dash(rows[0][0]),
        part=none_if_dash(rows[0][1]),
    )


def arguments_from_column(
    column: list[str], words: list[str], path: str | Path, start: int, index: int
) -> list[Argument]:
    """The spans of one bracket column (0-based column ``index``) as arguments with their text."""
    try:
        spans = spans_from_brackets(column)
    except BracketError as error:
        raise SRLFormatError(str(path), start + error.row, f"column {index + 1}: {error}") from None
    return [Argument(role, s, e, text=" ".join(words[s:e])) for role, s, e in spans]


def none_if_dash(cell: str) -> str | None:
    return None if cell == "-" else cell


def write_conll2012(sentences: Iterable[Sentence], stream: TextIO) -> int:
    """Write tab-separated CoNLL-2012 rows; columns the sentences do not know are ``-`` (``*`` for the
    parse bit and named entities). Returns the number of sentences written."""
    return write_rows(map(rows_from_sentence, sentences), stream)


def check_writable(sentence: Sentence) -> None:
    """The roleset cell marks a predicate (its sense, or its lemma or word without one): ``-`` would
    read as none."""
    cells = ((f.predicate.index, predicate_roleset(f.predicate)) for f in sentence.frames)
    check_predicate_cells(cells, lambda cell: "no predicate" if cell == "-" else None, "CoNLL-2012")


def predicate_roleset(predicate: Predicate) -> str:
    return roleset_cell(predicate.lemma, predicate.sense, predicate.text)


def rows_from_sentence(sentence: Sentence) -> list[list[str]]:
    """The CoNLL-2012 rows of one sentence, frames in predicate order (one column each)."""
    frames = frames_by_position(sentence)
    columns = bracket_columns(frames, len(sentence.words))
    by_index = {frame.predicate.index: frame for frame in frames}
    rows = []
    for i, word in enumerate(sentence.words):
        lemma, roleset = "-", "-"
        if i in by_index:
            predicate = by_index[i].predicate
            lemma = predicate.lemma or "-"
            roleset = predicate_roleset(predicate)
        pos = sentence.pos[i] if sentence.pos else "-"
        fixed = [sentence.doc_id or "-", sentence.part or "-", str(i), word, pos, "*", lemma, roleset]
        rows.append([*fixed, "-", "-", "*", *(column[i] for column in columns), "-"])
    return rows


def bracket_columns(frames: list[Frame], length: int) -> list[list[str]]:
    """One column of bracket cells (``(ARG0*``, ``*``, ``*)``) per frame, over ``length`` words."""
    return [brackets_from_spans([(a.role, a.start, a.end) for a in f.arguments], length) for f in frames]


def frames_by_position(sentence: Sentence) -> list[Frame]:
    """The frames sorted by predicate position, the order of the columns; one predicate per word."""
    frames = sorted(sentence.frames, key=lambda frame: frame.predicate.index)
    for before, after in pairwise(frames):
        if before.predicate.index == after.predicate.index:
            raise ValueError(
                f"two frames for the predicate at word {before.predicate.index} of {sentence.words!r}: "
                "a CoNLL file has one column per predicate word"
            )
    return frames
