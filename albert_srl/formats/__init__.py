"""Readers and writers of SRL corpora: one module a file format, all meeting at ``Sentence``.

``read`` streams the sentences of a file (plain or gzip), ``write`` writes them, ``convert`` does both,
``detect_format`` tells a file's format from its first lines and its name. Format names: ``conll12``
(OntoNotes ``*_gold_conll``), ``conll05`` (words + lemma + props, or props alone), ``props`` (writing:
the props alone, ``srl-eval.pl``'s input), ``conllu`` (CoNLL-U PropBank), ``jsonl`` (the library's own
schema) and ``allennlp`` (the AllenNLP predictor's JSON); writing only: ``text`` (readable lines) and
``html`` (a standalone page, ``albert_srl.render``). ``sentence_writer`` writes one sentence at a time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from albert_srl.data import Sentence, check_sentence
from albert_srl.errors import SRLFormatError
from albert_srl.files import PathOrStream, open_output, read_lines, refuse_input_as_output
from albert_srl.formats import conll2005, conll2012, conllu
from albert_srl.formats.allennlp import read_allennlp, write_allennlp
from albert_srl.formats.common import OnError, split_cells
from albert_srl.formats.conll2005 import read_conll2005, write_conll2005
from albert_srl.formats.conll2012 import read_conll2012, write_conll2012
from albert_srl.formats.conllu import read_conllu, write_conllu
from albert_srl.formats.jsonl import read_jsonl, write_jsonl
from albert_srl.formats.readable import write_readable
from albert_srl.render import page_end, page_start, write_html

FORMATS = ("conll12", "conll05", "conllu", "jsonl", "allennlp")
READERS: dict[str, Callable[..., Iterator[Sentence]]] = {
    "conll12": read_conll2012,
    "conll05": read_conll2005,
    "props": read_conll2005,
    "conllu": read_conllu,
    "jsonl": read_jsonl,
    "allennlp": read_allennlp,
}
WRITERS: dict[str, Callable[[Iterable[Sentence], TextIO], int]] = {
    "conll12": write_conll2012,
    "conll05": write_conll2005,
    "props": lambda sentences, stream: write_conll2005(sentences, stream, props_only=True),
    "conllu": write_conllu,
    "jsonl": write_jsonl,
    "allennlp": write_allennlp,
    "text": write_readable,
    "html": write_html,
}
# What a format's reader would misread, beyond what every writer checks (``check_sentence``).
FORMAT_CHECKS: dict[str, Callable[[Sentence], None]] = {
    "conll12": conll2012.check_writable,
    "conll05": conll2005.check_writable,
    "props": conll2005.check_writable,
    "conllu": conllu.check_writable,
}
EXTENSIONS = {
    "_conll": "conll12",
    ".conll12": "conll12",
    ".conll": "conll12",
    ".conllu": "conllu",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".props": "conll05",
    ".conll05": "conll05",
}
CONLLU_ID = re.compile(r"\d+(-\d+|\.\d+)?")

__all__ = [
    "FORMATS",
    "convert",
    "detect_format",
    "read",
    "read_allennlp",
    "read_conll2005",
    "read_conll2012",
    "read_conllu",
    "read_jsonl",
    "write",
]


def read(path: str | Path, format: str | None = None, on_error: OnError | None = None) -> Iterator[Sentence]:
    """Stream the sentences of ``path`` (plain or gzip) in ``format``, detected when ``None``.

    A bad sentence raises ``SRLFormatError`` naming the file and line, as the sentences are read; with
    ``on_error`` it is handed to that function instead and skipped, and reading goes on.
    """
    format = format or detect_format(path)
    if format not in READERS:
        raise ValueError(f"unknown format {format!r}; expected one of {', '.join(READERS)}")
    return READERS[format](path, on_error=on_error)


def write(sentences: Iterable[Sentence], path_or_stream: PathOrStream, format: str) -> int:
    """Write ``sentences`` in ``format`` to a path (gzip when it ends in ``.gz``), ``"-"`` (standard
    output) or an open text stream. Returns the number of sentences written.

    Each sentence is checked first (``check_sentence``, and ``FORMAT_CHECKS``: a predicate marked by a
    cell that the format's reader would take for no predicate): one that no reader would read back raises
    ``SRLFormatError`` naming the output and the sentence's number, the sentences before it written.
    """
    if format not in WRITERS:
        raise ValueError(f"unknown format {format!r}; expected one of {', '.join(WRITERS)}")
    name = (
        path_or_stream
        if isinstance(path_or_stream, str | Path)
        else getattr(path_or_stream, "name", "<stream>")
    )
    with open_output(path_or_stream) as stream:
        return WRITERS[format](checked(sentences, str(name), format), stream)


@contextmanager
def sentence_writer(stream: TextIO, format: str) -> Iterator[Callable[[Sentence], None]]:
    """A function that writes one sentence at a time to the open ``stream`` in ``format`` (as ``write``
    does), for output that arrives a sentence at a time; an ``html`` page's head and end are written
    around the sentences."""
    if format not in WRITERS:
        raise ValueError(f"unknown format {format!r}; expected one of {', '.join(WRITERS)}")

    def write_one(sentence: Sentence) -> None:
        if format == "html":
            stream.write(sentence.html() + "\n")
        else:
            write([sentence], stream, format)

    if format == "html":
        stream.write(page_start())
    yield write_one
    if format == "html":
        stream.write(page_end())


def checked(sentences: Iterable[Sentence], output: str, format: str) -> Iterator[Sentence]:
    format_check = FORMAT_CHECKS.get(format)
    for number, sentence in enumerate(sentences, start=1):
        try:
            check_sentence(sentence)
            if format_check is not None:
                format_check(sentence)
        except ValueError as error:
            raise SRLFormatError(output, None, f"cannot write sentence {number}: {error}") from None
        yield sentence


def convert(
    in_path: str | Path,
    out_path: PathOrStream,
    to: str,
    from_: str | None = None,
    on_error: OnError | None = None,
) -> int:
    """Read ``in_path`` (format ``from_``, detected when ``None``) and write it to ``out_path`` in ``to``,
    streaming. Returns the number of sentences written. An output that is the input file is refused
    (``SRLFormatError``); bad sentences raise, or go to ``on_error`` (see ``read``)."""
    refuse_input_as_output(out_path, [in_path])
    return write(read(in_path, from_, on_error), out_path, to)


def detect_format(path: str | Path) -> str:
    """The format of ``path`` from its first line that is not a comment, then from its name.

    JSON objects are ``allennlp`` when they have ``verbs``, else ``jsonl``; a row whose third column is
    the word index ``0`` is ``conll12``; one that starts with a CoNLL-U ID and has ten columns or more
    is ``conllu``; other column files are ``conll05``.
    """
    line = first_content_line(path)
    if line is None:
        raise SRLFormatError(str(path), None, "empty file: no sentences in it")
    by_content = format_of_line(line)
    if by_content is not None:
        return by_content
    name = str(path).removesuffix(".gz")
    for extension, format in EXTENSIONS.items():
        if name.endswith(extension):
            return format
    return "conll05"


def first_content_line(path: str | Path) -> str | None:
    """The first line that is neither blank nor a comment (``#begin document`` counts as content)."""
    for line in read_lines(path):
        if line.strip() and (not line.startswith("#") or line.startswith("#begin document")):
            return line
    return None


def format_of_line(line: str) -> str | None:
    """The format that a first content line shows, or ``None`` when it could be several."""
    if line.startswith("#begin document"):
        return "conll12"
    if line.lstrip().startswith("{"):
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            return "jsonl"
        return "allennlp" if isinstance(obj, dict) and "verbs" in obj else "jsonl"
    cells = split_cells(line)
    if len(cells) >= 11 and cells[2] == "0" and cells[0] != "1":
        return "conll12"
    if len(cells) >= 10 and CONLLU_ID.fullmatch(cells[0]):
        return "conllu"
    return None
