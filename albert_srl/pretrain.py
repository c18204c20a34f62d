"""Pretraining our own ALBERT encoder on unlabeled text: masked n-grams (MLM) + sentence order (SOP).

Three steps, each one written to disk once and reused:

1. **Vocabulary**: a SentencePiece unigram model trained on sentences of the pretraining text (plus,
   optionally, the words of a CoNLL *training* file such as EWT train), in the HF ALBERT tokenizer layout.
2. **Packing**: documents -> sentences -> token ids, streamed from (gzipped) text and written as compressed
   ``uint16`` shards with sentence and document boundary arrays (``.npz``, read with
   ``allow_pickle=False``), so a GPU run reads no raw text.
3. **Pretraining** ``transformers.AlbertForPreTraining`` as the ALBERT paper does it: segment pairs of
   consecutive sentences of one document up to a target length, the two segments swapped half the time
   (SOP), whole-word n-gram masking (n = 1..3, p(n) ∝ 1/n, 15 % of tokens; 80 % ``[MASK]``, 10 % random,
   10 % kept), pairs and masks drawn anew each epoch. Batches hold a token budget; AdamW with linear warm-up
   and decay; bf16 autocast and SDPA attention on CUDA.

Every random choice is a function of ``(seed, epoch, batch)``, so a run resumed from a checkpoint ends
with the same weights as one that never stopped. Checkpoints and the final model are safetensors (model
files split below 16 MiB) plus JSON; nothing is pickled. The final model directory holds the ALBERT
weights, the tokenizer files and a model card; ``albert-srl train --set encoder.pretrained=DIR`` takes it.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import logging
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from glob import glob
from itertools import chain, islice
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm import tqdm
from transformers import AlbertConfig, AlbertForPreTraining, get_linear_schedule_with_warmup

from albert_srl.config import ConfigError, load_dataclass
from albert_srl.errors import SRLFormatError
from albert_srl.tokenizer import load_tokenizer, train_sentencepiece
from albert_srl.train import fsync, join_optimizer_state, split_optimizer_state

log = logging.getLogger(__name__)

MANIFEST = "pack.json"
TOKENIZER = "tokenizer"
CHECKPOINTS = "checkpoints"
MAX_SHARD = "16MB"  # model files; also the limit for optimizer shards below
MAX_SHARD_BYTES = 16_000_000
NGRAM_WEIGHTS = np.array([1.0, 1 / 2, 1 / 3])  # ALBERT: p(n) ∝ 1/n for n-grams of n = 1..3 words
NO_DECAY = ("bias", "LayerNorm.weight")


# ---------------------------------------------------------------------------------------------------
# Configuration


@dataclass
class AlbertSize:
    """The encoder's hyperparameters (``AlbertConfig`` fields); the vocabulary size is the tokenizer's."""

    embedding_size: int = 128
    hidden_size: int = 256
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 1024
    num_hidden_groups: int = 1
    max_position_embeddings: int = 512
    dropout: float = 0.0  # ALBERT v2 pretrains without dropout


@dataclass
class PretrainConfig:
    """Everything ``pretrain`` needs; the YAML file's keys are these fields."""

    text: str  # glob of UTF-8 text files (plain or .gz): a title line, one paragraph a line, blank-line ends
    output_dir: str
    packed_dir: str | None = None  # default output_dir/packed; reused when it holds a finished pack
    tokenizer: str | None = None  # an existing tokenizer directory instead of training one
    vocab_size: int = 8000
    lowercase: bool = False
    vocab_sentences: int = 500_000  # sentences of the text the vocabulary is trained on
    vocab_conll: str | None = None  # also train the vocabulary on this CoNLL file's words (a train split)
    max_documents: int | None = None  # pack only the first documents (smoke runs)
    min_words: int = 5  # shorter lines (headings, list items) are dropped
    shard_tokens: int = 20_000_000
    model: AlbertSize = field(default_factory=AlbertSize)
    max_length: int = 128  # subwords of a segment pair, [CLS] and [SEP]s included
    short_seq_prob: float = 0.1  # pairs with a shorter random target length, as BERT/ALBERT
    mask_prob: float = 0.15
    eval_documents: int = 200  # held out from training; MLM/SOP accuracy is measured on them
    max_tokens: int = 8192  # subword budget of one batch (padding included)
    epochs: int = 1
    max_steps: int | None = None  # stop after this many optimizer steps (the schedule ends there)
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    grad_clip: float = 1.0
    checkpoint_every: int = 500  # optimizer steps
    log_every: int = 50
    seed: int = 13
    num_threads: int | None = None
    device: Literal["cpu", "cuda", "auto"] = "auto"
    bf16: bool | None = None  # None: on with CUDA
    compile: bool = False  # torch.compile the encoder


def load_pretrain_config(path: str | Path, overrides: Sequence[str] = ()) -> PretrainConfig:
    """Read a pretraining config from YAML with dotted ``key=value`` overrides.

    Raises ``ConfigError`` (an ``SRLFormatError``) naming the file and the bad key.
    """
    config = load_dataclass(PretrainConfig, path, overrides)
    if config.vocab_conll is not None and re.search(r"dev|test", Path(config.vocab_conll).name):
        raise ConfigError(str(path), None, f"vocab_conll must be a training split, not {config.vocab_conll}")
    if config.max_length > config.model.max_position_embeddings:
        raise ConfigError(str(path), None, "max_length exceeds model.max_position_embeddings")
    return config


def text_paths(config: PretrainConfig) -> list[str]:
    paths = sorted(glob(config.text))
    if not paths:
        raise ConfigError(config.text, None, "text: no file matches this pattern")
    return paths


