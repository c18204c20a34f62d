"""What every reader and writer needs: UTF-8 text in and out (plain or gzip), blocks of lines, cells.

Readers stream: a file is read line by line and handed on one sentence (one block of lines) at a time,
with the 1-based line where the block starts so that errors can name ``path:line``.
"""

from __future__ import annotations

import gzip
import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, BinaryIO, TextIO

from albert_srl.errors import SRLFormatError

PathOrStream = str | Path | IO[str]
GZIP_MAGIC = b"\x1f\x8b"


def open_binary(path: str | Path) -> BinaryIO:
    """``path`` as a byte stream, gunzipped when its content is gzip (whatever its name)."""
    raw = open(path, "rb")  # noqa: SIM115 - handed to the caller, who closes it
    if raw.peek(2)[:2] == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    return raw


def read_lines(path: str | Path) -> Iterator[str]:
    """The lines of a UTF-8 file (plain or gzip) without their line ends, streamed.

    Non-UTF-8 bytes and a damaged gzip stream raise ``SRLFormatError`` (with the line of the bad byte).
    """
    try:
        with (
            open_binary(path) as binary,
            io.TextIOWrapper(binary, encoding="utf-8-sig", newline="\n") as text,
        ):
            for line in text:
                yield line.rstrip("\r\n")
    except UnicodeDecodeError:
        line, message = bad_byte(path)
        raise SRLFormatError(str(path), line, message) from None
    except (gzip.BadGzipFile, EOFError) as error:
        raise SRLFormatError(str(path), None, f"damaged gzip file ({error})") from None


def bad_byte(path: str | Path) -> tuple[int | None, str]:
    """The 1-based line of the first byte that is not UTF-8, and a message naming it.

    Found by a second pass so that reading well-formed files pays nothing for it.
    """
    with open_binary(path) as binary:
        for number, raw in enumerate(binary, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as error:
                byte = raw[error.start]
                return number, f"not UTF-8 text: byte 0x{byte:02x} at column {error.start + 1}"
    return None, "not UTF-8 text (a multi-byte character is cut off at the end of the file)"


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


@contextmanager
def open_output(target: PathOrStream) -> Iterator[TextIO]:
    """A UTF-8 text stream to write to: a path (gzip when it ends in ``.gz``), ``"-"`` for standard
    output, or an open text stream (left open)."""
    if not isinstance(target, str | Path):
        yield target  # type: ignore[misc]
    elif str(target) == "-":
        yield sys.stdout
    elif str(target).endswith(".gz"):
        with gzip.open(target, "wt", encoding="utf-8", newline="\n") as stream:
            yield stream  # type: ignore[misc]
    else:
        with open(target, "w", encoding="utf-8", newline="\n") as stream:
            yield stream
