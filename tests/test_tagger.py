"""``SRLTagger``: an exact, pickle-free save/load round trip, clear errors for broken model directories,
and ``tag`` over every input kind, with gold or found predicates, long sentences and corpora."""

from __future__ import annotations

import copy
import logging
import pickle
import re
import threading
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import TinyTaggerFactory

from albert_srl.config import CPU_MAX_TOKENS, GPU_MAX_TOKENS
from albert_srl.data import Sentence
from albert_srl.errors import SRLFormatError
from albert_srl.formats import read
from albert_srl.model.encoding import Instance, collate, encode
from albert_srl.tagging import decoding
from albert_srl.tagging.tagger import SRLTagger
from albert_srl.tagging.text import BadLine, split_tokenized

TEXT = "President Bush nominated two judges on Tuesday. She said the court will rule soon."


def gold_predicates(sentences: list[Sentence]) -> list[list[int]]:
    return [[frame.predicate.index for frame in sentence.frames] for sentence in sentences]


def frames_of(sentences: list[Sentence]) -> list[list[tuple[int, list[str] | None]]]:
    return [[(f.predicate.index, f.tags(len(s.words))) for f in s.frames] for s in sentences]


def emissions(tagger: SRLTagger, sentences: list[Sentence]) -> torch.Tensor:
    """Argument-head scores ``(B, W, L)`` of every (sentence, gold predicate) pair."""
    instances = [Instance(s.words, f.predicate.index) for s in sentences for f in s.frames]
    labels = {label: i for i, label in enumerate(tagger.config.labels)}
    senses = {sense: i for i, sense in enumerate(tagger.config.senses)}
    batch = collate(encode(tagger.tokenizer, instances), tagger.tokenizer, tagger.config, labels, senses)
    with torch.inference_mode():
        return tagger.model.argument_head(tagger.model.word_states(batch))


