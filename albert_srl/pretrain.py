"""Pretraining our own ALBERT encoder on unlabeled text: masked LM + sentence-order prediction.

The pipeline has three steps, each written once and reused by later runs:

1. **Vocabulary.** A SentencePiece unigram model trained on paragraphs of the pretraining text (plus,
   optionally, the words of CoNLL training files such as EWT train; never a dev or test file), saved in
   the Hugging Face ALBERT tokenizer layout by ``albert_srl.tokenizer``.
2. **Packing.** ``pack`` streams the gzipped text (a document per blank-line-separated block: title,
   then a paragraph a line), splits paragraphs into sentences, tokenizes them and writes compressed
   shards of uint16 token ids with sentence and document boundaries (``shard-*.npz``, read with
   ``allow_pickle=False``), so a GPU run reads no raw text.
3. **Pretraining** with ``transformers.AlbertForPreTraining``, as in the ALBERT paper: segment pairs of
   consecutive sentences of one document up to a target length (shorter 10% of the time, random split
   point), swapped half the time for sentence-order prediction; n-gram masking of whole words (n = 1..3
   with p(n) ∝ 1/n, 15% of tokens, 80% [MASK] / 10% random / 10% kept), drawn anew every epoch.
   The MLM head runs on the masked positions only (the same loss, without (B, T, V) logits).

Every random choice of the data is drawn from a generator seeded by (seed, epoch[, batch]) and the
dropout RNG is saved with each checkpoint, so ``pretrain(config, resume=True)`` after an interruption
ends with the same weights as a run that never stopped. Checkpoints hold tensors as safetensors and the
rest as JSON (nothing is pickled). The result, ``output_dir``, is an ALBERT model directory with its
tokenizer and a model card: ``AlbertModel.from_pretrained(output_dir)`` loads it, and ``albert-srl
train`` takes it as ``encoder.pretrained``. The last ``eval_documents`` documents are held out; the card
reports MLM and SOP accuracy on them.
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
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm import tqdm
from transformers import AlbertConfig, AlbertForPreTraining, get_linear_schedule_with_warmup

from albert_srl import formats
from albert_srl.config import ConfigError, load_dataclass
from albert_srl.errors import SRLFormatError
from albert_srl.tokenizer import load_tokenizer, train_sentencepiece
from albert_srl.train import NO_DECAY, fsync, join_optimizer_state, split_optimizer_state

log = logging.getLogger(__name__)

IGNORE = -100  # label of positions that are not predicted (transformers' convention)
SHARD_LIMIT = 15 * 2**20  # bytes per safetensors file: every file stays under 16 MiB
MANIFEST = "manifest.json"
CHECKPOINTS = "checkpoints"

# ---------------------------------------------------------------------------------------------------
# Configuration


@dataclass
class EncoderSize:
    """The ALBERT to pretrain (``AlbertConfig`` fields); the vocabulary size is the tokenizer's."""

    embedding_size: int = 128
    hidden_size: int = 256
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 1024
    num_hidden_groups: int = 1
    max_position_embeddings: int = 512
    dropout: float = 0.1


@dataclass
class PretrainConfig:
    """Everything ``pretrain`` needs; the YAML file's keys are these fields."""

    # Plain ``list`` (of path strings): ``config.load_dataclass`` checks types with ``isinstance``.
    text_paths: list[str]
    output_dir: str
    # vocabulary
    tokenizer_dir: str | None = None  # default output_dir/tokenizer; trained there when absent
    vocab_size: int = 8000
    lowercase: bool = False
    vocab_paragraphs: int = 200_000  # paragraphs of the text the SentencePiece model is trained on
    vocab_conll: list[str] = field(default_factory=list)  # CoNLL files whose words join the vocabulary text
    # packing
    packed_dir: str | None = None  # default output_dir/packed; packed there when absent
    max_documents: int | None = None  # per text file (small runs, tests)
    min_words: int = 5  # shorter paragraphs (titles, list items, fragments) are dropped
    shard_tokens: int = 10_000_000
    # instances
    encoder: EncoderSize = field(default_factory=EncoderSize)
    max_length: int = 128  # subwords of a pair, [CLS] and two [SEP] included
    short_seq_prob: float = 0.1
    mask_prob: float = 0.15
    max_ngram: int = 3
    eval_documents: int = 200  # the corpus's last documents, held out (at most a tenth of it)
    # optimisation
    max_tokens: int = 8192  # padded subwords of one batch
    max_steps: int = 10_000
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 500
    grad_clip: float = 1.0
    seed: int = 13
    checkpoint_every: int = 500  # optimizer steps
    log_every: int = 50
    # runtime
    device: Literal["cpu", "cuda", "auto"] = "auto"
    bf16: bool | None = None  # None: on when training on CUDA
    compile: bool = False  # torch.compile the encoder (CUDA runs)
    num_threads: int | None = None


