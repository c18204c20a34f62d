"""The human-readable output of ``albert-srl tag --format text`` (write only).

Each sentence is printed as it was written, then one line per frame: the roleset id (or the
predicate word) and the sentence with every argument bracketed and labelled, AllenNLP-style::

    The committee approved the new budget on Tuesday.
      approve.01: [ARG0: The committee] [V: approved] [ARG1: the new budget] [ARGM-TMP: on Tuesday] .
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from albert_srl.data import Sentence
from albert_srl.formats.allennlp import describe


def write_readable(sentences: Iterable[Sentence], stream: TextIO) -> int:
    """Write each sentence and its frames, a blank line after each. Returns the sentences written."""
    count = 0
    for sentence in sentences:
        stream.write((sentence.text if sentence.text is not None else " ".join(sentence.words)) + "\n")
        for frame in sentence.frames:
            name = frame.predicate.sense or frame.predicate.text
            stream.write(f"  {name}: {describe(sentence.words, frame.tags(len(sentence.words)))}\n")
        stream.write("\n")
        count += 1
    return count
