"""What every reader needs: blocks of lines, cells, roleset cells (files open in ``albert_srl.files``).

Readers stream: a file is read line by line and handed on one sentence (one block of lines) at a time,
with the 1-based line where the block starts so that errors can name ``path:line``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO, TypeVar

from albert_srl.data import check_sentence
from albert_srl.errors import SRLFormatError
from albert_srl.files import read_lines

Unit = TypeVar("Unit")
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")  # no column file holds these (tab is a separator)
OnError = Callable[[SRLFormatError], None]


def parse_each(
    path: str | Path, units: Iterable[Unit], parse: Callable[[Unit], Any], on_error: OnError | None
) -> Iterator[Any]:
    """``parse`` each unit of a file: a sentence's block or line, a tuple whose first item is its 1-based
    line. A unit that is not a sentence, or whose sentence breaks ``check_sentence`` (so that no writer
    could write it), raises ``SRLFormatError`` naming that line; with ``on_error`` the error is handed to
    it and the unit skipped, so that the good sentences of a file with a few bad ones are all read.
    Errors of the whole file (unreadable, damaged gzip) raise."""
    for unit in units:
        try:
            sentence = parse(unit)
            if sentence is not None:
                try:
                    check_sentence(sentence)
                except ValueError as error:
                    raise SRLFormatError(str(path), unit[0], str(error)) from None  # type: ignore[index]
        except SRLFormatError as error:
            if on_error is None:
                raise
            on_error(error)
            continue
        if sentence is not None:
            yield sentence


def read_blocks(path: str | Path, comments_separate: bool = False) -> Iterator[tuple[int, list[str]]]:
    """Blocks of non-blank lines, one per sentence, each with the 1-based line where it starts.

    With ``comments_separate`` a line starting with ``#`` (CoNLL-2012's ``#begin document``) ends a
    block and is dropped, as a blank line is; otherwise comments stay in their block (CoNLL-U metadata).
    A file with no block at all raises ``SRLFormatError``: it is empty.
    """
    block: list[str] = []
    start = 0
    found = False
    for number, line in enumerate(read_lines(path), start=1):
        bad = CONTROL.search(line)
        if bad is not None:
            message = f"control character U+{ord(bad.group()):04X} at column {bad.start() + 1}"
            raise SRLFormatError(str(path), number, message)
        if not line.strip() or (comments_separate and line.startswith("#")):
            if block:
                found = True
                yield start, block
                block = []
            continue
        if not block:
            start = number
        block.append(line)
    if block:
        yield start, block
    elif not found:
        raise SRLFormatError(str(path), None, "empty file: no sentences in it")


def split_cells(line: str) -> list[str]:
    """The columns of a CoNLL line: tab-separated when it has tabs (words may hold spaces), else
    separated by runs of spaces, as in the aligned CoNLL-2005 and OntoNotes files."""
    return line.split("\t") if "\t" in line else line.split()


def check_widths(rows: list[list[str]], path: str | Path, start: int) -> int:
    """The common number of columns of a sentence's rows; a row with another number is an error."""
    width = len(rows[0])
    for offset, row in enumerate(rows):
        if len(row) != width:
            message = f"{len(row)} columns where the sentence's first line has {width}"
            raise SRLFormatError(str(path), start + offset, message)
    return width


def lemma_and_sense(lemma: str | None, roleset: str) -> tuple[str | None, str | None]:
    """A predicate's lemma and sense from its lemma cell and roleset cell.

    A PropBank roleset (``get.01``) gives both (the lemma is the part before the last dot; EWT's lemma
    column may disagree, as ``liken`` for ``like.01``); an OntoNotes frameset number (``01``) joins the
    lemma cell; anything else marks a predicate of unknown sense (the writers put the lemma or the word
    there when a frame has no sense).
    """
    if "." in roleset:
        return roleset.rsplit(".", 1)[0], roleset
    if roleset.isdigit() and lemma:
        return lemma, f"{lemma}.{roleset}"
    return lemma, None


def roleset_cell(lemma: str | None, sense: str | None, word: str) -> str:
    """The roleset cell that ``lemma_and_sense`` reads back: the sense, or a sense-less marker."""
    return sense or lemma or word


def check_predicate_cells(
    cells: Iterable[tuple[int, str]], reads_as: Callable[[str], str | None], format: str
) -> None:
    """Raise ``ValueError`` where the cell that marks a predicate in ``format`` (word index, cell) would
    read back as something else: ``reads_as`` names what, or gives ``None`` for a cell read as a
    predicate. Sentences from another format, or built in code, can hold such a lemma or word."""
    for index, cell in cells:
        misread = reads_as(cell)
        if misread is not None:
            raise ValueError(
                f"the predicate at word {index} would be marked {cell!r}, which {format} reads as {misread}"
            )


def write_rows(sentences_rows: Iterable[list[list[str]]], stream: TextIO) -> int:
    """Write each sentence's rows as tab-separated lines, a blank line after each sentence; returns the
    number of sentences written. The writer of every column format."""
    count = 0
    for rows in sentences_rows:
        stream.write("".join("\t".join(row) + "\n" for row in rows) + "\n")
        count += 1
    return count


def write_json_lines(objects: Iterable[dict[str, Any]], stream: TextIO) -> int:
    """Write one JSON object a line (UTF-8, not ASCII-escaped); returns the number written."""
    count = 0
    for obj in objects:
        stream.write(json.dumps(obj, ensure_ascii=False) + "\n")
        count += 1
    return count
