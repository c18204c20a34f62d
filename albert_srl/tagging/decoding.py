"""The network run over tokenized sentences in token-budget batches: find their predicates, tag the
arguments of given ones, or both in one pass on the same lower layers' states.

A sentence is decoded as units (``encoding.Instance``): one with no predicate marked finds its
predicates, one a predicate tags that predicate's arguments. ``Decoder`` holds what every batch needs,
built once per tagger: the network, its tokenizer and the label and sense index maps of collation.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import Any

import torch

from albert_srl.data import Frame, Sentence
from albert_srl.model.encoding import Batch, EncodedSentence, Instance, collate, make_batches, word_pieces
from albert_srl.model.network import Decoded, SRLModel, autocast
from albert_srl.model.tokenizer import Tokenizer
from albert_srl.tagging.frames import decoded_frames

log = logging.getLogger(__name__)

# End to end, a batch's sentences come back as one unit row per predicate found, all at that batch's
# width: the finding batch is budgeted for the row that finds them and about three predicates each (EWT
# averages 2.5), so that the tagging batch after it stays near ``max_tokens`` (a full budget made it
# three times that, padded to its longest sentence, and end to end 1.5x slower: docs/benchmarks.md).
ROWS_PER_FOUND_SENTENCE = 4

Pieces = list[list[int]]  # a sentence's subword ids, a list a word


class Decoder:
    """Batches of units through the network, decoded: ``find_predicates``, ``tag_arguments`` (given
    predicates) and ``find_and_tag``. Each takes the sentences and their subwords (``tokenize``)."""

    def __init__(self, model: SRLModel, tokenizer: Tokenizer, bf16: bool | None = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.bf16 = bf16  # bfloat16 autocast while decoding; None: on CUDA only
        # Collation's index maps; decoding's units carry no gold tags, but collate reads them the same.
        config = model.config
        self.label_index = {label: i for i, label in enumerate(config.labels)}
        self.sense_index = {sense: i for i, sense in enumerate(config.senses)}

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def autocast(self) -> AbstractContextManager[Any]:
        """bfloat16 autocast when ``bf16`` says so (``None``: on CUDA), by ``network.autocast``'s rule."""
        return autocast(self.device, self.bf16)

    def tokenize(self, sentences: Sequence[Sentence]) -> list[Pieces]:
        """Every word's subwords, in one tokenizer call: the one tokenization the rest of tagging reads.
        One warning per call names the sentences longer than the encoder's window."""
        pieces = word_pieces(self.tokenizer, [s.words or ["."] for s in sentences])
        limit = self.model.config.max_length - 2
        long = [i + 1 for i, p in enumerate(pieces) if sum(len(w) for w in p) > limit]
        if long:
            shown = ", ".join(map(str, long[:5])) + (" ..." if len(long) > 5 else "")
            log.warning(
                "%d sentence(s) longer than the encoder's window of %d subwords (sentence %s of this batch): "
                "tagged in overlapping windows",
                len(long),
                limit,
                shown,
            )
        return pieces

    def collate(self, sentences: Sequence[EncodedSentence], windows_of: Batch | None = None) -> Batch:
        """``encoding.collate`` with this model's preprocessing and index maps."""
        config = self.model.config
        return collate(sentences, self.tokenizer, config, self.label_index, self.sense_index, windows_of)

    def decode_batches(
        self, sentences: list[EncodedSentence], max_tokens: int
    ) -> Iterator[tuple[list[int], Decoded]]:
        """Decode the units of ``sentences`` in length-sorted token-budget batches; yields (sentence
        indices, decoded), the decoded rows being those sentences' units in order.

        Where ``prepares_ahead`` (on CUDA) a CPU thread collates the next batch, into pinned memory, while
        the device decodes the current one.
        """
        cuda = self.device.type == "cuda"

        def prepare(ids: list[int]) -> Batch:
            batch = self.collate([sentences[i] for i in ids])
            return batch.pin_memory() if cuda else batch

        batches = make_batches(sentences, self.model.config, max_tokens=max_tokens)
        with ThreadPoolExecutor(max_workers=1) if prepares_ahead(self.device) else nullcontext() as pool:
            pending = pool.submit(prepare, batches[0]) if pool and batches else None
            for k, ids in enumerate(batches):
                batch = pending.result() if pending else prepare(ids)
                if pool and k + 1 < len(batches):
                    pending = pool.submit(prepare, batches[k + 1])
                with self.autocast():
                    decoded = self.model.decode(batch.to(self.device))
                yield ids, decoded

    def find_predicates(
        self, sentences: list[Sentence], pieces: list[Pieces], max_tokens: int
    ) -> list[list[int]]:
        """The word indices of the predicates the model finds in each sentence."""
        encoded = to_find_predicates(sentences, pieces)
        found: list[list[int]] = [[] for _ in sentences]
        for ids, decoded in self.decode_batches(encoded, max_tokens):
            flags = decoded.predicate_flags.cpu()
            for row, i in enumerate(ids):
                found[i] = flags[row, : len(sentences[i].words)].nonzero().squeeze(1).tolist()
        return found

    def tag_arguments(
        self, sentences: list[Sentence], pieces: list[Pieces], predicates: list[list[int]], max_tokens: int
    ) -> list[Sentence]:
        """The sentences with one frame each of the given predicates (word indices)."""
        encoded = [
            with_predicates(EncodedSentence(s.words, p, []), indices)
            for s, p, indices in zip(sentences, pieces, predicates, strict=True)
        ]
        with_units = [i for i, e in enumerate(encoded) if e.units]
        frames: list[list[Frame]] = [[] for _ in sentences]
        for ids, decoded in self.decode_batches([encoded[i] for i in with_units], max_tokens):
            batch = [with_units[k] for k in ids]
            tagged = decoded_frames(
                decoded, [encoded[i] for i in batch], [sentences[i] for i in batch], self.model.config
            )
            for i, sentence_frames in zip(batch, tagged, strict=True):
                frames[i] = sentence_frames
        return [replace(s, frames=f) for s, f in zip(sentences, frames, strict=True)]

    def find_and_tag(
        self,
        sentences: list[Sentence],
        pieces: list[Pieces],
        max_tokens: int,
        frame_words: int | None = None,
    ) -> tuple[list[Sentence], list[dict[int, float]]]:
        """Find each sentence's predicates and tag their arguments, batch by batch: the arguments are
        tagged on the lower layers' states that found the predicates, so those layers run once. Returns
        the sentences with their frames, and the predicates found but over ``frame_words`` (untagged),
        each with its probability."""
        config = self.model.config
        encoded = to_find_predicates(sentences, pieces)
        frames: list[list[Frame]] = [[] for _ in sentences]
        left: list[dict[int, float]] = [{} for _ in sentences]
        room = float("inf") if frame_words is None else frame_words
        for ids in make_batches(encoded, config, max_tokens=max(1, max_tokens // ROWS_PER_FOUND_SENTENCE)):
            finding = self.collate([encoded[i] for i in ids])
            on_device = finding.to(self.device)
            with self.autocast():
                lower = self.model.lower_states(on_device)
                identified = self.model.decode(on_device, lower)
            flags, sure = identified.predicate_flags.cpu(), identified.predicate_probability.cpu().tolist()
            found = [
                flags[row, : len(encoded[i].words)].nonzero().squeeze(1).tolist() for row, i in enumerate(ids)
            ]
            found_probability = {i: sure[row] for row, i in enumerate(ids)}
            now, room = in_turn(found, [len(encoded[i].words) for i in ids], room)
            for i, indices, taken in zip(ids, found, now, strict=True):
                left[i] = {index: found_probability[i][index] for index in indices if index not in taken}
            tagging = [(i, with_predicates(encoded[i], f)) for i, f in zip(ids, now, strict=True) if f]
            if not tagging:
                continue
            units = [unit for _, unit in tagging]
            batch = self.collate(units, windows_of=finding)
            with self.autocast():
                decoded = self.model.decode(batch.to(self.device), lower)
            tagged = decoded_frames(decoded, units, [sentences[i] for i, _ in tagging], config)
            for (i, _), sentence_frames in zip(tagging, tagged, strict=True):
                for frame in sentence_frames:  # how sure the model was that it is a predicate
                    frame.predicate.probability = found_probability[i][frame.predicate.index]
                frames[i] = sentence_frames
        return [replace(s, frames=f) for s, f in zip(sentences, frames, strict=True)], left


def to_find_predicates(sentences: list[Sentence], pieces: list[Pieces]) -> list[EncodedSentence]:
    """Each sentence with its one predicate-identification unit."""
    return [
        EncodedSentence(s.words, p, [Instance(s.words, None)]) for s, p in zip(sentences, pieces, strict=True)
    ]


def in_turn(found: list[list[int]], words: list[int], room: float) -> tuple[list[set[int]], float]:
    """The predicates of ``found`` to tag within ``room`` words (each costs its sentence's ``words``):
    each sentence's first, then its second, ...; and the room left."""
    taken: list[set[int]] = [set() for _ in found]
    for rank in range(max(map(len, found), default=0)):
        for i, indices in enumerate(found):
            if rank < len(indices) and words[i] <= room:
                taken[i].add(indices[rank])
                room -= words[i]
    return taken, room


def with_predicates(sentence: EncodedSentence, predicates: Iterable[int]) -> EncodedSentence:
    """The sentence with one unit a predicate (in word order, each once)."""
    units = [Instance(sentence.words, index) for index in sorted(set(predicates))]
    return EncodedSentence(sentence.words, sentence.pieces, units)


def prepares_ahead(device: torch.device) -> bool:
    """Whether tagging collates the next batch on a thread while ``device`` decodes: on CUDA; on a CPU the
    two would compete for the same cores, so there batches are prepared in turn."""
    return device.type == "cuda"
