"""JSON lines, one sentence a line: a ``SentenceRecord`` of the schema (``albert_srl.schema``, where it is
declared once for these files, the server and the spaCy component)::

    {"text": "...", "words": [...], "frames": [{"predicate": {"index": 2, "text": "nominated",
     "lemma": "nominate", "sense": "nominate.01"}, "arguments": [{"role": "ARG0", "start": 0, "end": 2,
     "text": "President Bush", "char_start": 0, "char_end": 14}, ...], "tags": ["B-ARG0", ...]}]}

Keys a sentence does not know are left out (``text``, ``offsets``, ``pos``, ``doc_id``, ``part``,
``dependency``, ``tags``, ``lemma``, the character offsets), so a sentence read back is the sentence
written. A frame given only ``tags`` gets its arguments from them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from albert_srl.data import Sentence
from albert_srl.errors import SRLFormatError
from albert_srl.files import parse_json, read_lines
from albert_srl.formats.common import OnError, parse_each, write_json_lines
from albert_srl.schema import SentenceRecord


def json_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """The non-blank lines of a JSON-lines file (plain or gzip) with their 1-based numbers; a file with
    none raises ``SRLFormatError``: it is empty."""
    found = False
    for number, line in enumerate(read_lines(path), start=1):
        if line.strip():
            found = True
            yield number, line
    if not found:
        raise SRLFormatError(str(path), None, "empty file: no sentences in it")


def json_object(path: str | Path, number: int, line: str) -> dict[str, Any]:
    """One line's JSON object; anything else raises ``SRLFormatError`` naming the line."""
    obj = parse_json(line, path, number)
    if not isinstance(obj, dict):
        raise SRLFormatError(str(path), number, f"expected a JSON object, found {type(obj).__name__}")
    return obj


def read_jsonl(path: str | Path, on_error: OnError | None = None) -> Iterator[Sentence]:
    """Stream the sentences of a JSON-lines file. A bad line raises ``SRLFormatError``, or is handed to
    ``on_error`` and skipped."""
    return read_json_records(path, sentence_from_json, "a sentence of the jsonl schema", on_error)


def read_json_records(
    path: str | Path, to_sentence: Callable[[dict[str, Any]], Sentence], schema: str, on_error: OnError | None
) -> Iterator[Sentence]:
    """Stream a JSON-lines file, a record a line, through ``to_sentence``; a record it cannot read is an
    ``SRLFormatError`` naming the line and ``schema``."""

    def parse(unit: tuple[int, str]) -> Sentence:
        number, line = unit
        obj = json_object(path, number, line)
        try:
            return to_sentence(obj)
        except ValueError as error:
            raise SRLFormatError(str(path), number, f"not {schema}: {error}") from None

    yield from parse_each(path, json_lines(path), parse, on_error)


def sentence_from_json(obj: dict[str, Any]) -> Sentence:
    """A ``Sentence`` from one ``SentenceRecord``; a missing or ill-typed key, or an index that is not one
    of its words, raises ``ValueError`` (``check_sentence``'s other invariants are ``parse_each``'s)."""
    return SentenceRecord.read(obj).sentence()


def sentence_to_json(sentence: Sentence) -> dict[str, Any]:
    """The schema's object for ``sentence``; keys with no value are left out."""
    return SentenceRecord.of(sentence).dump()


def write_jsonl(sentences: Iterable[Sentence], stream: TextIO) -> int:
    """Write one JSON object a line (UTF-8, not ASCII-escaped). Returns the number of sentences written."""
    return write_json_lines(map(sentence_to_json, sentences), stream)
