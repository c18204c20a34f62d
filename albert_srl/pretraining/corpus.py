"""Pretraining text: documents, sentences, the SentencePiece vocabulary, and the packed corpus.

``pack`` streams the text files (a document per blank-line-separated block, a paragraph a line; with
``title_lines`` the block's first line is a title and left out, as in WikiExtractor output), splits
paragraphs into sentences, tokenizes them and writes compressed shards of uint16 token ids with sentence
and document boundaries (``shard-*.npz``, read with ``allow_pickle=False``), so a GPU run reads no raw
text. The vocabulary is a SentencePiece unigram model trained on paragraphs of the same text (plus,
optionally, the words of CoNLL training files; never a dev or test file).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from albert_srl import formats
from albert_srl.config import PretrainConfig
from albert_srl.errors import SRLFormatError
from albert_srl.files import replaced, write_atomic
from albert_srl.model.tokenizer import Tokenizer, load_tokenizer, train_sentencepiece
from albert_srl.tagging.text import read_documents

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"

# Text: documents, paragraphs and sentences

# A sentence ends at . ! or ? (and closing quotes/brackets) followed by space and an upper-case start,
# unless the word before the stop is an initial or a common abbreviation.
SENTENCE_BREAK = re.compile(r"(?<=[.!?])([\"'\u201d\u2019)\]]*)\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9])")
ABBREVIATION = re.compile(
    r"(?:^|\s|\()(?:[A-Z]|Mr|Mrs|Ms|Dr|St|Jr|Sr|No|Nos|Vol|vs|etc|Inc|Co|Ltd|Gen|Col|Lt|Sgt|Capt|Prof|Rev|"
    r"Mt|Ft|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|U\.S|e\.g|i\.e|c|ca|approx|Gov|Sen|Rep)\.$"
)


def split_sentences(paragraph: str) -> list[str]:
    """A paragraph's sentences, by punctuation (fast enough for tens of millions of words)."""
    sentences: list[str] = []
    start = 0
    for match in SENTENCE_BREAK.finditer(paragraph):
        if ABBREVIATION.search(paragraph[start : match.start(1)]):
            continue
        sentences.append(paragraph[start : match.end(1)])
        start = match.end()
    sentences.append(paragraph[start:])
    return [s for s in sentences if s]


def document_sentences(paragraphs: Iterable[str], min_words: int) -> list[str]:
    """The sentences of a document's paragraphs of at least ``min_words`` words."""
    return [s for p in paragraphs if len(p.split()) >= min_words for s in split_sentences(p)]


def conll_documents(path: str | Path) -> Iterator[list[str]]:
    """The sentences (words, space-joined) of each document of a CoNLL file, in file order; a file
    without document ids is one document."""
    document: list[str] = []
    current: tuple[str | None, str | None] | None = None
    for sentence in formats.read(path):
        key = (sentence.doc_id, sentence.part)
        if document and key != current:
            yield document
            document = []
        current = key
        document.append(" ".join(sentence.words))
    if document:
        yield document


def vocabulary_lines(config: PretrainConfig) -> Iterator[str]:
    """Text the SentencePiece model is trained on: paragraphs spread over the files, then CoNLL words."""
    per_file = math.ceil(config.vocab_paragraphs / max(1, len(config.text_paths)))
    for path in config.text_paths:
        taken = 0
        for paragraphs in read_documents(path, config.title_lines, config.max_documents):
            for paragraph in paragraphs:
                if len(paragraph.split()) >= config.min_words:
                    yield paragraph
                    taken += 1
            if taken >= per_file:
                break
    yield from conll_lines([*config.text_conll, *config.vocab_conll])


def conll_lines(paths: Sequence[str]) -> Iterator[str]:
    """The words of every sentence of CoNLL training files, space-joined, a sentence a line."""
    for path in paths:
        for sentence in formats.read(path):
            yield " ".join(sentence.words)


