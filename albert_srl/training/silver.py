"""The silver sentences a training run reads beside its gold data (``TrainConfig.silver``, docs/silver.md).

Silver files are read in order, a document at a time (the consecutive sentences of one ``doc_id`` and
``part``; a sentence without a ``doc_id`` is a document of its own), and taken whole from the start until
``max_sentences`` sentences. With ``min_confidence`` a sentence is kept only if every frame's confidence
reaches it, as ``albert-srl label --min-confidence`` keeps them; that needs the probabilities that
``label --format jsonl`` writes, and a frame without one is an error naming the file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby

from albert_srl import formats
from albert_srl.config import SilverConfig
from albert_srl.data import Sentence
from albert_srl.errors import SRLFormatError
from albert_srl.tagging.label import confident

log = logging.getLogger(__name__)


@dataclass
class SilverData:
    """The silver sentences a run trains on, and how they were chosen (for the model card)."""

    sentences: list[Sentence] = field(default_factory=list)
    read: int = 0  # sentences read, those left out included
    below_confidence: int = 0  # left out: a frame less sure than min_confidence


def read_silver(config: SilverConfig) -> SilverData:
    """The silver sentences of ``config.path``: whole documents from the start, filtered by confidence,
    until ``max_sentences``."""
    silver = SilverData()
    limit = config.max_sentences
    for path in config.path:
        for number, document in documents(formats.read(path)):
            if limit is not None and len(silver.sentences) >= limit:
                break
            for offset, sentence in enumerate(document):
                if config.min_confidence is not None and any(f.probability is None for f in sentence.frames):
                    message = (
                        f"sentence {number + offset}: a frame without a probability, which "
                        "silver.min_confidence needs (albert-srl label --format jsonl writes them)"
                    )
                    raise SRLFormatError(path, None, message)
                if confident(sentence, config.min_confidence):
                    silver.sentences.append(sentence)
                else:
                    silver.below_confidence += 1
            silver.read += len(document)
    if config.path:
        log.info(
            "%d silver sentences from %s (%d read, %d below confidence)",
            len(silver.sentences),
            ", ".join(config.path),
            silver.read,
            silver.below_confidence,
        )
    return silver


def documents(sentences: Iterable[Sentence]) -> Iterator[tuple[int, list[Sentence]]]:
    """The documents of a file in order, each with the 1-based number of its first sentence."""
    number = 1
    for _, group in groupby(enumerate(sentences), key=lambda item: document_key(*item)):
        document = [sentence for _, sentence in group]
        yield number, document
        number += len(document)


def document_key(index: int, sentence: Sentence) -> tuple[str | None, str | None] | int:
    """What a sentence's document is: its ``doc_id`` and ``part``, or without an id the sentence alone."""
    return (sentence.doc_id, sentence.part) if sentence.doc_id is not None else index
