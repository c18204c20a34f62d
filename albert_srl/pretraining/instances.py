"""Pretraining instances, as in the ALBERT paper: segment pairs of consecutive sentences for
sentence-order prediction, and n-gram masking of whole words for the masked LM.

Every random choice is drawn from a generator seeded by (seed, epoch[, batch]), so an epoch's pairs,
batches and masks are the same after a resume, and masks are drawn anew every epoch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from tokenizers.models import WordPiece

from albert_srl.config import PretrainConfig
from albert_srl.model.tokenizer import Tokenizer
from albert_srl.pretraining.corpus import Corpus

IGNORE = -100  # label of positions that are not predicted (transformers' convention)

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
    word_start: np.ndarray  # bool (size,): the piece begins a word; special pieces count as starts
    random_ids: np.ndarray  # ids a random replacement is drawn from (no special pieces)

    @classmethod
    def from_tokenizer(cls, tokenizer: Tokenizer) -> Vocabulary:
        """Raises ``ValueError`` when the tokenizer has no mask token to mask with."""
        if tokenizer.mask_token_id is None:
            raise ValueError("the tokenizer has no mask token ([MASK]), which masked-LM pretraining needs")
        pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        special = set(tokenizer.all_special_ids)
        starts = word_start_pieces(tokenizer, pieces)
        word_start = np.array([start or i in special for i, start in enumerate(starts)])
        return cls(
            size=len(tokenizer),
            cls_id=tokenizer.cls_token_id,
            sep_id=tokenizer.sep_token_id,
            pad_id=tokenizer.pad_token_id,
            mask_id=tokenizer.mask_token_id,
            word_start=word_start,
            random_ids=np.array([i for i in range(len(tokenizer)) if i not in special]),
        )


def word_start_pieces(tokenizer: Tokenizer, pieces: list[str]) -> list[bool]:
    """Which pieces begin a word: in a WordPiece vocabulary every piece but the continuations ("##…"),
    else the pieces marked as starting one (SentencePiece's "▁…", byte-level BPE's "Ġ…")."""
    model = getattr(getattr(tokenizer, "backend", None), "model", None)
    if isinstance(model, WordPiece):
        prefix = model.continuing_subword_prefix
        return [not piece.startswith(prefix) for piece in pieces]
    return [piece.startswith(("▁", "Ġ")) for piece in pieces]


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
