"""JSON lines, one sentence a line, in the schema of the design brief::

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

from albert_srl.data import Argument, Frame, Predicate, Sentence
from albert_srl.errors import SRLFormatError
from albert_srl.files import parse_json, read_lines
from albert_srl.formats.common import OnError, parse_each, write_json_lines
from albert_srl.inference.bio import spans_from_bio

OPTIONAL_SENTENCE_KEYS = ("offsets", "pos", "doc_id", "part")  # written after "words" and "frames"


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
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise SRLFormatError(str(path), number, f"not {schema}: {schema_error(error)}") from None

    yield from parse_each(path, json_lines(path), parse, on_error)


def schema_error(error: Exception) -> str:
    """A schema error in words: a missing key is named as such."""
    return f"missing key {error}" if isinstance(error, KeyError) else str(error)


def sentence_from_json(obj: dict[str, Any]) -> Sentence:
    """A ``Sentence`` from one object of the schema; a missing or ill-typed key, or a sentence that breaks
    ``check_sentence``, raises ``KeyError``, ``TypeError`` or ``ValueError``."""
    words = obj["words"]
    if not isinstance(words, list) or not all(isinstance(word, str) for word in words):
        raise TypeError("'words' must be a list of strings")
    offsets = obj.get("offsets")
    if offsets is not None and (
        not isinstance(offsets, list)
        or len(offsets) != len(words)
        or not all(isinstance(o, list) and len(o) == 2 and all(type(x) is int for x in o) for o in offsets)
    ):
        raise ValueError("'offsets' must be one [start, end] pair of integers a word")
    frames = obj.get("frames", [])
    if not isinstance(frames, list) or not all(isinstance(frame, dict) for frame in frames):
        raise TypeError("'frames' must be a list of objects")
    sentence = Sentence(
        words=words,
        text=obj.get("text"),
        offsets=[(s, e) for s, e in offsets] if offsets is not None else None,
        pos=obj.get("pos"),
        doc_id=obj.get("doc_id"),
        part=obj.get("part"),
        dependency=obj.get("dependency", False) is True,
        char_start=int(obj["char_start"]) if obj.get("char_start") is not None else None,
    )
    if sentence.text is not None and not isinstance(sentence.text, str):
        raise TypeError("'text' must be a string")
    if sentence.pos is not None and not isinstance(sentence.pos, list):
        raise TypeError("'pos' must be a list of strings")
    sentence.frames = [frame_from_json(frame, sentence) for frame in frames]
    return sentence


def frame_from_json(obj: dict[str, Any], sentence: Sentence) -> Frame:
    predicate = obj["predicate"]
    if not isinstance(predicate, dict):
        raise TypeError("'predicate' must be an object")
    index = predicate["index"]
    if type(index) is not int:
        raise TypeError(f"predicate index {index!r} is not an integer")
    if not 0 <= index < len(sentence.words):
        raise ValueError(f"predicate index {index} is outside the sentence's {len(sentence.words)} words")
    tags = obj.get("tags")
    if tags is not None and (not isinstance(tags, list) or len(tags) != len(sentence.words)):
        raise ValueError(f"'tags' must be a list of one tag a word ({len(sentence.words)})")
    if "arguments" in obj:
        if not isinstance(obj["arguments"], list):
            raise TypeError("'arguments' must be a list of objects")
        arguments = [argument_from_json(argument, sentence) for argument in obj["arguments"]]
    elif tags is None:
        raise KeyError("arguments")
    else:
        arguments = [
            Argument(role, s, e, text=sentence.span_text(s, e)) for role, s, e in spans_from_bio(tags)
        ]
    text = predicate.get("text", sentence.words[index])
    if not isinstance(text, str):
        raise TypeError("predicate 'text' must be a string")
    return Frame(Predicate(index, text, predicate.get("lemma"), predicate.get("sense")), arguments)


def argument_from_json(obj: dict[str, Any], sentence: Sentence) -> Argument:
    if not isinstance(obj, dict):
        raise TypeError("an argument must be an object")
    start, end = obj["start"], obj["end"]
    if type(start) is not int or type(end) is not int or not 0 <= start < end <= len(sentence.words):
        raise ValueError(
            f"argument [{start!r}, {end!r}) is not a span of the sentence's {len(sentence.words)} words"
        )
    text = obj.get("text", sentence.span_text(start, end))
    char_start, char_end = obj.get("char_start"), obj.get("char_end")
    if not isinstance(text, str) or not all(c is None or type(c) is int for c in (char_start, char_end)):
        raise TypeError("argument 'text' must be a string, 'char_start' and 'char_end' integers")
    return Argument(obj["role"], start, end, text, char_start, char_end)


def sentence_to_json(sentence: Sentence) -> dict[str, Any]:
    """The schema's object for ``sentence``; keys with no value are left out."""
    obj: dict[str, Any] = {}
    if sentence.text is not None:
        obj["text"] = sentence.text
    if sentence.char_start is not None:
        obj["char_start"] = sentence.char_start  # where "text" starts in the input the offsets index
    obj["words"] = sentence.words
    length = None if sentence.dependency else len(sentence.words)
    obj["frames"] = [frame_to_json(frame, length) for frame in sentence.frames]
    for key in OPTIONAL_SENTENCE_KEYS:
        value = getattr(sentence, key)
        if value is not None:
            obj[key] = value
    if sentence.dependency:
        obj["dependency"] = True
    return obj


def frame_to_json(frame: Frame, length: int | None) -> dict[str, Any]:
    """The schema's object for ``frame``, with BIO ``tags`` over ``length`` words (none for a
    dependency-based sentence, whose arguments are head words, not spans)."""
    predicate: dict[str, Any] = {"index": frame.predicate.index, "text": frame.predicate.text}
    if frame.predicate.lemma is not None:
        predicate["lemma"] = frame.predicate.lemma
    predicate["sense"] = frame.predicate.sense
    obj: dict[str, Any] = {
        "predicate": predicate,
        "arguments": [argument_to_json(a) for a in frame.arguments],
    }
    if length is not None:
        obj["tags"] = frame.tags(length)
    return obj


def argument_to_json(argument: Argument) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "role": argument.role,
        "start": argument.start,
        "end": argument.end,
        "text": argument.text,
    }
    if argument.char_start is not None:
        obj["char_start"] = argument.char_start
        obj["char_end"] = argument.char_end
    return obj


def write_jsonl(sentences: Iterable[Sentence], stream: TextIO) -> int:
    """Write one JSON object a line (UTF-8, not ASCII-escaped). Returns the number of sentences written."""
    return write_json_lines(map(sentence_to_json, sentences), stream)
