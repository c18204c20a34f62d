"""CoNLL-U PropBank files (Universal PropBank 1.0): dependency-based SRL on CoNLL-U sentences.

The ten CoNLL-U columns, then column 11 the roleset (``come.03``; ``_`` if not a predicate), then one
column per predicate with the role on the argument's head word (``ARG0``, ``ARGM-TMP``, ``V`` or ``_``).
Some UP 1.0 languages (Chinese) use the older layout where column 9 flags predicates with ``Y`` and
column 10 holds the roleset; a sentence with a ``Y`` there is read that way.

Lines are parsed by the ``conllu`` library through its public API (``conllu.parse`` with ``fields`` and
``field_parsers``), one sentence (block) at a time so that errors name their line and a bad sentence can be
skipped; its multiword-token lines (``1-2``) and empty nodes (``1.1``) are not words and are skipped. The
fields are the ten CoNLL-U columns, the roleset, and ``arguments``: a field parser that takes the rest of the
row, since a sentence has as many argument columns as predicates (conllu's README: a field parser gets
the whole row "so you can merge several tokens into one").
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import conllu
from conllu import Metadata, Token, TokenList

from albert_srl.data import Argument, Frame, Predicate, Sentence
from albert_srl.errors import SRLFormatError
from albert_srl.formats.common import (
    OnError,
    check_predicate_cells,
    lemma_and_sense,
    parse_each,
    read_blocks,
    roleset_cell,
    split_cells,
)
from albert_srl.formats.conll2012 import frames_by_position

log = logging.getLogger(__name__)


COLUMNS = ("id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc")  # CoNLL-U's ten
FIELDS = (*COLUMNS, "roleset", "arguments")
WORD_ID = re.compile(r"0|[1-9][0-9]*")
OTHER_NODE = re.compile(r"(?P<first>[1-9][0-9]*)-(?P<last>[1-9][0-9]*)|[0-9]+\.[1-9][0-9]*")  # 1-2, 1.1


class BadNode(ValueError):
    """A row whose ID is none of a word's, a multiword token's or an empty node's."""


def node_id(cells: list[str], i: int) -> int | str | None:
    """A word's ID as an int; a multiword token's (``1-2``) or an empty node's (``1.1``) as text, and
    ``_`` as ``None``: rows that are not words."""
    value = cells[i]
    if value in ("", "_"):
        return None
    if WORD_ID.fullmatch(value):
        return int(value)
    other = OTHER_NODE.fullmatch(value)
    if other is not None and (not other["first"] or int(other["last"]) >= int(other["first"])):
        return value
    raise BadNode(f"{value!r} is not a CoNLL-U ID (a word number, a range such as 1-2, an empty node 1.1)")


def cell_text(cells: list[str], i: int) -> str:
    return cells[i]


def rest_of_row(cells: list[str], i: int) -> list[str]:
    return cells[i:]


FIELD_PARSERS: dict[str, Callable[[list[str], int], Any]] = {
    **dict.fromkeys(FIELDS, cell_text),
    "id": node_id,
    "arguments": rest_of_row,
}
ROLESET = 10  # 0-based column of the roleset; ``LEGACY_ROLESET`` in the Chinese layout
LEGACY_ROLESET = 9
MIN_COLUMNS = 10  # the ten CoNLL-U columns
EMPTY = frozenset({"_", ""})  # "" where a line ends in empty tab-separated cells


def read_conllu(path: str | Path, on_error: OnError | None = None) -> Iterator[Sentence]:
    """Stream the sentences of a CoNLL-U PropBank file (plain or gzip) as dependency-based sentences.

    Each argument covers its head word only (``end == start + 1``); ``pos`` is XPOS (UPOS where XPOS is
    ``_``), ``text`` the ``# text`` comment, ``doc_id`` the last ``# newdoc id``. A bad sentence raises
    ``SRLFormatError``, or is handed to ``on_error`` and skipped.
    """
    doc_id: str | None = None

    def parse(block: tuple[int, list[str]]) -> Sentence | None:
        nonlocal doc_id
        start, lines = block
        for offset, line in enumerate(lines):
            if not line.startswith("#"):
                check_row(line, path, start + offset)
        tokens = parse_block(lines, path, start)
        if "newdoc id" in tokens.metadata or "newdoc" in tokens.metadata:
            doc_id = tokens.metadata.get("newdoc id")
        rows = [row_cells(token) for token in tokens if isinstance(token["id"], int)]
        return sentence_from_rows(rows, tokens.metadata, doc_id, path, start) if rows else None

    yield from parse_each(path, read_blocks(path), parse, on_error)


