"""(sentence, predicate) instances, sentences tokenized once, and their encoding into padded tensors.

A sentence is tokenized once into an ``EncodedSentence`` (its words' subword ids and its units: the
instances to run on it) that batching, windowing and collation all read. Labels live on words: every
word is represented by its first subword. A sentence longer than the encoder's window becomes several
overlapping windows; each word is read from the window where it sits most centrally, so nothing is cut
and the CRF still decodes the whole sentence.

A batch holds each distinct window once (``input_ids``: the rows the encoder's lower layers run on)
and one *unit row* per (instance, window) with the predicate marked (``unit_row`` says which window it
reads); see ``network.SRLModel`` for where the mark enters.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

import torch

from albert_srl.bio import bio_from_spans
from albert_srl.data import Sentence
from albert_srl.model.tokenizer import Tokenizer

log = logging.getLogger(__name__)

NO_SENSE = "-"
# Only a word's first subword is read; a pathological "word" (a URL, a base64 blob) keeps this many, so
# no single word can overflow the encoder's window.
MAX_PIECES_PER_WORD = 16


class Preprocessing(Protocol):
    """What encoding reads of a model's config: a ``ModelConfig`` (a ``TrainConfig`` has the same)."""

    @property
    def predicate_awareness(self) -> str | None: ...

    @property
    def max_length(self) -> int: ...  # subwords per encoder window

    @property
    def stride(self) -> int: ...  # subwords of overlap between windows


@dataclass
class Instance:
    """One (sentence, predicate) pair with its BIO tags and sense number, or, with ``predicate=None``,
    one sentence for predicate identification (``predicate_flags`` = 1 on its predicates)."""

    words: list[str]
    predicate: int | None
    tags: list[str] | None = None
    sense: str | None = None
    predicate_flags: list[int] | None = None
    pos: list[str] | None = None  # gold part-of-speech tags (predicate-identification rows), when known
    weight: float = 1.0  # its losses' weight in a batch's weighted mean (silver data; gold is 1)


# The Penn Treebank tags (with the English Web Treebank's additions) the auxiliary part-of-speech head
# learns: a fixed list, so that models trained on different corpora agree on its rows.
POS_TAGS = (  # noqa: SIM905 (one string reads better than 51 quoted items)
    "CC CD DT EX FW IN JJ JJR JJS LS MD NN NNS NNP NNPS PDT POS PRP PRP$ RB RBR RBS RP SYM TO UH VB VBD "
    "VBG VBN VBP VBZ WDT WP WP$ WRB $ # . , : `` '' -LRB- -RRB- HYPH NFP ADD AFX GW XX"
).split()
POS_INDEX = {tag: i for i, tag in enumerate(POS_TAGS)}


@dataclass
class EncodedSentence:
    """A sentence tokenized once, with its units: the instances (all of the same words) to run on it."""

    words: list[str]
    pieces: list[list[int]]  # each word's subword ids (at least one, at most MAX_PIECES_PER_WORD)
    units: list[Instance]

    @property
    def length(self) -> int:
        """Subwords of the whole sentence with ``[CLS]`` and ``[SEP]``."""
        return sum(len(p) for p in self.pieces) + 2


@dataclass
class Batch:
    """Padded tensors for ``B`` units (instances) of some sentences.

    ``R`` distinct windows of ``S`` subwords are encoded as ``U >= B`` unit rows: ``unit_row`` (U,) says
    which window a unit row reads, and ``token_type_ids`` / ``predicate_mark`` give its predicate
    marking. ``word_row`` / ``word_position`` (B, W) say which unit row and subword hold each word's
    first piece; ``predicate`` (B,) is the predicate's word index, -1 for predicate-identification units.
    """

    input_ids: torch.Tensor  # (R, S)
    attention_mask: torch.Tensor  # (R, S)
    unit_row: torch.Tensor  # (U,) index into the R windows
    token_type_ids: torch.Tensor  # (U, S) the segment marking of early fusion ("segment", "pair")
    predicate_mark: torch.Tensor  # (U, S) 1 on the predicate's subwords
    word_row: torch.Tensor  # (B, W) index into the U unit rows
    word_position: torch.Tensor  # (B, W)
    word_mask: torch.Tensor  # (B, W) bool
    predicate: torch.Tensor  # (B,)
    tags: torch.Tensor  # (B, W), -100 where unknown
    senses: torch.Tensor  # (B,), -100 where unknown
    predicate_flags: torch.Tensor  # (B, W), -100 where unknown
    pos: torch.Tensor  # (B, W) indices into POS_TAGS, -100 where unknown
    # (B,) float: each unit's loss weight; None where all are 1 (gold data, tagging), so that those
    # batches' losses are computed as they always were, to the bit
    weight: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> Batch:
        return self._map(lambda tensor: tensor.to(device, non_blocking=True))

    def pin_memory(self) -> Batch:
        """The same tensors in page-locked memory, so that ``to("cuda")`` copies asynchronously."""
        return self._map(torch.Tensor.pin_memory)

    def _map(self, function: Callable[[torch.Tensor], torch.Tensor]) -> Batch:
        """The batch with ``function`` applied to each of its tensors."""
        tensors = ((f.name, getattr(self, f.name)) for f in fields(self))
        mapped: dict[str, Any] = {name: None if value is None else function(value) for name, value in tensors}
        return Batch(**mapped)