# ---------------------------------------------------------------------------------------------------
# Reading text: documents of sentences

# A sentence ends at . ! or ? (perhaps followed by a closing quote or bracket), then space and an
# upper-case letter, digit or opening quote. spaCy's splitter (albert_srl.text) reads ~30k words/s here,
# this regex ~8M: sentences only choose where segments may split, so speed wins.
SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
# "Mr. Smith", "U.S. Army", "J. R. R. Tolkien": a period after these is not a sentence end.
ABBREVIATION = re.compile(
    r"(?:\b[A-Z]|\b(?:[A-Za-z]\.)+[A-Za-z]|\b(?:Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|Mt|Gen|Col|Lt|Sgt|Capt|Gov|Rev"
    r"|Fr|No|Vol|pp|vs|etc|approx|ca|cf|e\.g|i\.e|Inc|Ltd|Co|Corp|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept"
    r"|Oct|Nov|Dec))$"
)


def split_sentences(paragraph: str) -> list[str]:
    """The sentences of one paragraph, cut after sentence-final punctuation but not abbreviations."""
    sentences, start = [], 0
    for end in SENTENCE_END.finditer(paragraph):
        if paragraph[end.start()] == "." and ABBREVIATION.search(paragraph, start, end.start()):
            continue
        sentences.append(paragraph[start : end.end()].strip())
        start = end.end()
    sentences.append(paragraph[start:].strip())
    return [s for s in sentences if s]


def read_documents(paths: Iterable[str | Path], min_words: int = 5) -> Iterator[list[str]]:
    """Each document of the text files as its list of sentences (the title line and lines of fewer than
    ``min_words`` words dropped)."""
    for path in paths:
        yield from _documents_of(Path(path), min_words)


