"""JSON lines, one sentence a line, in the schema of the design brief::

    {"text": "...", "words": [...], "frames": [{"predicate": {"index": 2, "text": "nominated",
     "lemma": "nominate", "sense": "nominate.01"}, "arguments": [{"role": "ARG0", "start": 0, "end": 2,
     "text": "President Bush", "char_start": 0, "char_end": 14}, ...], "tags": ["B-ARG0", ...]}]}

Keys a sentence does not know are left out (``text``, ``offsets``, ``pos``, ``doc_id``, ``part``,
``dependency``, ``tags``, ``lemma``, the character offsets), so a sentence read back is the sentence
written. A frame given only ``tags`` gets its arguments from them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from albert_srl.data import Argument, Frame, Predicate, Sentence
from albert_srl.errors import SRLFormatError
from albert_srl.files import read_lines
from albert_srl.formats.common import write_json_lines
from albert_srl.spans import spans_from_bio

OPTIONAL_SENTENCE_KEYS = ("offsets", "pos", "doc_id", "part")  # written after "words" and "frames"


def read_json_lines(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """The JSON objects of a JSON-lines file (plain or gzip) with their 1-based lines; blank lines skipped."""
    found = False
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as error:
            raise SRLFormatError(str(path), number, f"not valid JSON: {error}") from None
        if not isinstance(obj, dict):
            raise SRLFormatError(str(path), number, f"expected a JSON object, found {type(obj).__name__}")
        found = True
        yield number, obj
    if not found:
        raise SRLFormatError(str(path), None, "empty file: no sentences in it")


def read_jsonl(path: str | Path) -> Iterator[Sentence]:
    """Stream the sentences of a JSON-lines file."""
    for number, obj in read_json_lines(path):
        try:
            yield sentence_from_json(obj)
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise SRLFormatError(
                str(path), number, f"not a sentence of the jsonl schema: {error!r}"
            ) from None


def sentence_from_json(obj: dict[str, Any]) -> Sentence:
    """A ``Sentence`` from one object of the schema; a missing or ill-typed key raises ``KeyError``,
    ``TypeError`` or ``ValueError``."""
    words = obj["words"]
    if not isinstance(words, list) or not all(isinstance(word, str) for word in words):
        raise TypeError("'words' must be a list of strings")
    offsets = obj.get("offsets")
    sentence = Sentence(
        words=words,
        text=obj.get("text"),
        offsets=[(int(s), int(e)) for s, e in offsets] if offsets is not None else None,
        pos=obj.get("pos"),
        doc_id=obj.get("doc_id"),
        part=obj.get("part"),
        dependency=bool(obj.get("dependency", False)),
        char_start=int(obj["char_start"]) if obj.get("char_start") is not None else None,
    )
    sentence.frames = [frame_from_json(frame, sentence) for frame in obj.get("frames", [])]
    return sentence


def frame_from_json(obj: dict[str, Any], sentence: Sentence) -> Frame:
    predicate = obj["predicate"]
    index = int(predicate["index"])
    if not 0 <= index < len(sentence.words):
        raise ValueError(f"predicate index {index} is outside the sentence's {len(sentence.words)} words")
    tags = obj.get("tags")
    if tags is not None and len(tags) != len(sentence.words):
        raise ValueError(f"{len(tags)} tags for {len(sentence.words)} words")
    if "arguments" in obj:
        arguments = [argument_from_json(argument, sentence) for argument in obj["arguments"]]
    else:
        arguments = [
            Argument(role, s, e, text=sentence.span_text(s, e)) for role, s, e in spans_from_bio(tags)
        ]
    return Frame(
        Predicate(
            index,
            predicate.get("text", sentence.words[index]),
            predicate.get("lemma"),
            predicate.get("sense"),
        ),
        arguments,
    )


def argument_from_json(obj: dict[str, Any], sentence: Sentence) -> Argument:
    start, end = int(obj["start"]), int(obj["end"])
    if not 0 <= start < end <= len(sentence.words):
        raise ValueError(
            f"argument [{start}, {end}) is not a span of the sentence's {len(sentence.words)} words"
        )
    text = obj.get("text", sentence.span_text(start, end))
    return Argument(str(obj["role"]), start, end, text, obj.get("char_start"), obj.get("char_end"))


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