def sense_number(roleset: str | None) -> str:
    """``"01"`` for ``nominate.01``; ``"-"`` when there is none."""
    return roleset.rsplit(".", 1)[-1] if roleset else NO_SENSE


def instances_from_sentences(
    sentences: Sequence[Sentence], predicate_identification: bool = True, weight: float = 1.0
) -> list[Instance]:
    """One instance per (sentence, predicate), plus one per sentence for predicate identification; each
    with the loss ``weight``."""
    instances: list[Instance] = []
    for sentence in sentences:
        length = len(sentence.words)
        if predicate_identification:
            flags = [0] * length
            for frame in sentence.frames:
                flags[frame.predicate.index] = 1
            instances.append(
                Instance(sentence.words, None, predicate_flags=flags, pos=sentence.pos, weight=weight)
            )
        for frame in sentence.frames:
            spans = [(a.role, a.start, a.end) for a in frame.arguments]
            tags = bio_from_spans(spans, length)
            sense = sense_number(frame.predicate.sense)
            instances.append(Instance(sentence.words, frame.predicate.index, tags, sense, weight=weight))
    return instances


def label_set(instances: Sequence[Instance]) -> list[str]:
    """The BIO label list: ``O`` first, then ``B-X``/``I-X`` for every role seen (``V`` always)."""
    roles = {"V"}
    for instance in instances:
        roles.update(tag[2:] for tag in instance.tags or () if tag != "O")
    return ["O"] + [f"{prefix}-{role}" for role in sorted(roles) for prefix in ("B", "I")]


def sense_set(instances: Sequence[Instance]) -> list[str]:
    """Sense numbers seen, ``-`` (none) first."""
    senses = {instance.sense for instance in instances if instance.sense and instance.sense != NO_SENSE}
    return [NO_SENSE, *sorted(senses)]


def word_pieces(tokenizer: Tokenizer, word_lists: Sequence[list[str]]) -> list[list[list[int]]]:
    """Subword ids of every word, tokenizing all sentences in one call of the fast tokenizer.

    A word that tokenizes to nothing (a lone control character) gets ``<unk>``, so every word has a
    first subword; a word keeps at most ``MAX_PIECES_PER_WORD`` pieces.
    """
    unknown = [tokenizer.unk_token_id]
    return [
        [p[:MAX_PIECES_PER_WORD] or unknown for p in words] for words in tokenizer.word_pieces(word_lists)
    ]


def windows(lengths: list[int], budget: int, stride: int) -> list[tuple[int, int]]:
    """Word windows ``[start, end)`` of at most ``budget`` subwords, consecutive ones overlapping by
    up to ``stride`` subwords; one window when the sentence fits."""
    spans: list[tuple[int, int]] = []
    start = 0
    while True:
        end, used = start, 0
        while end < len(lengths) and (end == start or used + lengths[end] <= budget):
            used += lengths[end]
            end += 1
        spans.append((start, end))
        if end >= len(lengths):
            return spans
        # The overlap leaves room for the next word, so every window reads a word no earlier one did.
        next_start, overlap = end, 0
        room = min(stride, budget - lengths[end])
        while next_start - 1 > start and overlap + lengths[next_start - 1] <= room:
            next_start -= 1
            overlap += lengths[next_start]
        start = next_start