def _documents_of(path: Path, min_words: int) -> Iterator[list[str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    line_number = 0
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as lines:
            document: list[str] = []
            title = True
            for line_number, line in enumerate(lines, 1):  # noqa: B007 (read after the loop on error)
                if not line.strip():
                    if document:
                        yield document
                    document, title = [], True
                elif title:
                    title = False
                elif len(line.split()) >= min_words:
                    document.extend(split_sentences(line.strip()))
            if document:
                yield document
    except (OSError, EOFError) as error:
        raise SRLFormatError(str(path), line_number + 1 if line_number else None, str(error)) from error


def conll_lines(path: str) -> Iterator[str]:
    """The sentences of a CoNLL file as space-separated words."""
    from albert_srl.formats import read

    for sentence in read(path):
        yield " ".join(sentence.words)


# ---------------------------------------------------------------------------------------------------
# 1. Vocabulary


def build_vocabulary(config: PretrainConfig, out_dir: str | Path) -> Path:
    """Train the SentencePiece vocabulary on the first ``vocab_sentences`` sentences of the text (and the
    words of ``vocab_conll``); returns the tokenizer directory."""
    sentences = chain.from_iterable(read_documents(text_paths(config), config.min_words))
    lines: Iterable[str] = islice(sentences, config.vocab_sentences)
    if config.vocab_conll is not None:
        lines = chain(lines, conll_lines(config.vocab_conll))
    log.info("training a %d-piece vocabulary", config.vocab_size)
    return train_sentencepiece(lines, out_dir, config.vocab_size, config.lowercase)


# ---------------------------------------------------------------------------------------------------
# 2. Packing


@dataclass
class PackedCorpus:
    """Token ids of a packed text with its sentence and document boundaries.

    ``tokens``: (N,) uint16. Sentence ``i`` is ``tokens[sentence_offsets[i]:sentence_offsets[i + 1]]``
    (``sentence_offsets``: (S + 1,) int64); document ``j`` is sentences
    ``document_offsets[j]:document_offsets[j + 1]`` (``document_offsets``: (D + 1,) int64).
    """

    tokens: np.ndarray
    sentence_offsets: np.ndarray
    document_offsets: np.ndarray

    @property
    def documents(self) -> int:
        return len(self.document_offsets) - 1

    def sentence(self, index: int) -> np.ndarray:
        return self.tokens[self.sentence_offsets[index] : self.sentence_offsets[index + 1]]


def pack(
    text: Iterable[str | Path],
    tokenizer_dir: str | Path,
    out_dir: str | Path,
    shard_tokens: int = 20_000_000,
    max_documents: int | None = None,
    min_words: int = 5,
) -> Path:
    """Tokenize the documents of the ``text`` files into ``out_dir/shard-*.npz`` and write the manifest
    (``pack.json``) last, so a pack with a manifest is complete. The tokenizer is copied into
    ``out_dir/tokenizer``: the ids mean something only with it. Returns ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sources = [str(p) for p in text]
    if Path(tokenizer_dir).resolve() != (out / TOKENIZER).resolve():
        shutil.copytree(tokenizer_dir, out / TOKENIZER, dirs_exist_ok=True)
    tokenizer = load_tokenizer(out / TOKENIZER)
    if len(tokenizer) > np.iinfo(np.uint16).max:
        raise ValueError(f"a vocabulary of {len(tokenizer)} pieces does not fit uint16 shards")
    documents = islice(read_documents(sources, min_words), max_documents)
    shards, totals, buffer = [], {"tokens": 0, "sentences": 0, "documents": 0}, ShardBuffer()
    for group in batched(documents, 256):
        for document in tokenize_documents(tokenizer, group):
            buffer.add(document)
        if buffer.tokens >= shard_tokens:
            shards.append(buffer.write(out / f"shard-{len(shards):05d}.npz", totals))
            buffer = ShardBuffer()
    if buffer.documents or not shards:
        shards.append(buffer.write(out / f"shard-{len(shards):05d}.npz", totals))
    manifest = {
        "shards": shards,
        **totals,
        "sources": sources,
        "max_documents": max_documents,
        "min_words": min_words,
        "vocab_size": len(tokenizer),
        "lowercase": bool(getattr(tokenizer, "do_lower_case", False)),
    }
    write_atomic(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    log.info("packed %d documents, %d sentences, %d tokens into %s", *totals.values(), out)
    return out


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while group := list(islice(iterator, size)):
        yield group


def tokenize_documents(tokenizer: Any, documents: list[list[str]]) -> list[list[list[int]]]:
    """Token ids of every sentence of every document, in one batched tokenizer call; empty sentences
    (nothing but spaces after normalisation) are dropped."""
    ids = tokenizer([s for d in documents for s in d], add_special_tokens=False)["input_ids"]
    result, start = [], 0
    for document in documents:
        result.append([s for s in ids[start : start + len(document)] if s])
        start += len(document)
    return result


@dataclass
class ShardBuffer:
    """Sentences of documents collected for one shard."""

    sentences: list[list[int]] = field(default_factory=list)
    document_sizes: list[int] = field(default_factory=list)
    tokens: int = 0

    @property
    def documents(self) -> int:
        return len(self.document_sizes)

    def add(self, document: list[list[int]]) -> None:
        if document:
            self.sentences.extend(document)
            self.document_sizes.append(len(document))
            self.tokens += sum(map(len, document))

    def write(self, path: Path, totals: dict[str, int]) -> str:
        """Save as compressed arrays (written aside, then renamed); returns the file name."""
        lengths = np.array([len(s) for s in self.sentences], dtype=np.int64)
        tokens = np.fromiter(chain.from_iterable(self.sentences), dtype=np.uint16, count=self.tokens)
        staging = path.with_name(f".tmp-{path.name}")
        with staging.open("wb") as stream:
            np.savez_compressed(
                stream,
                tokens=tokens,
                sentence_offsets=np.concatenate([[0], np.cumsum(lengths)]),
                document_offsets=np.concatenate([[0], np.cumsum(self.document_sizes, dtype=np.int64)]),
            )
        os.replace(staging, path)
        totals["tokens"] += self.tokens
        totals["sentences"] += len(self.sentences)
        totals["documents"] += self.documents
        return path.name


def load_packed(packed_dir: str | Path) -> PackedCorpus:
    """All shards of a pack as one corpus."""
    root = Path(packed_dir)
    manifest_path = root / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SRLFormatError(str(manifest_path), None, f"not a finished pack: {error}") from error
    tokens, sentences, documents = [], [np.zeros(1, np.int64)], [np.zeros(1, np.int64)]
    token_base = sentence_base = 0
    for name in manifest["shards"]:
        with np.load(root / name, allow_pickle=False) as shard:
            tokens.append(shard["tokens"])
            sentences.append(shard["sentence_offsets"][1:] + token_base)
            documents.append(shard["document_offsets"][1:] + sentence_base)
            token_base += len(shard["tokens"])
            sentence_base += len(shard["sentence_offsets"]) - 1
    return PackedCorpus(np.concatenate(tokens), np.concatenate(sentences), np.concatenate(documents))


def ensure_packed(config: PretrainConfig) -> Path:
    """The pack directory of ``config``: reused when finished, otherwise built (vocabulary first)."""
    packed = Path(config.packed_dir or Path(config.output_dir) / "packed")
    if (packed / MANIFEST).exists():
        log.info("using the packed data in %s", packed)
        return packed
    tokenizer_dir = config.tokenizer or build_vocabulary(config, packed / TOKENIZER)
    return pack(
        text_paths(config), tokenizer_dir, packed, config.shard_tokens, config.max_documents, config.min_words
    )


# ---------------------------------------------------------------------------------------------------
# 3a. Segment pairs and sentence order


@dataclass
class SegmentPairs:
    """Pairs of adjacent token ranges of one document, in text order.

    ``spans``: (P, 4) int64 rows ``a_start, a_end, b_start, b_end`` into the corpus tokens, with
    ``a_end == b_start``; ``swapped``: (P,) bool, True where the model sees B before A (SOP label 1).
    """

    spans: np.ndarray
    swapped: np.ndarray

    def __len__(self) -> int:
        return len(self.spans)

    def lengths(self) -> np.ndarray:
        """(P,) subwords of each encoded pair: both segments, [CLS] and two [SEP]."""
        return self.spans[:, 1] - self.spans[:, 0] + self.spans[:, 3] - self.spans[:, 2] + 3


def make_segment_pairs(
    corpus: PackedCorpus,
    documents: range,
    max_length: int,
    short_seq_prob: float,
    rng: np.random.Generator,
) -> SegmentPairs:
    """Segment pairs as in ALBERT's ``create_instances_from_document``: consecutive sentences are
    gathered up to a target length (``max_length - 3``; a random shorter one with ``short_seq_prob``),
    split at a random sentence boundary (inside the sentence when there is one), truncated to fit, and
    swapped with probability 1/2."""
    budget = max_length - 3
    offsets, bounds = corpus.sentence_offsets, corpus.document_offsets
    rows: list[tuple[int, int, int, int]] = []
    for document in documents:
        first, last = int(bounds[document]), int(bounds[document + 1])
        target = _target_length(budget, short_seq_prob, rng)
        chunk_start = first
        for sentence in range(first, last):
            length = offsets[sentence + 1] - offsets[chunk_start]
            if length >= target or sentence == last - 1:
                pair = _split_chunk(offsets, chunk_start, sentence + 1, rng)
                if pair is not None:
                    rows.append(_truncate_pair(*pair, budget, rng))
                chunk_start = sentence + 1
                target = _target_length(budget, short_seq_prob, rng)
    spans = np.array(rows, dtype=np.int64).reshape(-1, 4)
    return SegmentPairs(spans, rng.random(len(spans)) < 0.5)


def _target_length(budget: int, short_seq_prob: float, rng: np.random.Generator) -> int:
    return int(rng.integers(2, budget + 1)) if rng.random() < short_seq_prob else budget


def _split_chunk(
    offsets: np.ndarray, first: int, end: int, rng: np.random.Generator
) -> tuple[int, int, int] | None:
    """``(start, split, stop)`` token positions of sentences ``first:end`` split in two non-empty parts,
    at a sentence boundary when there are two sentences or more; None for a single one-token sentence."""
    start, stop = int(offsets[first]), int(offsets[end])
    if end - first >= 2:
        return start, int(offsets[rng.integers(first + 1, end)]), stop
    if stop - start >= 2:
        return start, int(rng.integers(start + 1, stop)), stop
    return None


def _truncate_pair(
    start: int, split: int, stop: int, budget: int, rng: np.random.Generator
) -> tuple[int, int, int, int]:
    """Cut the longer segment (from its front or its back, at random) until both fit ``budget``."""
    a_start, a_end, b_start, b_end = start, split, split, stop
    while (a_end - a_start) + (b_end - b_start) > budget:
        a_longer = a_end - a_start >= b_end - b_start
        longer, shorter = (
            (a_end - a_start, b_end - b_start) if a_longer else (b_end - b_start, a_end - a_start)
        )
        excess = (a_end - a_start) + (b_end - b_start) - budget
        cut = min(excess, max(1, longer - shorter))
        front = rng.random() < 0.5
        if a_longer:
            a_start, a_end = (a_start + cut, a_end) if front else (a_start, a_end - cut)
        else:
            b_start, b_end = (b_start + cut, b_end) if front else (b_start, b_end - cut)
    return a_start, a_end, b_start, b_end


# ---------------------------------------------------------------------------------------------------
# 3b. Masking and batches


@dataclass
class Vocabulary:
    """What masking needs to know about the tokenizer's pieces.

    ``word_start``: (V,) bool, True for pieces that begin a word (``▁...``); ``random_ids``: the ids a
    masked token may be replaced with (every piece but the special ones).
    """

    cls_id: int
    sep_id: int
    pad_id: int
    mask_id: int
    word_start: np.ndarray
    random_ids: np.ndarray

    @classmethod
    def of(cls, tokenizer: Any) -> Vocabulary:
        pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        special = set(tokenizer.all_special_ids)
        return cls(
            cls_id=tokenizer.cls_token_id,
            sep_id=tokenizer.sep_token_id,
            pad_id=tokenizer.pad_token_id,
            mask_id=tokenizer.mask_token_id,
            word_start=np.array([p.startswith("▁") for p in pieces]),
            random_ids=np.array([i for i in range(len(pieces)) if i not in special], dtype=np.int64),
        )


def choose_masked_spans(
    word_starts: np.ndarray, budget: int, rng: np.random.Generator, max_ngram: int = 3
) -> list[tuple[int, int]]:
    """Whole-word n-grams to mask, as ALBERT's n-gram masking: n-gram starts in random order, n drawn
    with p(n) ∝ 1/n, n-grams that overlap a chosen one or overrun ``budget`` tokens skipped.

    ``word_starts``: (W + 1,) sorted token positions where words start, the last one the end of the last
    word; a segment boundary is marked by a gap (a word whose end is not the next word's start), which
    no n-gram crosses. Returns disjoint ``[start, end)`` token spans, at most ``budget`` tokens in all.
    """
    weights = NGRAM_WEIGHTS[:max_ngram] / NGRAM_WEIGHTS[:max_ngram].sum()
    starts, ends = word_starts[:-1], _word_ends(word_starts)
    words = len(starts)
    sizes = rng.choice(np.arange(1, max_ngram + 1), size=words, p=weights)
    taken = np.zeros(int(word_starts[-1]) + 1, dtype=bool)
    spans, count = [], 0
    for first, n in zip(rng.permutation(words).tolist(), sizes.tolist(), strict=True):
        if count >= budget:
            break
        last = first
        while last - first + 1 < n and last + 1 < words and ends[last] == starts[last + 1]:
            last += 1
        start, end = int(starts[first]), int(ends[last])
        if count + end - start > budget or taken[start:end].any():
            continue
        taken[start:end] = True
        spans.append((start, end))
        count += end - start
    return spans


def _word_ends(word_starts: np.ndarray) -> np.ndarray:
    """Words end where the next begins; ``word_starts`` marks a segment's end with a negative entry
    ``-(end + 1)`` before the next segment's first word (see ``word_boundaries``)."""
    return word_starts[1:]


def word_boundaries(input_ids: np.ndarray, vocab: Vocabulary) -> tuple[np.ndarray, np.ndarray]:
    """Word start positions and ends of one encoded pair (specials excluded).

    ``input_ids``: (T,). Returns ``(starts, ends)``, each (W,): word ``k`` is tokens ``starts[k]:ends[k]``.
    A word starts at a ``▁`` piece or right after a special token, and ends at the next start or special.
    """
    special = (input_ids == vocab.cls_id) | (input_ids == vocab.sep_id) | (input_ids == vocab.pad_id)
    after_special = np.concatenate([[True], special[:-1]])
    is_start = ~special & (vocab.word_start[input_ids] | after_special)
    starts = np.flatnonzero(is_start)
    boundaries = np.flatnonzero(is_start | special)
    ends = boundaries[np.searchsorted(boundaries, starts, side="right")]
    return starts, ends


def mask_pair(
    input_ids: np.ndarray, vocab: Vocabulary, mask_prob: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Mask one encoded pair in place of a copy. ``input_ids``: (T,) int64.

    Returns ``(masked_ids, labels)``, both (T,): labels hold the original id at masked positions and
    -100 elsewhere. Of the masked positions 80 % become ``[MASK]``, 10 % a random piece, 10 % stay.
    """
    starts, ends = word_boundaries(input_ids, vocab)
    tokens = int((ends - starts).sum())
    spans = choose_spans_between(starts, ends, max(1, round(tokens * mask_prob)), rng)
    positions = np.array([i for start, end in spans for i in range(start, end)], dtype=np.int64)
    labels = np.full_like(input_ids, -100)
    labels[positions] = input_ids[positions]
    masked = input_ids.copy()
    action = rng.random(len(positions))
    masked[positions[action < 0.8]] = vocab.mask_id
    replace = positions[(action >= 0.8) & (action < 0.9)]
    masked[replace] = rng.choice(vocab.random_ids, size=len(replace))
    return masked, labels


def choose_spans_between(
    starts: np.ndarray, ends: np.ndarray, budget: int, rng: np.random.Generator, max_ngram: int = 3
) -> list[tuple[int, int]]:
    """Whole-word n-grams to mask, as ALBERT's n-gram masking does it.

    Words are ``[starts[k], ends[k])``; n-grams never cross a gap between words (a special token). Starts
    are visited in random order with n drawn by p(n) ∝ 1/n; n-grams overlapping a chosen one or overrunning
    ``budget`` tokens are skipped. Returns disjoint ``[start, end)`` token spans, ``budget`` tokens at most.
    """
    words = len(starts)
    weights = NGRAM_WEIGHTS[:max_ngram] / NGRAM_WEIGHTS[:max_ngram].sum()
    sizes = rng.choice(np.arange(1, max_ngram + 1), size=words, p=weights).tolist()
    starts_list, ends_list = starts.tolist(), ends.tolist()
    taken: set[int] = set()
    spans, count = [], 0
    for first in rng.permutation(words).tolist():
        if count >= budget:
            break
        last = first
        while (
            last - first + 1 < sizes[first] and last + 1 < words and ends_list[last] == starts_list[last + 1]
        ):
            last += 1
        start, end = starts_list[first], ends_list[last]
        if count + end - start > budget or any(i in taken for i in range(start, end)):
            continue
        taken.update(range(start, end))
        spans.append((start, end))
        count += end - start
    return spans


@dataclass
class PretrainBatch:
    """One batch of masked segment pairs; B pairs padded to T subwords."""

    input_ids: torch.Tensor  # (B, T) [CLS] first [SEP] second [SEP] <pad>...
    attention_mask: torch.Tensor  # (B, T) 1 on real tokens
    token_type_ids: torch.Tensor  # (B, T) 0 up to the first [SEP], 1 after
    labels: torch.Tensor  # (B, T) original ids at masked positions, -100 elsewhere
    sentence_order_label: torch.Tensor  # (B,) 1 where the segments were swapped

    def to(self, device: torch.device) -> PretrainBatch:
        moved = {k: v.to(device, non_blocking=True) for k, v in dataclasses.asdict(self).items()}
        return PretrainBatch(**moved)

    @property
    def tokens(self) -> int:
        return int(self.attention_mask.sum())


def collate_pairs(
    corpus: PackedCorpus,
    pairs: SegmentPairs,
    indices: Sequence[int],
    vocab: Vocabulary,
    mask_prob: float,
    rng: np.random.Generator,
) -> PretrainBatch:
    """Encode, mask and pad the pairs ``indices`` (in that order)."""
    lengths = pairs.lengths()[list(indices)]
    width = int(lengths.max())
    shape = (len(indices), width)
    input_ids = np.full(shape, vocab.pad_id, dtype=np.int64)
    labels = np.full(shape, -100, dtype=np.int64)
    token_types = np.zeros(shape, dtype=np.int64)
    for row, index in enumerate(indices):
        a_start, a_end, b_start, b_end = pairs.spans[index]
        first, second = corpus.tokens[a_start:a_end], corpus.tokens[b_start:b_end]
        if pairs.swapped[index]:
            first, second = second, first
        ids = np.concatenate([[vocab.cls_id], first, [vocab.sep_id], second, [vocab.sep_id]]).astype(np.int64)
        input_ids[row, : len(ids)], labels[row, : len(ids)] = mask_pair(ids, vocab, mask_prob, rng)
        token_types[row, len(first) + 2 : len(ids)] = 1
    return PretrainBatch(
        input_ids=torch.from_numpy(input_ids),
        attention_mask=torch.from_numpy((np.arange(width) < lengths[:, None]).astype(np.int64)),
        token_type_ids=torch.from_numpy(token_types),
        labels=torch.from_numpy(labels),
        sentence_order_label=torch.from_numpy(pairs.swapped[list(indices)].astype(np.int64)),
    )


def token_budget_batches(lengths: np.ndarray, max_tokens: int, rng: np.random.Generator) -> list[list[int]]:
    """Pair indices grouped so that (pairs × longest pair) ≤ ``max_tokens``: sorted by length (ties in
    random order) so that little is padding, then the batches shuffled."""
    order = np.lexsort((rng.random(len(lengths)), lengths))
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order.tolist():
        if current and (len(current) + 1) * int(lengths[index]) > max_tokens:
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return [batches[i] for i in rng.permutation(len(batches))]


def rng_for(seed: int, *keys: int) -> np.random.Generator:
    """An independent random stream for one (epoch, batch ...) of one seed."""
    return np.random.default_rng([seed, *keys])


# ---------------------------------------------------------------------------------------------------
# 3c. The model, the step, evaluation


def fresh_model(config: PretrainConfig, vocab_size: int, pad_id: int, attention: str) -> AlbertForPreTraining:
    size = config.model
    albert = AlbertConfig(
        vocab_size=vocab_size,
        embedding_size=size.embedding_size,
        hidden_size=size.hidden_size,
        num_hidden_layers=size.num_hidden_layers,
        num_attention_heads=size.num_attention_heads,
        intermediate_size=size.intermediate_size,
        num_hidden_groups=size.num_hidden_groups,
        max_position_embeddings=size.max_position_embeddings,
        hidden_dropout_prob=size.dropout,
        attention_probs_dropout_prob=size.dropout,
        classifier_dropout_prob=size.dropout,
        pad_token_id=pad_id,
        bos_token_id=None,
        eos_token_id=None,
    )
    albert._attn_implementation = attention
    return AlbertForPreTraining(albert)


@dataclass
class StepResult:
    loss: torch.Tensor
    mlm_correct: int
    mlm_total: int
    sop_correct: int


def pretraining_loss(model: AlbertForPreTraining, batch: PretrainBatch, encoder: Any = None) -> StepResult:
    """MLM + SOP loss of ``AlbertForPreTraining``'s own heads; the MLM head runs only on the masked
    positions (a 15 % share: the vocabulary projection of every position would cost a quarter of a step).
    ``encoder`` is ``model.albert`` or a compiled version of it."""
    outputs = (encoder or model.albert)(
        input_ids=batch.input_ids, attention_mask=batch.attention_mask, token_type_ids=batch.token_type_ids
    )
    masked = batch.labels != -100
    targets = batch.labels[masked]
    mlm_logits = model.predictions(outputs.last_hidden_state[masked])  # (M, V)
    sop_logits = model.sop_classifier(outputs.pooler_output)  # (B, 2)
    loss = F.cross_entropy(mlm_logits.float(), targets) + F.cross_entropy(
        sop_logits.float(), batch.sentence_order_label
    )
    with torch.no_grad():
        mlm_correct = int((mlm_logits.argmax(-1) == targets).sum())
        sop_correct = int((sop_logits.argmax(-1) == batch.sentence_order_label).sum())
    return StepResult(loss, mlm_correct, len(targets), sop_correct)


@dataclass
class Meter:
    """Running sums between two reports."""

    loss: float = 0.0
    steps: int = 0
    mlm_correct: int = 0
    mlm_total: int = 0
    sop_correct: int = 0
    pairs: int = 0
    tokens: int = 0
    seconds: float = 0.0

    def add(self, result: StepResult, pairs: int, tokens: int, seconds: float) -> None:
        self.loss += float(result.loss)
        self.steps += 1
        self.mlm_correct += result.mlm_correct
        self.mlm_total += result.mlm_total
        self.sop_correct += result.sop_correct
        self.pairs += pairs
        self.tokens += tokens
        self.seconds += seconds

    def summary(self) -> dict[str, float]:
        return {
            "loss": self.loss / max(self.steps, 1),
            "mlm_acc": self.mlm_correct / max(self.mlm_total, 1),
            "sop_acc": self.sop_correct / max(self.pairs, 1),
            "tokens_per_s": self.tokens / max(self.seconds, 1e-9),
        }


@torch.inference_mode()
def evaluate(
    model: AlbertForPreTraining,
    corpus: PackedCorpus,
    pairs: SegmentPairs,
    vocab: Vocabulary,
    config: PretrainConfig,
    device: torch.device,
    autocast: AbstractContextManager[Any],
) -> dict[str, float]:
    """Held-out MLM/SOP accuracy with masks fixed by the seed (the same at every evaluation)."""
    if not len(pairs):
        return {}
    model.eval()
    meter = Meter()
    batches = token_budget_batches(pairs.lengths(), config.max_tokens, rng_for(config.seed, -1))
    for number, indices in enumerate(batches):
        batch = collate_pairs(
            corpus, pairs, indices, vocab, config.mask_prob, rng_for(config.seed, -1, number)
        )
        with autocast:
            result = pretraining_loss(model, batch.to(device))
        meter.add(result, len(indices), batch.tokens, 0.0)
    model.train()
    summary = meter.summary()
    del summary["tokens_per_s"]
    return summary


# ---------------------------------------------------------------------------------------------------
# 3d. The loop, checkpoints, the output directory


@dataclass
class PretrainState:
    """The loop's position; saved as JSON in every checkpoint."""

    epoch: int = 0
    batches_done: int = 0  # batches of ``epoch`` already trained
    step: int = 0
    tokens_seen: int = 0
    seconds: float = 0.0  # training wall time, summed over resumed runs
    last: dict[str, float] = field(default_factory=dict)  # the latest training report
    eval: dict[str, float] = field(default_factory=dict)  # the latest held-out evaluation


def main_pretrain(config_path: str, overrides: Sequence[str] = ()) -> int:
    """``albert-srl pretrain``: load the config, pretrain (resuming when a checkpoint exists), print the
    model directory."""
    print(pretrain(load_pretrain_config(config_path, overrides)))
    return 0


def pretrain(config: PretrainConfig, resume: bool = True) -> Path:
    """Vocabulary, packing and pretraining as ``config`` says; returns the model directory,
    ``output_dir/model``. With ``resume`` it continues from the newest checkpoint in ``output_dir``
    (old checkpoints are removed otherwise)."""
    output = Path(config.output_dir)
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    cuda = config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if cuda else "cpu")
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if cuda and config.bf16 is not False else nullcontext()
    )
    packed_dir = ensure_packed(config)
    tokenizer = load_tokenizer(packed_dir / TOKENIZER)
    vocab = Vocabulary.of(tokenizer)
    corpus = load_packed(packed_dir)
    held_out = min(config.eval_documents, corpus.documents // 10)
    train_documents = range(corpus.documents - held_out)
    eval_pairs = make_segment_pairs(
        corpus, range(corpus.documents - held_out, corpus.documents), config.max_length, 0.0,
        rng_for(config.seed, -2),
    )  # fmt: skip

    checkpoint = latest_checkpoint(output) if resume else None
    if not resume:
        shutil.rmtree(output / CHECKPOINTS, ignore_errors=True)
    if checkpoint is None:
        torch.manual_seed(config.seed)
        model = fresh_model(config, len(tokenizer), vocab.pad_id, "sdpa")
    else:
        model = AlbertForPreTraining.from_pretrained(
            checkpoint, dtype=torch.float32, attn_implementation="sdpa"
        )
    model.to(device).train()
    first_epoch = epoch_plan(corpus, train_documents, config, 0)
    total_steps = config.max_steps or len(first_epoch) * config.epochs
    optimizer = build_optimizer(model, config)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, round(config.warmup_ratio * total_steps), total_steps
    )
    state = PretrainState()
    if checkpoint is not None:
        state = load_checkpoint(checkpoint, optimizer, scheduler, device)
        log.info("resuming from %s (step %d)", checkpoint, state.step)
    log.info(
        "pretraining %.1fM parameters on %d documents (%d held out), %d steps",
        sum(p.numel() for p in model.parameters()) / 1e6, len(train_documents), held_out, total_steps,
    )  # fmt: skip
    encoder = torch.compile(model.albert, dynamic=True) if config.compile else model.albert
    progress = tqdm(
        total=total_steps,
        initial=state.step,
        unit="step",
        dynamic_ncols=True,
        disable=not sys.stderr.isatty(),
    )
    meter = Meter()
    while state.step < total_steps and state.epoch < config.epochs:
        plan = first_epoch if state.epoch == 0 else epoch_plan(corpus, train_documents, config, state.epoch)
        for number in range(state.batches_done, len(plan.batches)):
            if state.step >= total_steps:
                break
            started = time.perf_counter()
            batch = collate_pairs(
                corpus, plan.pairs, plan.batches[number], vocab, config.mask_prob,
                rng_for(config.seed, state.epoch, number),
            )  # fmt: skip
            torch.manual_seed(config.seed * 1_000_003 + state.step)  # dropout, if any, follows the step
            with autocast:
                result = pretraining_loss(model, batch.to(device), encoder)
            result.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            seconds = time.perf_counter() - started
            state.step, state.batches_done = state.step + 1, number + 1
            state.tokens_seen += batch.tokens
            state.seconds += seconds
            meter.add(result, len(plan.batches[number]), batch.tokens, seconds)
            progress.update(1)
            if state.step % config.log_every == 0 or state.step == total_steps:
                state.last = meter.summary()
                report(progress, state)
                meter = Meter()
            if state.step % config.checkpoint_every == 0 and state.step < total_steps:
                state.eval = evaluate(model, corpus, eval_pairs, vocab, config, device, autocast)
                save_checkpoint(output, model, optimizer, scheduler, state)
        else:
            state.epoch, state.batches_done = state.epoch + 1, 0
    progress.close()
    if meter.steps:
        state.last = meter.summary()
    state.eval = evaluate(model, corpus, eval_pairs, vocab, config, device, autocast)
    log.info("held-out: %s", _format(state.eval))
    save_checkpoint(output, model, optimizer, scheduler, state)
    return save_model(output, model, tokenizer, config, state, packed_dir)


@dataclass
class EpochPlan:
    pairs: SegmentPairs
    batches: list[list[int]]


def epoch_plan(corpus: PackedCorpus, documents: range, config: PretrainConfig, epoch: int) -> EpochPlan:
    """The pairs (drawn anew each epoch) and their batches, a function of the seed and the epoch alone."""
    rng = rng_for(config.seed, epoch)
    pairs = make_segment_pairs(corpus, documents, config.max_length, config.short_seq_prob, rng)
    return EpochPlan(pairs, token_budget_batches(pairs.lengths(), config.max_tokens, rng))


def build_optimizer(model: torch.nn.Module, config: PretrainConfig) -> torch.optim.AdamW:
    """AdamW, no weight decay on biases and LayerNorm weights (as BERT/ALBERT)."""
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (no_decay if name.endswith(NO_DECAY) else decay).append(parameter)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.999), eps=1e-6)


