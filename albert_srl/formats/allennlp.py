"""The AllenNLP SRL predictor's JSON, one sentence a line, so that its users keep their code::

    {"verbs": [{"verb": "nominated", "description": "[ARG0: President Bush] [V: nominated] ...",
                "tags": ["B-ARG0", "I-ARG0", "B-V", ...]}], "words": ["President", "Bush", ...]}

Two keys are added to each verb where known, which AllenNLP's readers ignore: ``index`` (the predicate
word; without it the first ``B-V`` is taken) and ``sense`` (the roleset). Arguments come from the BIO tags.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from albert_srl.data import Argument, Frame, Predicate, Sentence
from albert_srl.errors import SRLFormatError
from albert_srl.formats.common import write_json_lines
from albert_srl.formats.jsonl import read_json_lines
from albert_srl.spans import spans_from_bio


def read_allennlp(path: str | Path) -> Iterator[Sentence]:
    """Stream the sentences of a file of AllenNLP predictor lines."""
    for number, obj in read_json_lines(path):
        try:
            yield sentence_from_allennlp(obj)
        except (KeyError, TypeError, ValueError) as error:
            raise SRLFormatError(str(path), number, f"not an AllenNLP SRL line: {error!r}") from None


def sentence_from_allennlp(obj: dict[str, Any]) -> Sentence:
    words = obj["words"]
    if not isinstance(words, list) or not all(isinstance(word, str) for word in words):
        raise TypeError("'words' must be a list of strings")
    return Sentence(words=words, frames=[frame_from_verb(verb, words) for verb in obj["verbs"]])


def frame_from_verb(verb: dict[str, Any], words: list[str]) -> Frame:
    tags = verb["tags"]
    if len(tags) != len(words):
        raise ValueError(f"{len(tags)} tags for {len(words)} words")
    index = verb.get("index")
    if index is None:
        if "B-V" not in tags:
            raise ValueError(f"verb {verb.get('verb')!r} has no B-V tag and no index")
        index = tags.index("B-V")
    index = int(index)
    if not 0 <= index < len(words):
        raise ValueError(f"verb index {index} is outside the sentence's {len(words)} words")
    arguments = [Argument(role, s, e, text=" ".join(words[s:e])) for role, s, e in spans_from_bio(tags)]
    predicate = Predicate(index, verb.get("verb", words[index]), sense=verb.get("sense"))
    return Frame(predicate, arguments)


def sentence_to_allennlp(sentence: Sentence) -> dict[str, Any]:
    """The predictor's object for ``sentence``; its tags are made from each frame's arguments."""
    verbs = []
    for frame in sentence.frames:
        tags = frame.tags(len(sentence.words))
        verb: dict[str, Any] = {
            "verb": frame.predicate.text,
            "description": describe(sentence.words, tags),
            "tags": tags,
            "index": frame.predicate.index,
        }
        if frame.predicate.sense is not None:
            verb["sense"] = frame.predicate.sense
        verbs.append(verb)
    return {"verbs": verbs, "words": sentence.words}


def describe(words: list[str], tags: list[str]) -> str:
    """AllenNLP's ``description``: the words with each argument bracketed, ``[ARG0: President Bush]``."""
    pieces: list[str] = []
    chunk: list[str] = []
    for word, tag in zip(words, tags, strict=True):
        if tag.startswith("I-") and chunk:
            chunk.append(word)
            continue
        if chunk:
            pieces.append("[" + " ".join(chunk) + "]")
            chunk = []
        if tag == "O":
            pieces.append(word)
        else:
            chunk = [f"{tag[2:]}: {word}"]
    if chunk:
        pieces.append("[" + " ".join(chunk) + "]")
    return " ".join(pieces)


def write_allennlp(sentences: Iterable[Sentence], stream: TextIO) -> int:
    """Write one predictor object a line. Returns the number of sentences written."""
    return write_json_lines(map(sentence_to_allennlp, sentences), stream)
