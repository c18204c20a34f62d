"""The AllenNLP SRL predictor's JSON, one sentence a line, so that its users keep their code::

    {"verbs": [{"verb": "nominated", "description": "[ARG0: President Bush] [V: nominated] ...",
                "tags": ["B-ARG0", "I-ARG0", "B-V", ...]}], "words": ["President", "Bush", ...]}

Two keys are added to each verb where known, which AllenNLP's readers ignore: ``index`` (the predicate
word; without it the first ``B-V`` is taken) and ``sense`` (the roleset). Arguments come from the BIO tags.
The objects are ``PredictorRecord``\\ s, declared in ``albert_srl.schema`` with the server's ``/predict``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from albert_srl.bio import spans_from_bio
from albert_srl.data import Argument, Frame, Predicate, Sentence
from albert_srl.formats.common import OnError, write_json_lines
from albert_srl.formats.jsonl import read_json_records
from albert_srl.schema import PredictorRecord, VerbRecord, some


def read_allennlp(path: str | Path, on_error: OnError | None = None) -> Iterator[Sentence]:
    """Stream the sentences of a file of AllenNLP predictor lines. A bad line raises ``SRLFormatError``,
    or is handed to ``on_error`` and skipped."""
    return read_json_records(path, sentence_from_allennlp, "an AllenNLP SRL line", on_error)


def sentence_from_allennlp(obj: dict[str, Any]) -> Sentence:
    """A ``Sentence`` from one ``PredictorRecord``; a bad key or index raises ``ValueError``."""
    record = PredictorRecord.read(obj)
    return Sentence(words=record.words, frames=[frame_from_verb(verb, record.words) for verb in record.verbs])


def frame_from_verb(verb: VerbRecord, words: list[str]) -> Frame:
    tags = verb.tags
    if len(tags) != len(words):
        raise ValueError(f"'tags' must be a list of one tag a word ({len(words)})")
    index = verb.index
    if index is None:
        if "B-V" not in tags:
            raise ValueError(f"verb {verb.verb!r} has no B-V tag and no index")
        index = tags.index("B-V")
    if not 0 <= index < len(words):
        raise ValueError(f"verb index {index!r} is not a word of the sentence's {len(words)} words")
    arguments = [Argument(role, s, e, text=" ".join(words[s:e])) for role, s, e in spans_from_bio(tags)]
    text = verb.verb if verb.verb is not None else words[index]
    return Frame(Predicate(index, text, sense=verb.sense), arguments)


def sentence_to_allennlp(sentence: Sentence) -> dict[str, Any]:
    """The predictor's object for ``sentence``; its tags are made from each frame's arguments."""
    verbs = []
    for frame in sentence.frames:
        tags = frame.tags(len(sentence.words))
        verb = VerbRecord.model_construct(
            verb=frame.predicate.text,
            description=describe(sentence.words, tags),
            tags=tags,
            index=frame.predicate.index,
            **some(sense=frame.predicate.sense),
        )
        verbs.append(verb)
    return PredictorRecord.model_construct(verbs=verbs, words=sentence.words).dump()


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