def load_pretrain_config(path: str | Path, overrides: Sequence[str] = ()) -> PretrainConfig:
    """Read a pretraining config from YAML with dotted ``key=value`` overrides; check its input files."""
    config = load_dataclass(PretrainConfig, path, overrides)
    if not config.text_paths:
        raise ConfigError(str(path), None, "text_paths is empty")
    for text in [*config.text_paths, *config.vocab_conll]:
        if not Path(text).exists():
            raise ConfigError(str(path), None, f"no such file: {text}")
    for conll in config.vocab_conll:
        if re.search(r"dev|test", Path(conll).name):
            raise ConfigError(str(path), None, f"vocab_conll must not name evaluation data: {conll}")
    if config.max_length > config.encoder.max_position_embeddings:
        raise ConfigError(str(path), None, "max_length exceeds encoder.max_position_embeddings")
    if config.max_tokens < config.max_length:
        raise ConfigError(str(path), None, "max_tokens must hold at least one max_length pair")
    return config


def main_pretrain(config_path: str, overrides: Sequence[str] = ()) -> int:
    """``albert-srl pretrain``: load the config, pretrain (resuming), print the model directory."""
    print(pretrain(load_pretrain_config(config_path, overrides), resume=True))
    return 0


# ---------------------------------------------------------------------------------------------------
# Text: documents, paragraphs and sentences

# A sentence ends at . ! or ? (and closing quotes/brackets) followed by space and an upper-case start,
# unless the word before the stop is an initial or a common abbreviation.
SENTENCE_BREAK = re.compile(r"(?<=[.!?])([\"'\u201d\u2019)\]]*)\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9])")
ABBREVIATION = re.compile(
    r"(?:^|\s|\()(?:[A-Z]|Mr|Mrs|Ms|Dr|St|Jr|Sr|No|Nos|Vol|vs|etc|Inc|Co|Ltd|Gen|Col|Lt|Sgt|Capt|Prof|Rev|"
    r"Mt|Ft|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|U\.S|e\.g|i\.e|c|ca|approx|Gov|Sen|Rep)\.$"
)