def check_row(line: str, path: str | Path, number: int) -> None:
    """A row has the ten CoNLL-U columns, separated by tabs (or, as ``conllu`` also reads, two spaces)."""
    columns = len(split_cells(line))
    if columns < MIN_COLUMNS:
        message = f"{columns} columns where a CoNLL-U row has {MIN_COLUMNS} or more"
        raise SRLFormatError(str(path), number, message)
    if "\t" not in line and "  " not in line.strip():
        raise SRLFormatError(str(path), number, "not a CoNLL-U line: its columns are not separated by tabs")


def parse_block(lines: list[str], path: str | Path, start: int) -> TokenList:
    """One sentence's lines parsed by ``conllu``; a row whose ID it cannot be is reported with its line."""
    try:
        return parse_text("\n".join(lines))
    except BadNode:
        for offset, line in enumerate(lines):
            if not line.startswith("#"):
                try:
                    parse_text(line)
                except BadNode as error:
                    raise SRLFormatError(str(path), start + offset, f"not a CoNLL-U line: {error}") from None
        raise


def parse_text(text: str) -> TokenList:
    return conllu.parse(text, fields=FIELDS, field_parsers=FIELD_PARSERS)[0]


def row_cells(token: Token) -> list[str]:
    """A word row's cells in column order: the ID, the text cells, then one cell an argument column."""
    arguments = token.get("arguments", [])
    return [*(value for key, value in token.items() if key != "arguments"), *arguments]


def sentence_from_rows(
    rows: list[list[str]], metadata: Metadata, doc_id: str | None, path: str | Path, start: int
) -> Sentence:
    """One sentence from the cells of its word rows (IDs parsed, other cells as text)."""
    roleset_column = LEGACY_ROLESET if any(cell(row, 8) == "Y" for row in rows) else ROLESET
    words = [row[1] for row in rows]
    predicates = [i for i, row in enumerate(rows) if cell(row, roleset_column) not in EMPTY]
    first = roleset_column + 1
    columns = [[cell(row, c) for row in rows] for c in range(first, max(map(len, rows)))]
    while len(columns) > len(predicates) and all(value in EMPTY for value in columns[-1]):
        columns.pop()  # UP writes an empty column for sentences without predicates
    if len(columns) != len(predicates):
        message = (
            f"{len(predicates)} predicates (roleset column {roleset_column + 1} not '_') "
            f"but {len(columns)} argument columns"
        )
        raise SRLFormatError(str(path), start, message)
    frames = []
    for index, column in zip(predicates, columns, strict=True):
        lemma, sense = lemma_and_sense(none_if_empty(rows[index][2]), rows[index][roleset_column])
        arguments = [
            Argument(role, i, i + 1, text=words[i]) for i, role in enumerate(column) if role not in EMPTY
        ]
        frames.append(Frame(Predicate(index, words[index], lemma=lemma, sense=sense), arguments))
    pos = [cell(row, 4) if cell(row, 4) not in EMPTY else cell(row, 3) for row in rows]
    return Sentence(
        words=words,
        frames=frames,
        text=metadata.get("text"),
        pos=None if all(tag in EMPTY for tag in pos) else pos,
        doc_id=doc_id,
        dependency=True,
    )


def cell(row: list[str], column: int) -> str:
    """A row's cell, ``""`` past its end (``conllu`` drops trailing empty cells)."""
    return row[column] if column < len(row) else ""


def none_if_empty(value: str) -> str | None:
    return None if value in EMPTY else value