def prepare_tokenizer(config: PretrainConfig) -> Path:
    """The tokenizer directory: the continued encoder's own (``encoder.pretrained``), else
    ``encoder.tokenizer`` (default ``output_dir/tokenizer``), trained first when it holds none yet."""
    if config.encoder.pretrained is not None:
        return Path(config.encoder.pretrained)
    directory = Path(config.encoder.tokenizer or Path(config.output_dir) / "tokenizer")
    if not (directory / "spiece.model").exists():
        vocab_size = config.encoder.vocab_size
        log.info("training a %d-piece SentencePiece vocabulary in %s", vocab_size, directory)
        lines = vocabulary_lines(config)
        source = ", ".join(config.text_paths)
        with replaced(directory, directory=True) as staging:
            train_sentencepiece(lines, staging, vocab_size, config.encoder.lowercase, source=source)
    return directory


# ---------------------------------------------------------------------------------------------------
# Packing: token ids in compressed uint16 shards


@dataclass
class Corpus:
    """Packed text: all token ids, where each sentence starts, and the first sentence of each document.

    ``ids``: uint16 (N,); ``sentence_starts``: int64 (S + 1,) into ``ids``; ``document_starts``:
    int64 (D + 1,) into the sentences.
    """

    ids: np.ndarray
    sentence_starts: np.ndarray
    document_starts: np.ndarray

    @property
    def documents(self) -> int:
        return len(self.document_starts) - 1


class ShardWriter:
    """Collects tokenized documents and writes a shard whenever ``shard_tokens`` ids are waiting."""

    def __init__(self, out_dir: Path, shard_tokens: int) -> None:
        self.out_dir, self.shard_tokens = out_dir, shard_tokens
        self.shards: list[str] = []
        self.documents = self.sentences = self.tokens = 0
        self._reset()

    def _reset(self) -> None:
        self.ids: list[list[int]] = []
        self.lengths: list[int] = []
        self.doc_sizes: list[int] = []
        self.waiting = 0

    def add(self, document: list[list[int]]) -> None:
        """One document as the token ids of its sentences."""
        document = [s for s in document if s]
        if not document:
            return
        self.ids.extend(document)
        self.lengths.extend(len(s) for s in document)
        self.doc_sizes.append(len(document))
        self.waiting += sum(len(s) for s in document)
        if self.waiting >= self.shard_tokens:
            self.flush()

    def flush(self) -> None:
        if not self.doc_sizes:
            return
        name = f"shard-{len(self.shards):05d}.npz"
        ids = np.fromiter((i for s in self.ids for i in s), dtype=np.uint16, count=self.waiting)
        sentence_starts = np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)
        document_starts = np.concatenate([[0], np.cumsum(self.doc_sizes)]).astype(np.int64)
        with replaced(self.out_dir / name) as staging, staging.open("wb") as f:
            np.savez_compressed(f, ids=ids, sentence_starts=sentence_starts, document_starts=document_starts)
        self.shards.append(name)
        self.documents += len(self.doc_sizes)
        self.sentences += len(self.lengths)
        self.tokens += self.waiting
        self._reset()


