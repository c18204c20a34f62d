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
from albert_srl.formats.common import OnError, write_json_lines
from albert_srl.formats.jsonl import read_json_records
from albert_srl.inference.bio import spans_from_bio


def read_allennlp(path: str | Path, on_error: OnError | None = None) -> Iterator[Sentence]:
    """Stream the sentences of a file of AllenNLP predictor lines. A bad line raises ``SRLFormatError``,
    or is handed to ``on_error`` and skipped."""
    return read_json_records(path, sentence_from_allennlp, "an AllenNLP SRL line", on_error)


def sentence_from_allennlp(obj: dict[str, Any]) -> Sentence:
    words = obj["words"]
    if not isinstance(words, list) or not all(isinstance(word, str) for word in words):
        raise TypeError("'words' must be a list of strings")
    verbs = obj["verbs"]
    if not isinstance(verbs, list) or not all(isinstance(verb, dict) for verb in verbs):
        raise TypeError("'verbs' must be a list of objects")
    sentence = Sentence(words=words, frames=[frame_from_verb(verb, words) for verb in verbs])
    return sentence


def frame_from_verb(verb: dict[str, Any], words: list[str]) -> Frame:
    tags = verb["tags"]
    if not isinstance(tags, list) or len(tags) != len(words):
        raise ValueError(f"'tags' must be a list of one tag a word ({len(words)})")
    index = verb.get("index")
    if index is None:
        if "B-V" not in tags:
            raise ValueError(f"verb {verb.get('verb')!r} has no B-V tag and no index")
        index = tags.index("B-V")
    if type(index) is not int or not 0 <= index < len(words):
        raise ValueError(f"verb index {index!r} is not a word of the sentence's {len(words)} words")
    arguments = [Argument(role, s, e, text=" ".join(words[s:e])) for role, s, e in spans_from_bio(tags)]
    text, sense = verb.get("verb", words[index]), verb.get("sense")
    if not isinstance(text, str) or not (sense is None or isinstance(sense, str)):
        raise TypeError("'verb' and 'sense' must be strings")
    return Frame(Predicate(index, text, sense=sense), arguments)


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
