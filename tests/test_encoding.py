"""Encoding instances: first-subword gathering, the three predicate-awareness modes, windows over long
sentences, and token-budget batches."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from conftest import fixture_text_lines
from hypothesis import given, settings
from hypothesis import strategies as st

from albert_srl.model.encoding import (
    Batch,
    EncodedSentence,
    Instance,
    collate,
    encode,
    instances_from_sentences,
    make_batches,
    windows,
)
from albert_srl.model.network import ModelConfig
from albert_srl.model.tokenizer import load_tokenizer

# Long, rare words split into several pieces; "nominated" is the predicate.
WORDS = ["Bush", "unexpectedly", "nominated", "two", "extraordinary", "judges", "on", "Tuesday", "."]
PREDICATE = 2


@pytest.fixture(scope="module")
def tokenizer(tiny_tokenizer_dir: Path) -> Any:
    return load_tokenizer(tiny_tokenizer_dir)


def batch_of(tokenizer: Any, instances: list[Instance], **choices: Any) -> Batch:
    config = ModelConfig(labels=["O", "B-V", "I-V"], senses=["-"], **choices)
    return collate(encode(tokenizer, instances), tokenizer, config, {"O": 0, "B-V": 1, "I-V": 2}, {"-": 0})


def pieces_alone(tokenizer: Any, word: str) -> list[int]:
    """The subwords of one word tokenized on its own, as a word of a pre-split sentence."""
    return tokenizer.word_pieces([[word]])[0][0]


def word_piece_positions(batch: Batch, row: int, length: int) -> list[tuple[int, int]]:
    return [(int(batch.word_row[row, w]), int(batch.word_position[row, w])) for w in range(length)]


def test_words_are_read_from_their_first_subword(tokenizer: Any) -> None:
    assert any(len(pieces_alone(tokenizer, w)) > 1 for w in WORDS), "the test needs multi-piece words"
    batch = batch_of(tokenizer, [Instance(WORDS, PREDICATE)])
    ids = batch.input_ids[0].tolist()
    positions = [position for _, position in word_piece_positions(batch, 0, len(WORDS))]
    ends = [*positions[1:], ids.index(tokenizer.sep_token_id)]
    assert ids[0] == tokenizer.cls_token_id and positions[0] == 1
    for word, start, end in zip(WORDS, positions, ends, strict=True):
        assert ids[start:end] == pieces_alone(tokenizer, word)
    assert batch.word_mask.all() and batch.predicate.tolist() == [PREDICATE]


def test_padding_rows_and_words_are_masked(tokenizer: Any) -> None:
    short = ["Thanks", "!"]
    batch = batch_of(tokenizer, [Instance(WORDS, PREDICATE), Instance(short, 0)])
    assert batch.word_mask.sum(1).tolist() == [len(WORDS), len(short)]
    assert batch.attention_mask[1].sum() == 2 + sum(len(pieces_alone(tokenizer, w)) for w in short)
    pad = batch.input_ids[1][batch.attention_mask[1] == 0]
    assert len(pad) > 0 and (pad == tokenizer.pad_token_id).all()


def predicate_span(batch: Batch, tokenizer: Any) -> tuple[int, int]:
    start = int(batch.word_position[0, PREDICATE])
    return start, start + len(pieces_alone(tokenizer, WORDS[PREDICATE]))


def test_segment_mode_marks_the_predicate_pieces_with_token_type_1(tokenizer: Any) -> None:
    batch = batch_of(tokenizer, [Instance(WORDS, PREDICATE)], predicate_awareness="segment")
    start, end = predicate_span(batch, tokenizer)
    marked = batch.token_type_ids[0].nonzero().squeeze(1).tolist()
    assert marked == list(range(start, end))
    assert batch.predicate_mark[0].nonzero().squeeze(1).tolist() == marked


def test_indicator_mode_marks_the_predicate_pieces_in_the_indicator(tokenizer: Any) -> None:
    batch = batch_of(tokenizer, [Instance(WORDS, PREDICATE)], predicate_awareness="indicator")
    start, end = predicate_span(batch, tokenizer)
    assert batch.predicate_mark[0].nonzero().squeeze(1).tolist() == list(range(start, end))
    assert not batch.token_type_ids.any()


def test_pair_mode_appends_the_predicate_as_a_second_segment(tokenizer: Any) -> None:
    batch = batch_of(tokenizer, [Instance(WORDS, PREDICATE)], predicate_awareness="pair")
    ids = batch.input_ids[0][batch.attention_mask[0] == 1].tolist()
    sentence = [p for w in WORDS for p in pieces_alone(tokenizer, w)]
    predicate = pieces_alone(tokenizer, WORDS[PREDICATE])
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    assert ids == [cls, *sentence, sep, *predicate, sep]
    second = len(sentence) + 2
    assert batch.token_type_ids[0, :second].eq(0).all()
    assert batch.token_type_ids[0, second : len(ids)].eq(1).all()
    start, end = predicate_span(batch, tokenizer)  # the mark late fusion reads stays on the sentence
    assert batch.predicate_mark[0].nonzero().squeeze(1).tolist() == list(range(start, end))


@pytest.mark.parametrize("awareness", ["segment", "pair", "indicator"])
def test_predicate_identification_instances_mark_nothing(tokenizer: Any, awareness: str) -> None:
    batch = batch_of(
        tokenizer, [Instance(WORDS, None, predicate_flags=[0] * len(WORDS))], predicate_awareness=awareness
    )
    assert batch.predicate.tolist() == [-1]
    assert not batch.token_type_ids.any() and not batch.predicate_mark.any()
    assert batch.input_ids[0].tolist().count(tokenizer.sep_token_id) == 1


def test_instances_carry_bio_tags_senses_and_predicate_flags(tiny_sentences: list) -> None:
    instances = instances_from_sentences(tiny_sentences)
    frames = [f for s in tiny_sentences for f in s.frames]
    arguments = [i for i in instances if i.predicate is not None]
    identification = [i for i in instances if i.predicate is None]
    assert len(arguments) == len(frames) and len(identification) == len(tiny_sentences)
    for instance, frame in zip(arguments, frames, strict=True):
        assert instance.predicate == frame.predicate.index
        assert instance.tags[frame.predicate.index] == "B-V"
        assert instance.sense == frame.predicate.sense.rsplit(".", 1)[1]
        for argument in frame.arguments:
            assert instance.tags[argument.start] == f"B-{argument.role}"
            assert set(instance.tags[argument.start + 1 : argument.end]) <= {f"I-{argument.role}"}
    for instance, sentence in zip(identification, tiny_sentences, strict=True):
        assert instance.predicate_flags == [
            int(i in {f.predicate.index for f in sentence.frames}) for i in range(len(sentence.words))
        ]


# ------------------------------------------------------------------------------------------- windows


@settings(max_examples=200, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 6), min_size=1, max_size=40),
    budget=st.integers(1, 20),
    stride=st.integers(0, 10),
)
def test_windows_cover_every_word_within_budget(lengths: list[int], budget: int, stride: int) -> None:
    spans = windows(lengths, budget, stride)
    assert spans[0][0] == 0 and spans[-1][1] == len(lengths)
    for (start, end), (next_start, next_end) in pairwise(spans):
        assert start < next_start <= end < next_end  # progress, and no word left between two windows
        assert sum(lengths[next_start:end]) <= stride
    for start, end in spans:
        assert end - start == 1 or sum(lengths[start:end]) <= budget


@settings(max_examples=100, deadline=None)
@given(count=st.integers(2, 60), budget=st.integers(3, 20), stride=st.integers(1, 10))
def test_windows_overlap_when_words_fit_the_stride(count: int, budget: int, stride: int) -> None:
    spans = windows([1] * count, budget, stride)
    for (_, end), (next_start, _) in pairwise(spans):
        assert end - next_start == min(stride, budget - 1)


def test_window_sizes_on_a_known_case() -> None:
    # Ten one-piece words, windows of four, two words of overlap: written out by hand.
    assert windows([1] * 10, 4, 2) == [(0, 4), (2, 6), (4, 8), (6, 10)]
    assert windows([1] * 3, 4, 2) == [(0, 3)]


@pytest.mark.parametrize("awareness", ["segment", "pair", "indicator"])
def test_long_sentence_becomes_overlapping_rows_that_still_read_every_word(
    tokenizer: Any, awareness: str
) -> None:
    words, predicate = WORDS * 4, len(WORDS) + PREDICATE
    batch = batch_of(
        tokenizer, [Instance(words, predicate)], predicate_awareness=awareness, max_length=16, stride=6
    )
    rows = batch.input_ids.size(0)
    assert rows > 1 and batch.attention_mask.sum(1).max() <= 16
    for w, (row, position) in enumerate(word_piece_positions(batch, 0, len(words))):
        assert batch.input_ids[batch.unit_row[row], position] == pieces_alone(tokenizer, words[w])[0]
    if awareness != "pair":  # the predicate is marked where it is read
        marks = batch.token_type_ids if awareness == "segment" else batch.predicate_mark
        row, position = word_piece_positions(batch, 0, len(words))[predicate]
        assert marks[row, position] == 1
        assert marks.sum() >= len(pieces_alone(tokenizer, words[predicate]))


# ------------------------------------------------------------------------------------------- batches


@pytest.fixture(scope="module")
def many_sentences(tokenizer: Any) -> list[EncodedSentence]:
    """80 sentences, tokenized once, with one to three predicate units each."""
    instances = []
    for k, line in enumerate(fixture_text_lines(count=80)):
        words = line.split()
        instances.extend(Instance(words, p) for p in range(min(len(words), 1 + k % 3)))
    return encode(tokenizer, instances)


def padded_tokens(sentences: list[EncodedSentence], batch: list[int]) -> int:
    return sum(len(sentences[i].units) for i in batch) * max(sentences[i].length for i in batch)


@pytest.mark.parametrize("shuffle", [False, True])
def test_batches_cover_every_sentence_once_within_the_token_budget(
    many_sentences: list[EncodedSentence], shuffle: bool
) -> None:
    batches = make_batches(many_sentences, max_tokens=200, shuffle=shuffle, seed=3)
    assert sorted(i for batch in batches for i in batch) == list(range(len(many_sentences)))
    assert len(batches) > 1
    for batch in batches:
        assert len(batch) == 1 or padded_tokens(many_sentences, batch) <= 200


def test_shuffled_batches_depend_only_on_the_seed(many_sentences: list[EncodedSentence]) -> None:
    def batches(seed: int) -> list[list[int]]:
        return make_batches(many_sentences, max_tokens=200, shuffle=True, seed=seed)

    assert batches(7) == batches(7)
    assert batches(7) != batches(8)


def test_unshuffled_batches_are_sorted_by_length(many_sentences: list[EncodedSentence]) -> None:
    batches = make_batches(many_sentences, max_tokens=200)
    lengths = [many_sentences[i].length for batch in batches for i in batch]
    assert lengths == sorted(lengths)


def test_token_budget_smaller_than_one_sentence_still_batches_it(
    many_sentences: list[EncodedSentence],
) -> None:
    batches = make_batches(many_sentences[:5], max_tokens=1)
    assert sorted(batches) == [[i] for i in range(5)]


def test_a_sentence_is_encoded_once_for_all_its_units(tokenizer: Any) -> None:
    """Tokenize once: one tokenizer call for all sentences, and each window stored once in a batch."""
    calls = []
    word_pieces = tokenizer.word_pieces

    def counting(word_lists: Any) -> Any:
        calls.append(word_lists)
        return word_pieces(word_lists)

    tokenizer.word_pieces = counting
    units = [Instance(WORDS, p) for p in (0, PREDICATE, 5)] + [Instance(WORDS[:4], None)]
    encoded = encode(tokenizer, units)
    assert len(calls) == 1 and len(calls[0]) == 2  # two sentences, one call
    assert [len(e.units) for e in encoded] == [3, 1]
    config = ModelConfig(labels=["O", "B-V", "I-V"], senses=["-"])
    batch = collate(encoded, tokenizer, config, {"O": 0}, {"-": 0})
    assert batch.input_ids.shape[0] == 2  # the distinct windows
    assert batch.unit_row.tolist() == [0, 0, 0, 1]
    assert batch.predicate_mark.sum(1).gt(0).tolist() == [True, True, True, False]