def report(progress: tqdm, state: PretrainState) -> None:
    progress.set_postfix(
        loss=f"{state.last['loss']:.3f}",
        mlm=f"{state.last['mlm_acc']:.3f}",
        sop=f"{state.last['sop_acc']:.3f}",
        tok_s=f"{state.last['tokens_per_s']:.0f}",
    )
    log.info("step %d (epoch %d): %s", state.step, state.epoch, _format(state.last))


def _format(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())


def save_checkpoint(
    output: Path,
    model: AlbertForPreTraining,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    state: PretrainState,
) -> Path:
    """Write ``output/checkpoints/step-<step>`` atomically (aside, then renamed) and drop older ones."""
    root = output / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    model.save_pretrained(staging, max_shard_size=MAX_SHARD)
    tensors, optimizer_json = split_optimizer_state(optimizer.state_dict())
    save_sharded(tensors, staging, "optimizer")
    saved = {
        "state": dataclasses.asdict(state),
        "optimizer": optimizer_json,
        "scheduler": scheduler.state_dict(),
    }
    (staging / "state.json").write_text(json.dumps(saved), encoding="utf-8")
    for path in staging.iterdir():
        fsync(path)
    final = root / f"step-{state.step:09d}"
    shutil.rmtree(final, ignore_errors=True)
    os.replace(staging, final)
    fsync(root)
    for old in root.iterdir():
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(output: Path) -> Path | None:
    """The newest complete checkpoint (half-written ones are still named ``.tmp-*``)."""
    done = sorted((output / CHECKPOINTS).glob("step-*"))
    return done[-1] if done else None