def write_conllu(sentences: Iterable[Sentence], stream: TextIO) -> int:
    """Write CoNLL-U PropBank sentences with ``conllu``'s serializer: ID, FORM, LEMMA (predicates only),
    XPOS, the roleset column and one column per predicate; columns the sentence does not know are ``_``.

    A span argument is written on its last word, its head in English phrases (an approximation: CoNLL-U
    PropBank marks head words), so spans do not survive the trip: one warning at the end says how many
    arguments lost their extent, and how many were dropped because another one ended on the same word.
    Returns the number of sentences written.
    """
    doc_id: str | None = None
    count = 0
    loss = SpanLoss()
    for sentence in sentences:
        loss.count(sentence)
        metadata = Metadata()
        if sentence.doc_id is not None and sentence.doc_id != doc_id:
            metadata["newdoc id"] = sentence.doc_id
        doc_id = sentence.doc_id
        if sentence.text is not None:
            metadata["text"] = sentence.text
        stream.write(TokenList(tokens_from_sentence(sentence), metadata).serialize())
        count += 1
    loss.warn()
    return count


@dataclass
class SpanLoss:
    """What writing span arguments as head words loses: the tally behind ``write_conllu``'s warning."""

    arguments: int = 0
    shortened: int = 0  # multi-word arguments written as their last word only
    dropped: int = 0  # arguments overwritten by another of the same frame ending on the same word
    sentences: int = 0  # sentences that lost anything

    def count(self, sentence: Sentence) -> None:
        if sentence.dependency:
            return
        before = (self.shortened, self.dropped)
        for frame in sentence.frames:
            ends = [a.end for a in frame.arguments]
            self.arguments += len(ends)
            self.shortened += sum(a.end - a.start > 1 for a in frame.arguments)
            self.dropped += len(ends) - len(set(ends))
        self.sentences += before != (self.shortened, self.dropped)

    def warn(self) -> None:
        if not (self.shortened or self.dropped):
            return
        dropped = (
            f", and {self.dropped:,} were dropped (another argument of the predicate ends on the same word)"
        )
        log.warning(
            "CoNLL-U PropBank marks one head word per argument: %s of %s arguments (in %s sentences) span "
            "several words and were written as their last word only%s; read back, they cover that word "
            "alone (docs/formats.md)",
            f"{self.shortened:,}",
            f"{self.arguments:,}",
            f"{self.sentences:,}",
            dropped if self.dropped else "",
        )


def check_writable(sentence: Sentence) -> None:
    """The roleset cell marks a predicate (its sense, or its lemma or word without one): ``_`` would
    read as none."""
    cells = ((f.predicate.index, predicate_roleset(f.predicate, sentence.words)) for f in sentence.frames)
    check_predicate_cells(cells, lambda cell: "no predicate" if cell in EMPTY else None, "CoNLL-U")


def predicate_roleset(predicate: Predicate, words: list[str]) -> str:
    return roleset_cell(predicate.lemma, predicate.sense, words[predicate.index])


def tokens_from_sentence(sentence: Sentence) -> list[Token]:
    frames = frames_by_position(sentence)
    length = len(sentence.words)
    columns = [["_"] * length for _ in frames]
    for column, frame in zip(columns, frames, strict=True):
        for argument in frame.arguments:
            column[argument.end - 1] = argument.role
    by_index = {frame.predicate.index: frame.predicate for frame in frames}
    names = (*COLUMNS, "roleset", *(f"argument{k}" for k in range(len(columns))))
    tokens = []
    for i, word in enumerate(sentence.words):
        predicate = by_index.get(i)
        lemma = (predicate.lemma or "_") if predicate else "_"
        roleset = predicate_roleset(predicate, sentence.words) if predicate else "_"
        pos = sentence.pos[i] if sentence.pos else "_"
        cells = [i + 1, word, lemma, "_", pos, "_", "_", "_", "_", "_", roleset, *(c[i] for c in columns)]
        tokens.append(Token(zip(names, cells, strict=True)))
    return tokens
