"""Silver labelling (``albert-srl label``): raw text, tagged by a model, as a training corpus.

Documents are read whole (``text.read_documents``: blank-line-separated blocks, a paragraph a line; with
``title_lines`` a block's first line is its title and left out), split into sentences (``text.split_text``),
tagged end to end (the model finds the predicates and tags their arguments; every frame has its
probability, every predicate the model's) and written in input order, ``doc_id`` ``FILE/NNNNNN`` (the
file's name without its extensions, the document's number in it): as CoNLL-2012, which ``albert-srl
train`` reads, or as JSON lines, which keep the probabilities. An output named ``.gz`` is gzip.

What is kept: a sentence whose every frame's confidence (its probability times its predicate's) reaches
``min_confidence``, and a sentence without frames (it teaches where there is no predicate). A sentence is
kept or left out whole, never a frame of it: a predicate left out would teach that the word is none.
Sentences over ``max_words`` words are left out before tagging. Documents are the unit of the limits: the
run stops after the document that reaches ``max_documents`` or ``max_sentences`` (sentences written).

The run streams and resumes. Documents are tagged ``batch_documents`` at a time, in batches counted from
the first document of the inputs; after each batch the output is flushed to disk and ``OUT.progress.json``
records the counts, the output's size and the settings the output depends on. ``resume`` cuts the output
back to that size and tags the batch the last run stopped in whole again, writing only the documents after
those written (a sentence's probabilities move by some 1e-5 with the sentences tagged beside it): the
output is byte for byte what one uninterrupted run writes, on the same machine.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from tqdm import tqdm

from albert_srl.config import LabelOptions, is_evaluation_split
from albert_srl.data import Sentence
from albert_srl.errors import SRLFormatError
from albert_srl.files import file_kind, refuse_input_as_output, replaced
from albert_srl.formats import write
from albert_srl.model.network import weights_digest
from albert_srl.tagging.tagger import SRLTagger
from albert_srl.tagging.text import MAX_LINE_CHARS, read_documents, split_text

log = logging.getLogger(__name__)

PROGRESS = ".progress.json"  # beside the output: OUT.progress.json
# Read as spaces: a column file cannot hold them, and in running text they are debris.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")


@dataclass
class Document:
    """One document of the input: its place among all documents of the inputs, its id, its sentences."""

    number: int
    doc_id: str
    sentences: list[Sentence]
    too_long: int = 0  # sentences left out before tagging: over max_words words


@dataclass
class LabelSummary:
    """What a labelling has done, all runs of it together (a resumed run goes on from the counts)."""

    documents: int = 0
    sentences: int = 0  # written
    frames: int = 0  # written
    below_confidence: int = 0  # sentences left out: a frame less sure than min_confidence
    too_long: int = 0  # sentences left out: over max_words words
    bytes: int = 0  # the output's size after the last batch


def label(
    tagger: SRLTagger,
    paths: Sequence[str | Path],
    out: str | Path,
    options: LabelOptions | None = None,
    resume: bool = False,
    progress: bool = False,
) -> LabelSummary:
    """Label the documents of the text files ``paths`` into ``out`` (see the module's doc); returns what
    was done. Raises ``SRLFormatError`` for an input or output it refuses (``check_run``)."""
    options = options or LabelOptions()
    out = Path(out)
    check_run(paths, out, resume)
    settings = run_settings(tagger, paths, options)
    summary = start(out, settings, resume)
    first = summary.documents - summary.documents % options.batch_documents  # its batch is tagged again
    bar = tqdm(initial=summary.documents, unit=" documents", disable=not progress)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("ab") as raw:
        for batch in batches(documents(paths, options.title_lines, first), options.batch_documents):
            if limit_reached(summary, options):
                break
            done = summary.documents
            write_documents(raw, tag_documents(tagger, batch, options), summary, options, out.suffix == ".gz")
            raw.flush()
            os.fsync(raw.fileno())
            summary.bytes = raw.tell()
            save_progress(out, summary, settings)
            bar.update(summary.documents - done)
            log.debug("%d documents, %d sentences written", summary.documents, summary.sentences)
    bar.close()
    return summary


def check_run(paths: Sequence[str | Path], out: str | Path, resume: bool) -> None:
    """The checks that need no model (the command line runs them before loading one): inputs are text
    files, none named as an evaluation split; the output is none of them, and is new unless resuming."""
    for path in paths:
        if str(path) == "-":
            raise SRLFormatError(
                "-", None, "label reads files, not standard input (a resume reads them again)"
            )
        kind = file_kind(path)
        if kind is not None or not Path(path).exists():
            raise SRLFormatError(str(path), None, f"is {kind}, not a text file" if kind else "no such file")
        if is_evaluation_split(path):
            message = (
                "names what looks like a dev or test split: silver frames are training data, never of "
                "the text a model is scored on (rename the file if it is not one)"
            )
            raise SRLFormatError(str(path), None, message)
    stems = [document_prefix(path) for path in paths]
    for path, stem in zip(paths, stems, strict=True):
        if stems.count(stem) > 1:
            raise SRLFormatError(
                str(path), None, f"another input is named {stem} too: their doc_ids would clash"
            )
    refuse_input_as_output(out, paths)
    if not resume and Path(out).exists():
        raise SRLFormatError(str(out), None, "exists: choose another output, or go on with --resume")


def run_settings(tagger: SRLTagger, paths: Sequence[str | Path], options: LabelOptions) -> dict[str, Any]:
    """What the output depends on besides the limits: a resumed run must have the same."""
    kept = ("format", "min_confidence", "title_lines", "batch_documents", "max_words")
    return {
        "inputs": [str(Path(path).resolve()) for path in paths],
        "model": weights_digest(tagger.model)[:16],
        "device": tagger.device.type,
        "bf16": tagger.bf16,
        "max_tokens": tagger.batch_budget(options.max_tokens),
        **{name: getattr(options, name) for name in kept},
    }


def progress_path(out: Path) -> Path:
    return out.with_name(out.name + PROGRESS)


def start(out: Path, settings: dict[str, Any], resume: bool) -> LabelSummary:
    """The counts to go on from: with ``resume`` those of the progress file (the output cut back to its
    size then), else none."""
    progress = progress_path(out)
    if not resume or not progress.is_file():
        if out.exists() and out.stat().st_size:
            raise SRLFormatError(str(progress), None, f"missing: nothing says how far {out} got")
        return LabelSummary()
    try:
        recorded = json.loads(progress.read_text(encoding="utf-8"))
        summary = LabelSummary(**recorded["summary"])
        was = recorded["settings"]
    except (ValueError, TypeError, KeyError) as error:
        raise SRLFormatError(str(progress), None, f"not a progress file of label: {error!r}") from None
    for key, value in settings.items():
        if was.get(key) != value:
            message = f"the run was started with {key} {was.get(key)!r}, not {value!r}: resume it as it began"
            raise SRLFormatError(str(progress), None, message)
    if not out.is_file() or out.stat().st_size < summary.bytes:
        raise SRLFormatError(
            str(out), None, f"missing or shorter than the {summary.bytes} bytes {progress.name} says"
        )
    with out.open("r+b") as handle:  # what a killed run wrote after its last complete batch
        handle.truncate(summary.bytes)
    return summary


def save_progress(out: Path, summary: LabelSummary, settings: dict[str, Any]) -> None:
    record = {"summary": asdict(summary), "settings": settings}
    with replaced(progress_path(out)) as staging:
        staging.write_text(json.dumps(record) + "\n", encoding="utf-8")


def documents(paths: Sequence[str | Path], title_lines: bool, first: int = 0) -> Iterator[Document]:
    """The documents of ``paths`` in order from the ``first`` (those before it are read, not split)."""
    number = 0
    for path in paths:
        stem = document_prefix(path)
        for index, paragraphs in enumerate(read_documents(path, title_lines)):
            if number >= first:
                yield Document(number, f"{stem}/{index:06d}", sentences_of(paragraphs))
            number += 1


def document_prefix(path: str | Path) -> str:
    """The first part of a document's id: the file's name without its extensions (a space read as _)."""
    return re.sub(r"\s", "_", Path(path).name.split(".")[0])


def sentences_of(paragraphs: list[str]) -> list[Sentence]:
    """A document's sentences, each paragraph split on its own (offsets index the paragraph); a paragraph
    longer than spaCy takes is left out."""
    sentences: list[Sentence] = []
    for paragraph in paragraphs:
        if len(paragraph) > MAX_LINE_CHARS:
            log.warning(
                "a paragraph of %d characters left out (the most is %d)", len(paragraph), MAX_LINE_CHARS
            )
            continue
        sentences.extend(split.to_sentence() for split in split_text(CONTROL_CHARACTERS.sub(" ", paragraph)))
    return sentences


def batches(stream: Iterator[Document], size: int) -> Iterator[list[Document]]:
    """The documents in batches of ``size``, cut where their numbers are multiples of ``size``."""
    batch: list[Document] = []
    for document in stream:
        if batch and document.number % size == 0:
            yield batch
            batch = []
        batch.append(document)
    if batch:
        yield batch


def tag_documents(tagger: SRLTagger, batch: list[Document], options: LabelOptions) -> list[Document]:
    """The documents with their sentences tagged end to end, all in one call, each sentence with its
    document's id; those over ``max_words`` words are left out (and counted)."""
    kept = [[s for s in d.sentences if len(s.words) <= options.max_words] for d in batch]
    tagged = iter(tagger.tag([s for sentences in kept for s in sentences], max_tokens=options.max_tokens))
    return [
        replace(
            d,
            sentences=[replace(next(tagged), doc_id=d.doc_id, part="0") for _ in k],
            too_long=len(d.sentences) - len(k),
        )
        for d, k in zip(batch, kept, strict=True)
    ]


def write_documents(
    raw: BinaryIO, batch: list[Document], summary: LabelSummary, options: LabelOptions, compressed: bool
) -> None:
    """Write the documents after those already written (``summary.documents``) until a limit is reached;
    a document is one gzip member when ``compressed``."""
    for document in batch:
        if document.number < summary.documents:  # written by the run this one resumes
            continue
        if limit_reached(summary, options):
            return
        kept = [s for s in document.sentences if confident(s, options.min_confidence)]
        text = io.StringIO()
        write(kept, text, options.format)
        data = text.getvalue().encode("utf-8")
        if data:
            raw.write(gzip.compress(data, mtime=0) if compressed else data)
        summary.documents += 1
        summary.sentences += len(kept)
        summary.frames += sum(len(s.frames) for s in kept)
        summary.below_confidence += len(document.sentences) - len(kept)
        summary.too_long += document.too_long


def limit_reached(summary: LabelSummary, options: LabelOptions) -> bool:
    documents, sentences = options.max_documents, options.max_sentences
    return (documents is not None and summary.documents >= documents) or (
        sentences is not None and summary.sentences >= sentences
    )


def confident(sentence: Sentence, min_confidence: float | None) -> bool:
    """Every frame at least ``min_confidence`` sure (a frame without a probability never is); a sentence
    without frames always is."""
    if min_confidence is None:
        return True
    return all((f.confidence or 0.0) >= min_confidence for f in sentence.frames)