def pack(
    text_paths: Sequence[str | Path],
    tokenizer_dir: str | Path,
    out_dir: str | Path,
    shard_tokens: int = 10_000_000,
    min_words: int = 5,
    max_documents: int | None = None,
    title_lines: bool = False,
    conll_paths: Sequence[str | Path] = (),
) -> Path:
    """Tokenize the documents of ``text_paths``, then those of the CoNLL files ``conll_paths`` (their
    sentences as they are), into ``out_dir/shard-*.npz`` and a ``manifest.json``.

    The manifest is written last: a directory with one holds a complete packing, which later runs reuse.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer(tokenizer_dir)
    if len(tokenizer) > np.iinfo(np.uint16).max + 1:
        raise ValueError(f"a vocabulary of {len(tokenizer)} pieces does not fit uint16 shards")
    writer = ShardWriter(out, shard_tokens)

    def documents() -> Iterator[list[str]]:
        for path in text_paths:
            log.info("packing %s", path)
            for paragraphs in read_documents(path, title_lines, max_documents):
                yield document_sentences(paragraphs, min_words)
        for path in conll_paths:
            log.info("packing %s", path)
            yield from conll_documents(path)

    pending: list[list[str]] = []
    for document in documents():
        pending.append(document)
        if len(pending) == 256:  # tokenize many documents in one call: much faster
            _tokenize_documents(pending, tokenizer, writer)
            pending = []
    _tokenize_documents(pending, tokenizer, writer)
    writer.flush()
    manifest = {
        "sources": [str(p) for p in [*text_paths, *conll_paths]],
        "tokenizer": str(tokenizer_dir),
        "vocab_size": len(tokenizer),
        "spiece_sha256": vocabulary_digest(tokenizer_dir),
        "shards": writer.shards,
        "documents": writer.documents,
        "sentences": writer.sentences,
        "tokens": writer.tokens,
    }
    write_atomic(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    log.info(
        "packed %d documents, %d sentences, %d tokens", writer.documents, writer.sentences, writer.tokens
    )
    return out


def _tokenize_documents(documents: list[list[str]], tokenizer: Tokenizer, writer: ShardWriter) -> None:
    flat = [s for d in documents for s in d]
    if not flat:
        return
    ids = iter(tokenizer.encode_texts(flat))
    for document in documents:
        writer.add([next(ids) for _ in document])


def load_corpus(packed_dir: str | Path) -> Corpus:
    """All shards of a packing, concatenated (no pickle: ``allow_pickle=False``)."""
    directory = Path(packed_dir)
    manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    ids: list[np.ndarray] = []
    sentences, documents = [np.zeros(1, np.int64)], [np.zeros(1, np.int64)]
    for name in manifest["shards"]:
        with np.load(directory / name, allow_pickle=False) as shard:
            sentences.append(shard["sentence_starts"][1:] + sum(len(x) for x in ids))
            documents.append(shard["document_starts"][1:] + documents[-1][-1])
            ids.append(shard["ids"])
    all_ids = np.concatenate(ids) if ids else np.zeros(0, np.uint16)
    return Corpus(all_ids, np.concatenate(sentences), np.concatenate(documents))


def prepare_corpus(config: PretrainConfig, tokenizer_dir: Path) -> Corpus:
    """The packed corpus, packed first when ``packed_dir`` holds no complete packing; a packing made
    with another vocabulary than ``tokenizer_dir``'s is refused."""
    directory = Path(config.packed_dir or Path(config.output_dir) / "packed")
    if not (directory / MANIFEST).exists():
        shutil.rmtree(directory, ignore_errors=True)
        pack(config.text_paths, tokenizer_dir, directory, config.shard_tokens, config.min_words,
             config.max_documents, config.title_lines, config.text_conll)  # fmt: skip
    check_vocabulary(directory, tokenizer_dir)
    return load_corpus(directory)


def vocabulary_digest(tokenizer_dir: str | Path) -> str | None:
    """SHA-256 of a tokenizer directory's ``spiece.model`` (``None`` without one): which vocabulary the
    token ids of a packing belong to."""
    path = Path(tokenizer_dir) / "spiece.model"
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def check_vocabulary(packed_dir: Path, tokenizer_dir: Path) -> None:
    """Raise ``SRLFormatError`` when the packing's ids come from another vocabulary than the run's."""
    manifest = json.loads((packed_dir / MANIFEST).read_text(encoding="utf-8"))
    packed_with, ours = manifest.get("spiece_sha256"), vocabulary_digest(tokenizer_dir)
    size = len(load_tokenizer(tokenizer_dir))
    if manifest.get("vocab_size") != size or (packed_with and ours and packed_with != ours):
        raise SRLFormatError(
            str(packed_dir / MANIFEST), None,
            f"packed with another vocabulary ({manifest.get('tokenizer')}) than the run's ({tokenizer_dir}):"
            " remove the packing or set packed_dir elsewhere",
        )  # fmt: skip