def load_checkpoint(
    path: Path,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    device: torch.device,
) -> PretrainState:
    """Restore optimizer and scheduler from ``path`` (the model is loaded by ``from_pretrained``)."""
    saved = json.loads((path / "state.json").read_text(encoding="utf-8"))
    optimizer.load_state_dict(
        join_optimizer_state(load_sharded(path, "optimizer", device), saved["optimizer"])
    )
    scheduler.load_state_dict(saved["scheduler"])
    return PretrainState(**saved["state"])


def save_sharded(tensors: dict[str, torch.Tensor], directory: Path, prefix: str) -> None:
    """``tensors`` in safetensors files of at most ``MAX_SHARD_BYTES`` each (one tensor more when a
    single tensor is larger)."""
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, tensor in tensors.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > MAX_SHARD_BYTES:
            shards.append({})
            size = 0
        shards[-1][name] = tensor.contiguous()
        size += nbytes
    for number, shard in enumerate(shards, 1):
        save_file(shard, str(directory / f"{prefix}-{number:05d}-of-{len(shards):05d}.safetensors"))


def load_sharded(directory: Path, prefix: str, device: torch.device) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for path in sorted(directory.glob(f"{prefix}-*.safetensors")):
        tensors.update(load_file(str(path), device=str(device)))
    return tensors