@pytest.fixture(scope="module")
def saved_dir(trained_tiny_tagger: SRLTagger, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_tiny_tagger.save_pretrained(tmp_path_factory.mktemp("model"), card="# tiny\n")


# ------------------------------------------------------------------------------------- files


def test_round_trip_gives_bit_identical_outputs(
    trained_tiny_tagger: SRLTagger, saved_dir: Path, tiny_sentences: list[Sentence]
) -> None:
    loaded = SRLTagger.from_pretrained(saved_dir)
    assert torch.equal(emissions(loaded, tiny_sentences), emissions(trained_tiny_tagger, tiny_sentences))
    predicates = gold_predicates(tiny_sentences)
    before = trained_tiny_tagger.tag(tiny_sentences, predicates)
    after = loaded.tag(tiny_sentences, predicates)
    assert frames_of(after) == frames_of(before)
    assert [[f.predicate.sense for f in s.frames] for s in after] == [
        [f.predicate.sense for f in s.frames] for s in before
    ]
    original = trained_tiny_tagger.model.state_dict()
    assert all(torch.equal(tensor, original[name]) for name, tensor in loaded.model.state_dict().items())
    assert loaded.config == trained_tiny_tagger.config
    assert loaded.card == "# tiny\n"


def test_model_directory_holds_safetensors_and_no_pickles(saved_dir: Path) -> None:
    names = {path.name for path in saved_dir.iterdir()}
    assert {"config.json", "model.safetensors", "spiece.model", "README.md"} <= names
    assert not [name for name in names if name.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt"))]


def test_loading_never_unpickles(saved_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("unpickling while loading a model directory")

    for module, name in ((pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (torch, "load")):
        monkeypatch.setattr(module, name, refuse)
    assert SRLTagger.from_pretrained(saved_dir).tag([["The", "judges", "ruled", "."]], [[2]])


def copy_model(source: Path, target: Path) -> Path:
    target.mkdir()
    for path in source.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target


def test_missing_default_model_names_its_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("albert_srl.tagging.model_dir.DEFAULT_MODEL", tmp_path / "models" / "default")
    with pytest.raises(SRLFormatError) as caught:
        SRLTagger.from_pretrained()
    assert caught.value.path == str(tmp_path / "models" / "default")


def test_missing_config_is_named(saved_dir: Path, tmp_path: Path) -> None:
    broken = copy_model(saved_dir, tmp_path / "model")
    (broken / "config.json").unlink()
    with pytest.raises(SRLFormatError) as caught:
        SRLTagger.from_pretrained(broken)
    assert caught.value.path == str(broken / "config.json")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "delete"])
def test_corrupt_or_missing_weights_are_named(saved_dir: Path, tmp_path: Path, damage: str) -> None:
    broken = copy_model(saved_dir, tmp_path / "model")
    weights = broken / "model.safetensors"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "garbage":
        weights.write_bytes(b"\x00not a safetensors file" * 8)
    else:
        weights.unlink()
    with pytest.raises(SRLFormatError) as caught:
        SRLTagger.from_pretrained(broken)
    assert caught.value.path == str(weights)


def test_config_that_is_not_json_is_named(saved_dir: Path, tmp_path: Path) -> None:
    broken = copy_model(saved_dir, tmp_path / "model")
    (broken / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(SRLFormatError) as caught:
        SRLTagger.from_pretrained(broken)
    assert caught.value.path == str(broken / "config.json")


# ----------------------------------------------------------------------------------- tagging


def test_every_input_kind_gives_the_same_frames(
    trained_tiny_tagger: SRLTagger, tiny_sentences: list[Sentence]
) -> None:
    words = [sentence.words for sentence in tiny_sentences]
    predicates = gold_predicates(tiny_sentences)
    from_words = trained_tiny_tagger.tag(words, predicates)
    from_objects = trained_tiny_tagger.tag(tiny_sentences, predicates)
    assert [s.words for s in from_words] == words  # input order, though batches are sorted by length
    assert frames_of(from_objects) == frames_of(from_words)
    assert gold_predicates(from_words) == predicates
    assert all(len(f.tags(len(s.words))) == len(s.words) for s in from_words for f in s.frames)
    one = trained_tiny_tagger.tag([words[0]], [predicates[0]])
    assert len(one) == 1 and frames_of(one) == frames_of(from_words[:1])
    as_tuples = trained_tiny_tagger.tag([tuple(w) for w in words], predicates)
    assert frames_of(as_tuples) == frames_of(from_words)


def test_raw_text_arguments_carry_character_offsets(trained_tiny_tagger: SRLTagger) -> None:
    tagged = trained_tiny_tagger.tag(TEXT)
    assert [s.words[0] for s in tagged] == ["President", "She"]
    arguments = [a for s in tagged for f in s.frames for a in f.arguments]
    assert any(a.end - a.start > 1 for a in arguments), "the check needs multi-word arguments"
    assert tagged[1].char_start == TEXT.index("She") > 0
    for sentence in tagged:
        assert TEXT[sentence.char_start : sentence.char_start + len(sentence.text)] == sentence.text
        assert sentence.text_index == 0
        for word, (start, end) in zip(sentence.words, sentence.offsets, strict=True):
            assert TEXT[start:end] == word
        for frame in sentence.frames:
            for argument in frame.arguments:
                assert TEXT[argument.char_start : argument.char_end] == argument.text
                assert sentence.span_text(argument.start, argument.end) == argument.text
                assert argument.text.replace(" ", "") == "".join(
                    sentence.words[argument.start : argument.end]
                )


def test_no_predicates_means_the_predicate_head_finds_them(
    trained_tiny_tagger: SRLTagger, tiny_sentences: list[Sentence]
) -> None:
    words = [sentence.words for sentence in tiny_sentences]
    assert gold_predicates(trained_tiny_tagger.tag(words)) == gold_predicates(tiny_sentences)
    # None for one sentence: only that one is left to the head.
    mixed = trained_tiny_tagger.tag(words[:2], [None, [0]])
    assert gold_predicates(mixed) == [gold_predicates(tiny_sentences)[0], [0]]


def test_found_predicates_follow_the_predicate_head(make_tiny_tagger: TinyTaggerFactory) -> None:
    tagger, _ = make_tiny_tagger()
    words = ["The", "board", "approved", "it", "."]
    with torch.no_grad():
        tagger.model.predicate_head.bias.copy_(torch.tensor([-100.0, 100.0]))
        assert gold_predicates(tagger.tag([words])) == [list(range(len(words)))]
        tagger.model.predicate_head.bias.copy_(torch.tensor([100.0, -100.0]))
        assert gold_predicates(tagger.tag([words])) == [[]]


def test_every_frame_has_its_probability_and_a_found_predicate_its_own(
    trained_tiny_tagger: SRLTagger, tiny_sentences: list[Sentence]
) -> None:
    """The probability of each frame's arguments given its predicate (the CRF path's), and, where the model
    found the predicate, the predicate head's (above one half: the head's choice), one where it is sure."""
    words = [sentence.words for sentence in tiny_sentences]
    found = [frame for sentence in trained_tiny_tagger.tag(words) for frame in sentence.frames]
    assert found and all(0 < frame.probability <= 1 for frame in found)  # type: ignore[operator]
    assert all(0.5 < frame.predicate.probability <= 1 for frame in found)  # type: ignore[operator]  # argmax
    assert all(frame.confidence == frame.probability * frame.predicate.probability for frame in found)  # type: ignore[operator]
    given = trained_tiny_tagger.tag(words, [[f.predicate.index for f in s.frames] for s in tiny_sentences])
    frames = [frame for sentence in given for frame in sentence.frames]
    assert all(frame.predicate.probability is None and frame.probability is not None for frame in frames)
    assert [f.probability for f in frames] == pytest.approx([f.probability for f in found])
    tagger, _ = make_untrained_tagger_like(trained_tiny_tagger)
    with torch.no_grad():
        tagger.model.predicate_head.bias.copy_(torch.tensor([-100.0, 100.0]))  # every word a predicate
        tagger.model.predicate_head.weight.zero_()
    (sentence,) = tagger.tag([words[0]])
    assert all(frame.predicate.probability == pytest.approx(1.0) for frame in sentence.frames)


def make_untrained_tagger_like(tagger: SRLTagger) -> tuple[SRLTagger, None]:
    """A copy of ``tagger`` whose heads can be changed without touching the shared fixture."""
    return SRLTagger(copy.deepcopy(tagger.model), tagger.tokenizer), None


def test_long_sentence_is_windowed_with_a_warning(
    make_tiny_tagger: TinyTaggerFactory, tiny_sentences: list[Sentence], caplog: pytest.LogCaptureFixture
) -> None:
    tagger, _ = make_tiny_tagger(max_length=16, stride=6)
    words = [w for sentence in tiny_sentences for w in sentence.words]
    short = ["Thanks", "!"]
    with caplog.at_level(logging.WARNING, logger="albert_srl"):
        tagged = tagger.tag([short, words], [[0], [0, len(words) // 2, len(words) - 1]])
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "sentence 2" in warnings[0].getMessage()
    assert [len(f.tags(len(words))) for f in tagged[1].frames] == [len(words)] * 3
    assert all(f.tags(len(s.words))[f.predicate.index] == "B-V" for s in tagged for f in s.frames)


def test_tag_conll_keeps_documents_and_order(
    trained_tiny_tagger: SRLTagger, tiny_sentences: list[Sentence]
) -> None:
    sample = Path(__file__).resolve().parents[1] / "corpora" / "sample.gold_conll"
    tagged = list(trained_tiny_tagger.tag_conll(read(sample), chunk=3))
    assert [(s.doc_id, s.part, s.words) for s in tagged] == [
        (s.doc_id, s.part, s.words) for s in tiny_sentences
    ]
    assert [s.pos for s in tagged] == [s.pos for s in tiny_sentences]
    assert gold_predicates(tagged) == gold_predicates(tiny_sentences)


@pytest.mark.parametrize("index", [-1, 4])
def test_predicate_outside_the_sentence_is_a_value_error(trained_tiny_tagger: SRLTagger, index: int) -> None:
    with pytest.raises(ValueError, match="predicate index"):
        trained_tiny_tagger.tag([["The", "judges", "ruled", "."]], [[index]])


def test_predicates_must_match_the_sentences(trained_tiny_tagger: SRLTagger) -> None:
    with pytest.raises(ValueError, match="2 sentences"):
        trained_tiny_tagger.tag([["Thanks", "!"], ["Thanks", "!"]], [[0]])


def test_empty_input_and_empty_sentences(trained_tiny_tagger: SRLTagger) -> None:
    assert trained_tiny_tagger.tag([]) == []
    tagged = trained_tiny_tagger.tag([[], ["Thanks", "!"]], [None, [0]])
    assert [s.words for s in tagged] == [[], ["Thanks", "!"]]
    assert tagged[0].frames == [] and [f.predicate.index for f in tagged[1].frames] == [0]


def test_bf16_autocast_tags_like_float32(
    trained_tiny_tagger: SRLTagger, tiny_sentences: list[Sentence], monkeypatch: pytest.MonkeyPatch
) -> None:
    words = [sentence.words for sentence in tiny_sentences]
    model = trained_tiny_tagger.model
    seen: list[bool] = []
    decode = model.decode

    def spy(batch: object, lower: object = None) -> object:
        seen.append(torch.is_autocast_enabled("cpu"))
        return decode(batch, lower)

    monkeypatch.setattr(model, "decode", spy)
    expected = trained_tiny_tagger.tag(words)
    assert seen and not any(seen)  # float32 by default on the CPU
    seen.clear()
    got = SRLTagger(model, trained_tiny_tagger.tokenizer, bf16=True).tag(words)
    assert seen and all(seen)
    assert [[f.tags(len(s.words)) for f in s.frames] for s in got] == [
        [f.tags(len(s.words)) for f in s.frames] for s in expected
    ]


def test_preparing_the_next_batch_meanwhile_changes_nothing(
    trained_tiny_tagger: SRLTagger, tiny_sentences: list[Sentence], monkeypatch: pytest.MonkeyPatch
) -> None:
    words = [sentence.words for sentence in tiny_sentences] * 3
    predicates = gold_predicates(tiny_sentences) * 3  # tagging given predicates prepares batches ahead
    expected = trained_tiny_tagger.tag(words, predicates, max_tokens=64)  # many small batches
    overlapping = SRLTagger(trained_tiny_tagger.model, trained_tiny_tagger.tokenizer)
    monkeypatch.setattr(decoding, "prepares_ahead", lambda device: True)  # as on CUDA
    threads: set[str] = set()
    collate_in_tagger = decoding.collate

    def spy(*args: object, **kwargs: object) -> object:
        threads.add(threading.current_thread().name)
        return collate_in_tagger(*args, **kwargs)

    monkeypatch.setattr(decoding, "collate", spy)
    got = overlapping.tag(words, predicates, max_tokens=64)
    assert threading.main_thread().name not in threads  # every batch was prepared on the worker thread
    assert [[(f.predicate.index, f.tags(len(s.words))) for f in s.frames] for s in got] == [
        [(f.predicate.index, f.tags(len(s.words))) for f in s.frames] for s in expected
    ]


def test_the_batch_budget_defaults_by_device_and_a_given_one_is_kept(
    trained_tiny_tagger: SRLTagger, tiny_sentences: list[Sentence], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert trained_tiny_tagger.batch_budget() == CPU_MAX_TOKENS
    assert trained_tiny_tagger.batch_budget(64) == 64
    budgets: list[int] = []
    make_batches = decoding.make_batches

    def spy(*args: Any, max_tokens: int, **kwargs: Any) -> list[list[int]]:
        budgets.append(max_tokens)
        return make_batches(*args, max_tokens=max_tokens, **kwargs)

    monkeypatch.setattr(decoding, "make_batches", spy)
    words = [sentence.words for sentence in tiny_sentences]
    trained_tiny_tagger.tag(words, gold_predicates(tiny_sentences))
    trained_tiny_tagger.tag(words, gold_predicates(tiny_sentences), max_tokens=64)
    # Each call makes the batches of its given predicates, then (none here) its finding batches.
    finding = decoding.ROWS_PER_FOUND_SENTENCE
    assert budgets == [CPU_MAX_TOKENS, CPU_MAX_TOKENS // finding, 64, 64 // finding]
    monkeypatch.setattr(SRLTagger, "device", property(lambda _self: torch.device("cuda")))
    assert trained_tiny_tagger.batch_budget() == GPU_MAX_TOKENS


def test_a_list_of_strings_is_a_batch_of_texts(trained_tiny_tagger: SRLTagger) -> None:
    texts = ["The dog chased the cat.", "She gave him a book. He read it."]
    tagged = trained_tiny_tagger.tag(texts)
    assert [(s.text_index, s.text) for s in tagged] == [
        (0, "The dog chased the cat."),
        (1, "She gave him a book."),
        (1, "He read it."),
    ]
    assert [s.char_start for s in tagged] == [0, 0, texts[1].index("He")]
    for sentence in tagged:
        text = texts[sentence.text_index]
        for word, (start, end) in zip(sentence.words, sentence.offsets, strict=True):
            assert text[start:end] == word
        for frame in sentence.frames:
            for argument in frame.arguments:
                assert text[argument.char_start : argument.char_end] == argument.text
    alone = [s for text in texts for s in trained_tiny_tagger.tag(text)]
    assert frames_of(tagged) == frames_of(alone)  # batching changes nothing


@pytest.mark.parametrize(
    ("inputs", "predicates", "message"),
    [
        (["A text.", ["some", "words"]], None, "a list of list and str"),
        ([1, 2], None, "a list of int"),
        (42, None, "cannot read a int"),
        ("The board approved it.", [[2]], "pre-tokenized"),
        (["The", "judges", "ruled", "."], [[2]], "pre-tokenized"),
    ],
)
def test_input_that_is_not_one_of_the_forms_is_refused_with_what_to_pass(
    trained_tiny_tagger: SRLTagger, inputs: object, predicates: object, message: str
) -> None:
    with pytest.raises(TypeError, match=message) as caught:
        trained_tiny_tagger.tag(inputs, predicates)  # type: ignore[arg-type]
    assert "list" in str(caught.value)


def test_a_list_of_single_words_is_tagged_as_texts_with_a_warning(
    trained_tiny_tagger: SRLTagger, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        tagged = trained_tiny_tagger.tag(["The", "judges", "ruled", "."])
    assert [s.words for s in tagged] == [["The"], ["judges"], ["ruled"], ["."]]
    assert "for the words of one sentence pass a list of word lists" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        trained_tiny_tagger.tag(["The judges ruled.", "Thanks!"])
    assert not caplog.text


# ------------------------------------------------------------------------------ a stream's failures

STREAM = ["The board approved it .", "President Bush nominated two judges on Tuesday .", "She said it ."]
LONG = 8  # words: the second line's sentence is the only one this long
OUT_OF_MEMORY = {
    "cpu": RuntimeError(
        "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you "
        "tried to allocate 40000000000000 bytes. Error code 12 (Cannot allocate memory)"
    ),
    "cuda": torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"),
    "python": MemoryError(),
}
BUGS = {
    "index": IndexError("list index out of range"),
    "value": ValueError("too many values to unpack"),
    "shape": RuntimeError("The size of tensor a (7) must match the size of tensor b (9) at dimension 1"),
}


def failing_on_long_sentences(tagger: SRLTagger, error: BaseException) -> SRLTagger:
    """A copy of ``tagger`` whose network raises ``error`` on any batch that holds the long sentence."""
    model = copy.deepcopy(tagger.model)
    decode = model.decode

    def failing(batch: Any, lower: Any = None) -> Any:
        if int(batch.word_mask.sum(1).max()) >= LONG:
            raise error
        return decode(batch, lower)

    model.decode = failing  # type: ignore[method-assign]
    return SRLTagger(model, tagger.tokenizer)


@pytest.mark.parametrize("kind", sorted(OUT_OF_MEMORY))
def test_a_sentence_that_runs_out_of_memory_is_reported_and_the_stream_goes_on(
    trained_tiny_tagger: SRLTagger, kind: str
) -> None:
    failing = failing_on_long_sentences(trained_tiny_tagger, OUT_OF_MEMORY[kind])
    items = [split_tokenized(line, number) for number, line in enumerate(STREAM, start=1)]
    out = list(failing.tag_stream(items, path="in.txt"))  # the batch fails, then the long sentence alone
    assert [type(item) for item in out] == [Sentence, BadLine, Sentence]
    bad = out[1]
    assert isinstance(bad, BadLine) and (bad.path, bad.line) == ("in.txt", 2)
    assert bad.reason.startswith("cannot tag this sentence")
    expected = trained_tiny_tagger.tag([STREAM[0].split(), STREAM[2].split()])
    assert frames_of([out[0], out[2]]) == frames_of(expected)  # type: ignore[list-item]


@pytest.mark.parametrize("kind", sorted(BUGS))
def test_a_bug_while_tagging_a_stream_is_raised_not_reported_as_a_sentence(
    trained_tiny_tagger: SRLTagger, kind: str
) -> None:
    failing = failing_on_long_sentences(trained_tiny_tagger, BUGS[kind])
    items = [split_tokenized(line, number) for number, line in enumerate(STREAM, start=1)]
    with pytest.raises(type(BUGS[kind]), match=re.escape(str(BUGS[kind]))):
        list(failing.tag_stream(items, path="in.txt"))