def most_central_window(word: int, spans: list[tuple[int, int]]) -> int:
    """The window in which ``word`` has the most context on its shorter side."""
    return max(
        (i for i, (s, e) in enumerate(spans) if s <= word < e),
        key=lambda i: min(word - spans[i][0], spans[i][1] - 1 - word),
    )


def encode(tokenizer: Tokenizer, instances: Sequence[Instance]) -> list[EncodedSentence]:
    """Group ``instances`` by sentence (the same ``words`` list) and tokenize each sentence once, all of
    them in one call of the fast tokenizer. Sentences keep the order of their first instance."""
    groups: dict[int, list[Instance]] = {}
    for instance in instances:
        groups.setdefault(id(instance.words), []).append(instance)
    units = list(groups.values())
    pieces = word_pieces(tokenizer, [group[0].words for group in units])
    return [EncodedSentence(g[0].words, p, g) for g, p in zip(units, pieces, strict=True)]


def make_batches(
    sentences: Sequence[EncodedSentence],
    config: Preprocessing | None = None,
    *,
    max_tokens: int,
    shuffle: bool = False,
    seed: int = 0,
) -> list[list[int]]:
    """Length-bucketed batches of sentence indices, each at most ``max_tokens`` padded subwords of unit
    rows (a sentence's length times its units; one sentence over the budget is a batch of its own).

    Sorted by length so padding is small; with ``shuffle`` the order within equal lengths and the
    order of batches are drawn from ``seed`` (the same on every run and every DDP rank).
    """
    cap = config.max_length if config is not None else 10**9
    rng = random.Random(seed)
    lengths = [min(sentence.length, cap) for sentence in sentences]
    ties = [rng.random() for _ in sentences] if shuffle else list(range(len(sentences)))
    order = sorted(range(len(sentences)), key=lambda i: (lengths[i], ties[i]))
    batches: list[list[int]] = []
    current: list[int] = []
    units = 0
    for i in order:
        size = len(sentences[i].units)
        if current and (units + size) * lengths[i] > max_tokens:
            batches.append(current)
            current, units = [], 0
        current.append(i)
        units += size
    if current:
        batches.append(current)
    if shuffle:
        rng.shuffle(batches)
    return batches


@dataclass
class _Rows:
    """Collation's growing tensors-to-be: distinct windows, and unit rows reading them."""

    windows: dict[tuple[int, ...], int] = field(default_factory=dict)  # ids -> window row
    unit_row: list[int] = field(default_factory=list)
    types: list[list[int]] = field(default_factory=list)
    marks: list[list[int]] = field(default_factory=list)

    def add(self, ids: list[int], types: list[int], marks: list[int]) -> int:
        """The unit row of a window with this marking (the window itself is stored once)."""
        window = self.windows.setdefault(tuple(ids), len(self.windows))
        self.unit_row.append(window)
        self.types.append(types)
        self.marks.append(marks)
        return len(self.unit_row) - 1


def collate(
    sentences: Sequence[EncodedSentence],
    tokenizer: Tokenizer,
    config: Preprocessing,
    label_index: dict[str, int],
    sense_index: dict[str, int],
    windows_of: Batch | None = None,
) -> Batch:
    """Encode the units of ``sentences`` into a ``Batch``; ``config`` is the model's ``ModelConfig``.
    Only the tokenizer's special ids are read: the sentences are tokenized already. With ``windows_of``
    the batch's windows start with that batch's, in its order, so states computed for its windows serve
    this batch too (the predicates found in a batch are tagged on the states that found them).

    Unknown tags (a dev label unseen in training) become ``O``; unknown senses become ``-``.
    """
    instances = [unit for sentence in sentences for unit in sentence.units]
    rows = _Rows()
    if windows_of is not None:
        for ids, mask in zip(windows_of.input_ids.tolist(), windows_of.attention_mask.tolist(), strict=True):
            rows.windows[tuple(ids[: sum(mask)])] = len(rows.windows)
    max_words = max(len(inst.words) for inst in instances)
    word_rows: list[list[int]] = []
    word_positions: list[list[int]] = []
    for sentence in sentences:
        for unit_rows, positions in _collate_units(sentence, tokenizer, config, rows):
            word_rows.append(unit_rows)
            word_positions.append(positions)
    ids = list(rows.windows)
    width = max(len(i) for i in ids)
    weights = [inst.weight for inst in instances]
    return Batch(
        input_ids=_padded([list(i) for i in ids], width, tokenizer.pad_token_id),
        attention_mask=_padded([[1] * len(i) for i in ids], width, 0),
        unit_row=torch.tensor(rows.unit_row, dtype=torch.long),
        token_type_ids=_padded(rows.types, width, 0),
        predicate_mark=_padded(rows.marks, width, 0),
        word_row=_padded(word_rows, max_words, 0),
        word_position=_padded(word_positions, max_words, 0),
        word_mask=_padded([[1] * len(inst.words) for inst in instances], max_words, 0).bool(),
        predicate=torch.tensor([-1 if inst.predicate is None else inst.predicate for inst in instances]),
        tags=_padded(
            [[label_index.get(t, 0) for t in inst.tags] if inst.tags else [] for inst in instances], max_words
        ),
        senses=torch.tensor(
            [sense_index.get(inst.sense, 0) if inst.sense is not None else -100 for inst in instances]
        ),
        predicate_flags=_padded([inst.predicate_flags or [] for inst in instances], max_words),
        pos=_padded([[POS_INDEX.get(t, -100) for t in inst.pos or []] for inst in instances], max_words),
        weight=torch.tensor(weights) if any(w != 1 for w in weights) else None,
    )