def save_model(
    output: Path,
    model: AlbertForPreTraining,
    tokenizer: Any,
    config: PretrainConfig,
    state: PretrainState,
    packed_dir: Path,
) -> Path:
    """The final HF ALBERT directory ``output/model``: weights, tokenizer files, model card."""
    final = output / "model"
    staging = Path(tempfile.mkdtemp(prefix=".tmp-model-", dir=output))
    model.save_pretrained(staging, max_shard_size=MAX_SHARD)
    tokenizer.save_pretrained(staging)
    manifest = json.loads((packed_dir / MANIFEST).read_text(encoding="utf-8"))
    (staging / "README.md").write_text(model_card(model, config, state, manifest), encoding="utf-8")
    (staging / "pretrain_config.json").write_text(
        json.dumps(dataclasses.asdict(config), indent=2) + "\n", encoding="utf-8"
    )
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
    log.info("pretrained encoder in %s", final)
    return final


def model_card(
    model: AlbertForPreTraining, config: PretrainConfig, state: PretrainState, manifest: dict[str, Any]
) -> str:
    size = config.model
    parameters = sum(p.numel() for p in model.albert.parameters())
    sources = "\n".join(f"- `{Path(s).name}`" for s in manifest["sources"])
    licences = []
    if any("wikipedia" in Path(s).name.lower() for s in manifest["sources"]):
        licences.append("- English Wikipedia text: CC BY-SA (3.0/4.0) and GFDL, the Wikipedia contributors.")
    if config.vocab_conll:
        licences.append(
            f"- Vocabulary also trained on the words of `{Path(config.vocab_conll).name}` "
            "(English Web Treebank / PropBank: CC BY-SA 4.0)."
        )
    licences.append("- Other text: the licence of the files listed above.")
    held_out = state.eval or {}
    return f"""# albert-srl pretrained ALBERT encoder

An ALBERT encoder pretrained from scratch by `albert-srl pretrain` with masked whole-word n-grams (MLM)
and sentence-order prediction (SOP), for fine-tuning with `albert-srl train --set encoder.pretrained=<this
directory>`.

| | |
| --- | --- |
| parameters (encoder) | {parameters / 1e6:.2f} M |
| embedding / hidden / layers (groups) / heads / FFN | {size.embedding_size} / {size.hidden_size} / \
{size.num_hidden_layers} ({size.num_hidden_groups}) / {size.num_attention_heads} / {size.intermediate_size} |
| vocabulary | {manifest["vocab_size"]} SentencePiece unigram pieces, lower-cased: {manifest["lowercase"]} |
| max length in pretraining | {config.max_length} subwords (position embeddings: {size.max_position_embeddings}) |
| steps / epochs | {state.step} / {state.epoch + (1 if state.batches_done else 0)} |
| tokens seen | {state.tokens_seen:,} |
| training wall time | {state.seconds / 60:.1f} min |
| held-out MLM accuracy | {held_out.get("mlm_acc", float("nan")):.4f} |
| held-out SOP accuracy | {held_out.get("sop_acc", float("nan")):.4f} |
| last training report | {_format(state.last)} |

Held-out: the last {config.eval_documents} documents of the packed text at most (a tenth of them when
fewer), never trained on; masks fixed by the seed.

## Data

{manifest["documents"]:,} documents, {manifest["sentences"]:,} sentences, {manifest["tokens"]:,} subwords,
packed from:

{sources}

## Licences

{chr(10).join(licences)}

## Command

`albert-srl pretrain <config>`; the full configuration is in `pretrain_config.json`.
"""


def write_atomic(path: Path, text: str) -> None:
    staging = path.with_name(f".tmp-{path.name}")
    staging.write_text(text, encoding="utf-8")
    fsync(staging)
    os.replace(staging, path)


_ = math  # noqa: F841