def iter_documents(path: str | Path, max_documents: int | None = None) -> Iterator[list[str]]:
    """The paragraphs of each document of a text file (plain or .gz), its title line left out."""
    opener = gzip.open if str(path).endswith(".gz") else open
    block: list[str] = []
    count = 0
    with opener(path, "rt", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            line = line.strip()
            if line:
                block.append(line)
                continue
            if len(block) > 1:
                yield block[1:]
                count += 1
                if max_documents is not None and count >= max_documents:
                    return
            block = []
    if len(block) > 1:
        yield block[1:]


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


def vocabulary_lines(config: PretrainConfig) -> Iterator[str]:
    """Text the SentencePiece model is trained on: paragraphs spread over the files, then CoNLL words."""
    per_file = math.ceil(config.vocab_paragraphs / len(config.text_paths))
    for path in config.text_paths:
        taken = 0
        for paragraphs in iter_documents(path, config.max_documents):
            for paragraph in paragraphs:
                if len(paragraph.split()) >= config.min_words:
                    yield paragraph
                    taken += 1
            if taken >= per_file:
                break
    for conll in config.vocab_conll:
        for sentence in formats.read(conll):
            yield " ".join(sentence.words)


def prepare_tokenizer(config: PretrainConfig) -> Path:
    """The tokenizer directory, trained first when it holds no tokenizer yet."""
    directory = Path(config.tokenizer_dir or Path(config.output_dir) / "tokenizer")
    if not (directory / "spiece.model").exists():
        log.info("training a %d-piece SentencePiece vocabulary in %s", config.vocab_size, directory)
        staging = directory.with_name(f".tmp-{directory.name}")
        shutil.rmtree(staging, ignore_errors=True)
        train_sentencepiece(vocabulary_lines(config), staging, config.vocab_size, config.lowercase)
        shutil.rmtree(directory, ignore_errors=True)
        os.replace(staging, directory)
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
        with tempfile.NamedTemporaryFile(dir=self.out_dir, prefix=".tmp-", suffix=".npz", delete=False) as f:
            np.savez_compressed(f, ids=ids, sentence_starts=sentence_starts, document_starts=document_starts)
        os.chmod(f.name, 0o644)  # temporary files are created private
        os.replace(f.name, self.out_dir / name)
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
) -> Path:
    """Tokenize the documents of ``text_paths`` into ``out_dir/shard-*.npz`` and a ``manifest.json``.

    The manifest is written last: a directory with one holds a complete packing, which later runs reuse.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer(tokenizer_dir)
    if len(tokenizer) > np.iinfo(np.uint16).max + 1:
        raise ValueError(f"a vocabulary of {len(tokenizer)} pieces does not fit uint16 shards")
    writer = ShardWriter(out, shard_tokens)
    for path in text_paths:
        log.info("packing %s", path)
        pending: list[list[str]] = []
        for paragraphs in iter_documents(path, max_documents):
            pending.append(document_sentences(paragraphs, min_words))
            if len(pending) == 256:  # tokenize many documents in one call: much faster
                _tokenize_documents(pending, tokenizer, writer)
                pending = []
        _tokenize_documents(pending, tokenizer, writer)
    writer.flush()
    manifest = {
        "sources": [str(p) for p in text_paths],
        "tokenizer": str(tokenizer_dir),
        "vocab_size": len(tokenizer),
        "shards": writer.shards,
        "documents": writer.documents,
        "sentences": writer.sentences,
        "tokens": writer.tokens,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    log.info(
        "packed %d documents, %d sentences, %d tokens", writer.documents, writer.sentences, writer.tokens
    )
    return out


def _tokenize_documents(documents: list[list[str]], tokenizer: Any, writer: ShardWriter) -> None:
    flat = [s for d in documents for s in d]
    if not flat:
        return
    ids = iter(tokenizer(flat, add_special_tokens=False)["input_ids"])
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
    """The packed corpus, packed first when ``packed_dir`` holds no complete packing."""
    directory = Path(config.packed_dir or Path(config.output_dir) / "packed")
    if not (directory / MANIFEST).exists():
        shutil.rmtree(directory, ignore_errors=True)
        pack(config.text_paths, tokenizer_dir, directory, config.shard_tokens, config.min_words,
             config.max_documents)  # fmt: skip
    return load_corpus(directory)


# ---------------------------------------------------------------------------------------------------
# Segment pairs for sentence-order prediction


@dataclass
class Pairs:
    """Segment pairs as token ranges of a ``Corpus``: segment A is ``ids[a_start:a_end]``, B follows it
    in the text at ``ids[b_start:b_end]``; ``swapped`` pairs are shown B first (SOP label 1). (P,) each."""

    a_start: np.ndarray
    a_end: np.ndarray
    b_start: np.ndarray
    b_end: np.ndarray
    swapped: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        """Subwords of each pair with [CLS] and two [SEP]."""
        return self.a_end - self.a_start + self.b_end - self.b_start + 3


def make_pairs(
    corpus: Corpus,
    max_length: int,
    short_seq_prob: float,
    rng: np.random.Generator,
    documents: range | None = None,
) -> Pairs:
    """Segment pairs from consecutive sentences of each document, as ALBERT's ``create_pretraining_data``.

    Sentences are gathered up to a target length (``max_length - 3``, or a random shorter one with
    probability ``short_seq_prob``), split at a random sentence boundary (inside the sentence when only
    one was gathered), the longer segment trimmed at a random end to fit, and half the pairs swapped.
    ``documents`` limits the pairs to those documents (all by default).
    """
    max_tokens = max_length - 3
    rows: list[tuple[int, int, int, int]] = []
    starts = corpus.sentence_starts
    for d in documents if documents is not None else range(corpus.documents):
        first, last = int(corpus.document_starts[d]), int(corpus.document_starts[d + 1])
        target = _target_length(max_tokens, short_seq_prob, rng)
        chunk_start = first
        for s in range(first, last):
            if starts[s + 1] - starts[chunk_start] < target and s + 1 < last:
                continue
            pair = _split_chunk(starts, chunk_start, s + 1, rng)
            if pair is not None:
                rows.append(_truncate(*pair, max_tokens, rng))
            chunk_start = s + 1
            target = _target_length(max_tokens, short_seq_prob, rng)
    table = np.array(rows, dtype=np.int64).reshape(-1, 4)
    swapped = rng.random(len(table)) < 0.5
    return Pairs(table[:, 0], table[:, 1], table[:, 2], table[:, 3], swapped)


def _target_length(max_tokens: int, short_seq_prob: float, rng: np.random.Generator) -> int:
    return int(rng.integers(2, max_tokens + 1)) if rng.random() < short_seq_prob else max_tokens


def _split_chunk(
    starts: np.ndarray, first: int, end: int, rng: np.random.Generator
) -> tuple[int, int, int, int] | None:
    """Token ranges A and B of sentences ``first..end-1``, split at a random boundary."""
    if end - first >= 2:
        split = int(starts[int(rng.integers(first + 1, end))])
    else:
        length = int(starts[end] - starts[first])
        if length < 2:
            return None
        split = int(starts[first]) + int(rng.integers(1, length))
    return int(starts[first]), split, split, int(starts[end])


def _truncate(
    a_start: int, a_end: int, b_start: int, b_end: int, max_tokens: int, rng: np.random.Generator
) -> tuple[int, int, int, int]:
    """Trim the longer segment, a token at a time from a random end, until the pair fits."""
    while (a_end - a_start) + (b_end - b_start) > max_tokens:
        front = rng.random() < 0.5
        if a_end - a_start > b_end - b_start:
            a_start, a_end = (a_start + 1, a_end) if front else (a_start, a_end - 1)
        else:
            b_start, b_end = (b_start + 1, b_end) if front else (b_start, b_end - 1)
    return a_start, a_end, b_start, b_end


def batch_pairs(lengths: np.ndarray, max_tokens: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of pair indices whose padded size (rows x longest) stays within ``max_tokens``.

    Pairs are shuffled, sorted by length within pools of about 50 batches (so batches pad little) and
    the batches shuffled again.
    """
    order = rng.permutation(len(lengths))
    pool = max(1, 50 * max_tokens // max(1, int(lengths.max(initial=1))))
    batches: list[np.ndarray] = []
    for begin in range(0, len(order), pool):
        chunk = order[begin : begin + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batch: list[int] = []
        for index in chunk:
            if batch and (len(batch) + 1) * int(lengths[index]) > max_tokens:
                batches.append(np.array(batch))
                batch = []
            batch.append(int(index))
        if batch:
            batches.append(np.array(batch))
    return [batches[i] for i in rng.permutation(len(batches))]


# ---------------------------------------------------------------------------------------------------
# Masking and batches


@dataclass
class Vocabulary:
    """What masking needs of the tokenizer."""

    size: int
    cls_id: int
    sep_id: int
    pad_id: int
    mask_id: int
    word_start: np.ndarray  # bool (size,): the piece begins a word ("▁…"); special pieces count as starts
    random_ids: np.ndarray  # ids a random replacement is drawn from (no special pieces)

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> Vocabulary:
        pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        special = set(tokenizer.all_special_ids)
        word_start = np.array([p.startswith("▁") or i in special for i, p in enumerate(pieces)])
        return cls(
            size=len(tokenizer),
            cls_id=tokenizer.cls_token_id,
            sep_id=tokenizer.sep_token_id,
            pad_id=tokenizer.pad_token_id,
            mask_id=tokenizer.mask_token_id,
            word_start=word_start,
            random_ids=np.array([i for i in range(len(tokenizer)) if i not in special]),
        )


def mask_ngrams(
    tokens: np.ndarray,
    maskable: np.ndarray,
    word_start: np.ndarray,
    vocabulary: Vocabulary,
    rng: np.random.Generator,
    mask_prob: float = 0.15,
    max_ngram: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """ALBERT's n-gram masking of one sequence: ``(inputs, labels)``, both int64 of ``tokens``' shape.

    Spans of n whole words, n drawn with p(n) ∝ 1/n (n <= ``max_ngram``), cover about ``mask_prob`` of
    the maskable tokens and never more; each span becomes [MASK] (80%), random pieces (10%) or stays
    (10%). ``labels`` hold the original ids at the chosen positions and ``IGNORE`` elsewhere.
    ``maskable``: bool (T,), False at special tokens; ``word_start``: bool (T,), True where a word begins
    (a segment's first token included).
    """
    inputs = tokens.astype(np.int64)
    labels = np.full(len(tokens), IGNORE, dtype=np.int64)
    starts = np.flatnonzero(word_start & maskable)
    budget = max(1, round(float(maskable.sum()) * mask_prob)) if mask_prob > 0 else 0
    if len(starts) == 0 or budget == 0:
        return inputs, labels
    ends = np.append(starts[1:], len(tokens))
    for w in range(len(starts)):  # a word stops at the next word start or at a special token
        stops = np.flatnonzero(~maskable[starts[w] : ends[w]])
        ends[w] = starts[w] + stops[0] if len(stops) else ends[w]
    ngram_p = 1 / np.arange(1, max_ngram + 1)
    ngram_p /= ngram_p.sum()
    covered = np.zeros(len(starts), dtype=bool)
    chosen = 0
    for w in rng.permutation(len(starts)):
        if chosen >= budget:
            break
        n = min(int(rng.choice(max_ngram, p=ngram_p)) + 1, len(starts) - w)
        while n > 0:  # the longest span of at most n free, adjacent words that fits the budget
            last = w + n - 1
            adjacent = all(ends[v] == starts[v + 1] for v in range(w, last))
            size = int(ends[last] - starts[w])
            if not covered[w : last + 1].any() and adjacent and chosen + size <= budget:
                break
            n -= 1
        if n == 0:
            continue
        begin, end = int(starts[w]), int(ends[w + n - 1])
        covered[w : w + n] = True
        chosen += end - begin
        labels[begin:end] = tokens[begin:end]
        draw = rng.random()
        if draw < 0.8:
            inputs[begin:end] = vocabulary.mask_id
        elif draw < 0.9:
            inputs[begin:end] = rng.choice(vocabulary.random_ids, size=end - begin)
    return inputs, labels


@dataclass
class Batch:
    """Tensors of one pretraining batch: ``input_ids``, ``token_type_ids``, ``attention_mask``, ``labels``
    are (B, T) int64 (``labels`` = ``IGNORE`` where nothing is predicted); ``sentence_order_label`` (B,)."""

    input_ids: torch.Tensor
    token_type_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    sentence_order_label: torch.Tensor

    def to(self, device: torch.device) -> Batch:
        return Batch(*(t.to(device, non_blocking=True) for t in dataclasses.astuple(self)))

    @property
    def tokens(self) -> int:
        return int(self.attention_mask.sum())


def collate(
    corpus: Corpus,
    pairs: Pairs,
    indices: np.ndarray,
    vocabulary: Vocabulary,
    rng: np.random.Generator,
    mask_prob: float = 0.15,
    max_ngram: int = 3,
) -> Batch:
    """``[CLS] first [SEP] second [SEP]`` for each pair (B first when swapped), padded and masked."""
    rows = []
    for i in indices:
        a = corpus.ids[pairs.a_start[i] : pairs.a_end[i]]
        b = corpus.ids[pairs.b_start[i] : pairs.b_end[i]]
        rows.append((b, a) if pairs.swapped[i] else (a, b))
    shape = (len(rows), max(len(f) + len(s) + 3 for f, s in rows))
    input_ids = np.full(shape, vocabulary.pad_id, dtype=np.int64)
    token_types = np.zeros(shape, dtype=np.int64)
    attention = np.zeros(shape, dtype=np.int64)
    labels = np.full(shape, IGNORE, dtype=np.int64)
    cls, sep = [vocabulary.cls_id], [vocabulary.sep_id]
    for r, (first, second) in enumerate(rows):
        tokens = np.concatenate([cls, first, sep, second, sep])
        size, second_at = len(tokens), len(first) + 2
        maskable = np.ones(size, dtype=bool)
        maskable[[0, second_at - 1, size - 1]] = False
        word_start = vocabulary.word_start[tokens]
        word_start[[1, second_at]] = True  # a segment never starts mid-word
        input_ids[r, :size], labels[r, :size] = mask_ngrams(
            tokens, maskable, word_start, vocabulary, rng, mask_prob, max_ngram
        )
        token_types[r, second_at:size] = 1
        attention[r, :size] = 1
    return Batch(
        torch.from_numpy(input_ids),
        torch.from_numpy(token_types),
        torch.from_numpy(attention),
        torch.from_numpy(labels),
        torch.from_numpy(pairs.swapped[indices].astype(np.int64)),
    )


def epoch_plan(
    corpus: Corpus, config: PretrainConfig, epoch: int, documents: range
) -> tuple[Pairs, list[np.ndarray]]:
    """The pairs and batches of an epoch: a function of the corpus, the seed and the epoch alone."""
    rng = np.random.default_rng([config.seed, epoch])
    pairs = make_pairs(corpus, config.max_length, config.short_seq_prob, rng, documents)
    return pairs, batch_pairs(pairs.lengths, config.max_tokens, rng)


def batch_rng(config: PretrainConfig, epoch: int, index: int) -> np.random.Generator:
    """The masks of batch ``index`` of ``epoch``: new every epoch, the same after a resume."""
    return np.random.default_rng([config.seed, epoch, index, 1])


# ---------------------------------------------------------------------------------------------------
# Loss and metrics


@dataclass
class StepResult:
    """The loss of a batch and what its accuracies are counted from."""

    loss: torch.Tensor
    mlm_correct: int
    mlm_total: int
    sop_correct: int
    sop_total: int


def pretraining_loss(model: AlbertForPreTraining, batch: Batch, encoder: Any = None) -> StepResult:
    """MLM + SOP loss with ``AlbertForPreTraining``'s own heads; equal to ``model(**batch).loss`` but the
    MLM head (and its (·, V) projection) runs on the masked positions only. ``encoder`` is
    ``model.albert`` or a compiled version of it."""
    encoded = (encoder or model.albert)(
        input_ids=batch.input_ids, attention_mask=batch.attention_mask, token_type_ids=batch.token_type_ids
    )
    predicted = batch.labels != IGNORE
    targets = batch.labels[predicted]
    mlm_logits = model.predictions(encoded.last_hidden_state[predicted])  # (M, V)
    sop_logits = model.sop_classifier(encoded.pooler_output)  # (B, 2)
    loss = F.cross_entropy(mlm_logits.float(), targets) + F.cross_entropy(
        sop_logits.float(), batch.sentence_order_label
    )
    with torch.no_grad():
        mlm_correct = int((mlm_logits.argmax(-1) == targets).sum())
        sop_correct = int((sop_logits.argmax(-1) == batch.sentence_order_label).sum())
    return StepResult(loss, mlm_correct, len(targets), sop_correct, len(batch.sentence_order_label))


@dataclass
class Meter:
    """Sums over the steps since the last report."""

    loss: float = 0.0
    steps: int = 0
    mlm_correct: int = 0
    mlm_total: int = 0
    sop_correct: int = 0
    sop_total: int = 0
    tokens: int = 0

    def add(self, result: StepResult, tokens: int) -> None:
        self.loss += float(result.loss.detach())
        self.steps += 1
        self.mlm_correct += result.mlm_correct
        self.mlm_total += result.mlm_total
        self.sop_correct += result.sop_correct
        self.sop_total += result.sop_total
        self.tokens += tokens

    def summary(self) -> dict[str, float]:
        return {
            "loss": self.loss / max(1, self.steps),
            "mlm_accuracy": self.mlm_correct / max(1, self.mlm_total),
            "sop_accuracy": self.sop_correct / max(1, self.sop_total),
        }


@torch.inference_mode()
def evaluate(
    model: AlbertForPreTraining,
    corpus: Corpus,
    documents: range,
    vocabulary: Vocabulary,
    config: PretrainConfig,
    device: torch.device,
    autocast: AbstractContextManager[Any],
) -> dict[str, float]:
    """MLM / SOP accuracy on held-out ``documents``, with pairs and masks fixed by the seed."""
    if not len(documents):
        return {}
    rng = np.random.default_rng([config.seed, 2**31])
    pairs = make_pairs(corpus, config.max_length, 0.0, rng, documents)
    if not len(pairs.swapped):
        return {}
    model.eval()
    meter = Meter()
    for indices in batch_pairs(pairs.lengths, config.max_tokens, rng):
        batch = collate(corpus, pairs, indices, vocabulary, rng, config.mask_prob, config.max_ngram)
        with autocast:
            meter.add(pretraining_loss(model, batch.to(device)), batch.tokens)
    model.train()
    return meter.summary()


# ---------------------------------------------------------------------------------------------------
# Training


@dataclass
class PretrainState:
    """The loop's position and running numbers; saved as JSON in every checkpoint."""

    step: int = 0
    epoch: int = 0
    batches_done: int = 0  # batches of ``epoch`` already trained
    tokens_seen: int = 0  # non-padding subwords trained on
    seconds: float = 0.0  # training wall time, over all runs of a resumed job
    last: dict[str, float] = field(default_factory=dict)  # training loss/accuracies, last report
    held_out: dict[str, float] = field(default_factory=dict)  # at the end of training


def pretrain(config: PretrainConfig, resume: bool = True) -> Path:
    """Pretrain an ALBERT as ``config`` says and return ``output_dir``, an HF ALBERT model directory.

    The vocabulary and the packed corpus are made first when their directories hold none. ``resume``
    continues from the last checkpoint in ``output_dir/checkpoints`` (without it, those are removed).
    """
    output = Path(config.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    device = _device(config)
    bf16 = config.bf16 if config.bf16 is not None else device.type == "cuda"
    tokenizer_dir = prepare_tokenizer(config)
    tokenizer = load_tokenizer(tokenizer_dir)
    vocabulary = Vocabulary.from_tokenizer(tokenizer)
    corpus = prepare_corpus(config, tokenizer_dir)
    held_out = min(config.eval_documents, corpus.documents // 10)
    training = range(corpus.documents - held_out)
    log.info("corpus: %d documents (%d held out), %d tokens", corpus.documents, held_out, len(corpus.ids))

    torch.manual_seed(config.seed)
    model = AlbertForPreTraining(albert_config(config, tokenizer, device)).to(device)
    optimizer = build_optimizer(model, config)
    scheduler = get_linear_schedule_with_warmup(optimizer, config.warmup_steps, config.max_steps)
    state = PretrainState()
    if not resume:
        shutil.rmtree(output / CHECKPOINTS, ignore_errors=True)
    checkpoint = latest_checkpoint(output)
    if checkpoint is not None:
        state = load_checkpoint(checkpoint, model, optimizer, scheduler, device)
        log.info("resuming from %s (step %d)", checkpoint, state.step)
    encoder = torch.compile(model.albert, dynamic=True) if config.compile else model.albert
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else nullcontext()
    train_loop(config, corpus, training, vocabulary, model, encoder, optimizer, scheduler, state, device,
               autocast)  # fmt: skip
    held_out_documents = range(corpus.documents - held_out, corpus.documents)
    state.held_out = evaluate(model, corpus, held_out_documents, vocabulary, config, device, autocast)
    log.info("held-out: %s", state.held_out)
    return export(model, tokenizer, config, state, output)


def _device(config: PretrainConfig) -> torch.device:
    if config.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(config.device)


def albert_config(config: PretrainConfig, tokenizer: Any, device: torch.device) -> AlbertConfig:
    """The ``AlbertConfig`` of the encoder to pretrain; SDPA attention on CUDA, eager on CPU."""
    size = dataclasses.asdict(config.encoder)
    dropout = size.pop("dropout")
    return AlbertConfig(
        vocab_size=len(tokenizer),
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
        attn_implementation="sdpa" if device.type == "cuda" else "eager",
        hidden_act="gelu_pytorch_tanh",  # ALBERT's gelu_new, computed by one fused kernel
        **size,
    )


def build_optimizer(model: torch.nn.Module, config: PretrainConfig) -> torch.optim.AdamW:
    """AdamW without weight decay on biases and LayerNorm weights."""
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (no_decay if any(n in name for n in NO_DECAY) else decay).append(parameter)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.learning_rate, betas=(0.9, 0.999), eps=1e-6)


def train_loop(
    config: PretrainConfig,
    corpus: Corpus,
    documents: range,
    vocabulary: Vocabulary,
    model: AlbertForPreTraining,
    encoder: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    state: PretrainState,
    device: torch.device,
    autocast: AbstractContextManager[Any],
) -> None:
    """Train until ``max_steps``, epoch after epoch, checkpointing every ``checkpoint_every`` steps."""
    output = Path(config.output_dir)
    progress = tqdm(
        total=config.max_steps, initial=state.step, desc="pretrain", disable=not sys.stderr.isatty()
    )
    meter, started = Meter(), time.perf_counter()
    model.train()
    while state.step < config.max_steps:
        pairs, batches = epoch_plan(corpus, config, state.epoch, documents)
        if not batches:
            raise SRLFormatError(str(config.packed_dir or output / "packed"), None, "the corpus has no pairs")
        for index in range(state.batches_done, len(batches)):
            rng = batch_rng(config, state.epoch, index)
            batch = collate(
                corpus, pairs, batches[index], vocabulary, rng, config.mask_prob, config.max_ngram
            )
            with autocast:
                result = pretraining_loss(model, batch.to(device), encoder)
            optimizer.zero_grad(set_to_none=True)
            result.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            meter.add(result, batch.tokens)
            state.step, state.batches_done = state.step + 1, index + 1
            state.tokens_seen += batch.tokens
            progress.update(1)
            if state.step % config.log_every == 0 or state.step == config.max_steps:
                now = time.perf_counter()
                report(state, meter, now - started, progress)
                state.seconds += now - started
                meter, started = Meter(), now
            if state.step % config.checkpoint_every == 0 or state.step == config.max_steps:
                state.seconds += time.perf_counter() - started
                started = time.perf_counter()
                save_checkpoint(output, model, optimizer, scheduler, state)
            if state.step >= config.max_steps:
                break
        else:
            state.epoch, state.batches_done = state.epoch + 1, 0
    progress.close()


def report(state: PretrainState, meter: Meter, seconds: float, progress: tqdm) -> None:
    """Keep the meter's numbers in ``state``, log them and show them on the progress bar."""
    state.last = meter.summary()
    speed = meter.tokens / max(seconds, 1e-9)
    progress.set_postfix(
        loss=f"{state.last['loss']:.3f}", mlm=f"{state.last['mlm_accuracy']:.3f}",
        sop=f"{state.last['sop_accuracy']:.3f}", tok_s=f"{speed:.0f}",
    )  # fmt: skip
    log.info(
        "step %d epoch %d: loss %.4f, MLM acc %.4f, SOP acc %.4f, %.0f tokens/s, %d tokens seen",
        state.step, state.epoch, state.last["loss"], state.last["mlm_accuracy"], state.last["sop_accuracy"],
        speed, state.tokens_seen,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# Checkpoints: tensors as safetensors (files under 16 MiB), everything else as JSON


def save_tensors(tensors: dict[str, torch.Tensor], directory: Path, stem: str) -> list[str]:
    """Write ``tensors`` to ``stem-00000.safetensors``, ... each under ``SHARD_LIMIT`` bytes."""
    files: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        nbytes = tensor.numel() * tensor.element_size()
        if files[-1] and size + nbytes > SHARD_LIMIT:
            files.append({})
            size = 0
        files[-1][name] = tensor
        size += nbytes
    names = [f"{stem}-{i:05d}.safetensors" for i in range(len(files))]
    for name, part in zip(names, files, strict=True):
        save_file(part, str(directory / name))
    return names


def load_tensors(directory: Path, stem: str, device: torch.device) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for path in sorted(directory.glob(f"{stem}-*.safetensors")):
        tensors.update(load_file(str(path), device=str(device)))
    return tensors


def save_checkpoint(
    output: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    state: PretrainState,
) -> Path:
    """Write ``output/checkpoints/step-<step>`` atomically (aside, then renamed) and drop older ones.

    Weights stay float32 here so that a resumed run continues exactly; ``export`` writes bf16.
    """
    root = output / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    save_tensors(dict(model.named_parameters()), staging, "model")  # tied weights once
    tensors, optimizer_json = split_optimizer_state(optimizer.state_dict())
    save_tensors(tensors, staging, "optimizer")
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng.update({f"cuda{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    save_file(rng, str(staging / "rng.safetensors"))
    trainer_json = {
        "state": dataclasses.asdict(state),
        "optimizer": optimizer_json,
        "scheduler": scheduler.state_dict(),
    }
    (staging / "trainer_state.json").write_text(json.dumps(trainer_json), encoding="utf-8")
    for path in staging.iterdir():
        fsync(path)
    final = root / f"step-{state.step:09d}"
    shutil.rmtree(final, ignore_errors=True)
    os.replace(staging, final)
    fsync(root)
    for old in root.iterdir():
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    log.info("checkpoint %s", final)
    return final


def latest_checkpoint(output: Path) -> Path | None:
    """The newest complete checkpoint (half-written ones are still named ``.tmp-*``)."""
    done = sorted((output / CHECKPOINTS).glob("step-*"))
    return done[-1] if done else None


def restore_parameters(model: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Copy saved parameters into ``model``; tied parameters were saved once, under their first name."""
    parameters = dict(model.named_parameters())
    if parameters.keys() != tensors.keys():
        difference = parameters.keys() ^ tensors.keys()
        raise ValueError(f"checkpoint parameters differ from the model's: {difference}")
    with torch.no_grad():
        for name, tensor in tensors.items():
            parameters[name].copy_(tensor)


def load_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    device: torch.device,
) -> PretrainState:
    """Restore model, optimizer, scheduler and RNG states from ``path``; returns the loop's state."""
    restore_parameters(model, load_tensors(path, "model", device))
    saved = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    optimizer_tensors = load_tensors(path, "optimizer", device)
    optimizer.load_state_dict(join_optimizer_state(optimizer_tensors, saved["optimizer"]))
    scheduler.load_state_dict(saved["scheduler"])
    rng = load_file(str(path / "rng.safetensors"))
    torch.set_rng_state(rng["torch"])
    cuda = [rng[k] for k in sorted(rng) if k.startswith("cuda")]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    return PretrainState(**saved["state"])


# ---------------------------------------------------------------------------------------------------
# The model directory


def export(
    model: AlbertForPreTraining, tokenizer: Any, config: PretrainConfig, state: PretrainState, output: Path
) -> Path:
    """Write the HF ALBERT directory: bf16 weights in files under 16 MiB, tokenizer and model card.

    ``config.json`` says float32, so ``from_pretrained`` loads the weights as float32 for fine-tuning.
    """
    staging = Path(tempfile.mkdtemp(prefix=".tmp-export-", dir=output))
    # Parameters only: a tied weight is written once and tied again by ``from_pretrained``.
    weights = {name: tensor.detach().to(torch.bfloat16) for name, tensor in model.named_parameters()}
    model.save_pretrained(staging, state_dict=weights, max_shard_size="15MB")
    settings = json.loads((staging / "config.json").read_text(encoding="utf-8"))
    settings["dtype"] = "float32"
    (staging / "config.json").write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    for path in Path(tokenizer.name_or_path).iterdir():  # spiece.model, tokenizer.json and their configs
        shutil.copy2(path, staging / path.name)
    (staging / "README.md").write_text(model_card(config, state, len(tokenizer)), encoding="utf-8")
    for path in staging.iterdir():
        path.chmod(0o644)  # files in a temporary directory may be created private
        target = output / path.name
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(path, target)
    staging.rmdir()
    log.info("pretrained ALBERT written to %s", output)
    return output


def model_card(config: PretrainConfig, state: PretrainState, vocab_size: int) -> str:
    """The README.md of a pretrained encoder: data, licences, size, what it saw and how well it did."""
    e = config.encoder
    sources = "\n".join(f"- `{p}`" for p in config.text_paths)
    conll = "".join(f"\n- `{p}` (words only, vocabulary)" for p in config.vocab_conll)
    ewt = (
        "\nThe vocabulary also saw the words of the training files listed above: the English Web Treebank"
        " (UD English EWT, CC BY-SA 4.0).\n"
        if config.vocab_conll
        else ""
    )
    last, held = state.last, state.held_out
    return f"""# ALBERT pretrained by albert-srl (MLM + sentence-order prediction)

An ALBERT encoder trained from scratch with `albert-srl pretrain` (`transformers.AlbertForPreTraining`):
n-gram masked language modelling (n <= {config.max_ngram}, {config.mask_prob:.0%} of tokens) and
sentence-order prediction on segment pairs of up to {config.max_length} subwords.
Fine-tune it with `albert-srl train` by setting `encoder.pretrained` to this directory.

| | |
| --- | --- |
| embedding / hidden / layers (groups) / heads / FFN | {e.embedding_size} / {e.hidden_size} / \
{e.num_hidden_layers} ({e.num_hidden_groups}) / {e.num_attention_heads} / {e.intermediate_size} |
| vocabulary | {vocab_size} SentencePiece unigram pieces{", lower-cased" if config.lowercase else ""} |
| optimizer steps | {state.step:,} |
| tokens seen | {state.tokens_seen:,} |
| training wall time | {state.seconds / 3600:.2f} h |
| MLM / SOP accuracy, held-out documents | {held.get("mlm_accuracy", math.nan):.4f} / \
{held.get("sop_accuracy", math.nan):.4f} |
| MLM / SOP accuracy, last {config.log_every} training steps | {last.get("mlm_accuracy", math.nan):.4f} / \
{last.get("sop_accuracy", math.nan):.4f} |

## Data

{sources}{conll}

English Wikipedia article text (WikiExtractor output), licensed CC BY-SA (3.0 / 4.0) and GFDL by the
Wikipedia contributors: "pretrained on English Wikipedia text, CC BY-SA, Wikipedia contributors".
{ewt}
## Settings

```json
{json.dumps(dataclasses.asdict(config), indent=2)}
```
"""