@dataclass
class _Window:
    """One window of a sentence: its words ``[start, end)``, their subword ids between ``[CLS]`` and
    ``[SEP]``, and where each word's first subword is."""

    start: int
    end: int
    ids: list[int]
    word_starts: list[int]


def _windows_of(pieces: list[list[int]], tokenizer: Tokenizer, budget: int, stride: int) -> list[_Window]:
    """A sentence's windows of at most ``budget`` subwords (``windows``), laid out once for all its units."""
    laid_out = []
    for start, end in windows([len(p) for p in pieces], max(budget, 1), stride):
        ids, word_starts = [tokenizer.cls_token_id], []
        for word in pieces[start:end]:
            word_starts.append(len(ids))
            ids.extend(word)
        ids.append(tokenizer.sep_token_id)
        laid_out.append(_Window(start, end, ids, word_starts))
    if len(laid_out) > 1:
        log.debug("a sentence of %d words is encoded as %d overlapping windows", len(pieces), len(laid_out))
    return laid_out


def _collate_units(
    sentence: EncodedSentence, tokenizer: Tokenizer, config: Preprocessing, rows: _Rows
) -> Iterator[tuple[list[int], list[int]]]:
    """Add each unit's rows (a row a window of the sentence, marked at its predicate's subwords); yield
    where its words are read: each word's unit row and the position of its first subword there."""
    awareness, pieces = config.predicate_awareness, sentence.pieces
    laid_out: dict[int, list[_Window]] = {}  # by budget: "pair" appends the predicate, which takes room
    for inst in sentence.units:
        predicate = inst.predicate
        appended = pieces[predicate] if awareness == "pair" and predicate is not None else []
        budget = config.max_length - 2 - (len(appended) + 1 if appended else 0)
        if budget not in laid_out:
            laid_out[budget] = _windows_of(pieces, tokenizer, budget, config.stride)
        spans = laid_out[budget]
        unit_rows = []
        for window in spans:
            marks = [0] * len(window.ids)
            if predicate is not None and window.start <= predicate < window.end:
                first = window.word_starts[predicate - window.start]
                marks[first : first + len(pieces[predicate])] = [1] * len(pieces[predicate])
            ids, types = window.ids, marks if awareness == "segment" else [0] * len(marks)
            if appended:
                ids = [*ids, *appended, tokenizer.sep_token_id]
                types, marks = types + [1] * (len(appended) + 1), marks + [0] * (len(appended) + 1)
            unit_rows.append(rows.add(ids, types, marks))
        if len(spans) == 1:
            yield [unit_rows[0]] * len(inst.words), spans[0].word_starts
            continue
        bounds = [(window.start, window.end) for window in spans]
        central = [most_central_window(w, bounds) for w in range(len(inst.words))]
        starts = [spans[c].word_starts[w - spans[c].start] for w, c in enumerate(central)]
        yield [unit_rows[c] for c in central], starts


def _padded(rows: list[list[int]], width: int, fill: int = -100) -> torch.Tensor:
    """``rows`` padded with ``fill`` to ``width``, in one tensor (one call: a call per row costs more)."""
    padded = [row + [fill] * (width - len(row)) for row in rows]
    return torch.tensor(padded, dtype=torch.long).view(len(rows), width)
