"""The one output schema (``albert_srl.schema``): JSON lines round-trip through it, what it writes is what
the jsonl and AllenNLP writers write, and a record that does not fit is one line naming where it is bad.
The server's and the spaCy component's round trips are in test_serve_schema.py and test_spacy.py."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from albert_srl.data import Argument, Frame, Predicate, Sentence
from albert_srl.formats import read, write
from albert_srl.formats.allennlp import sentence_from_allennlp, sentence_to_allennlp
from albert_srl.schema import FrameRecord, PredictorRecord, SentenceRecord

CORPORA = Path(__file__).resolve().parents[1] / "corpora"
SAMPLES = ["sample.gold_conll", "sample.conll05", "sample.conllu", "sample.jsonl"]


def from_raw_text() -> Sentence:
    """A sentence as the tagger makes it from raw text: its text, offsets, lemmas and character spans."""
    words = ["The", "board", "approved", "it", "."]
    offsets = [(10, 13), (14, 19), (20, 28), (29, 31), (31, 32)]
    arguments = [
        Argument("ARG0", 0, 2, "The board", 10, 19),
        Argument("V", 2, 3, "approved", 20, 28),
        Argument("ARG1", 3, 4, "it", 29, 31),
    ]
    predicate = Predicate(2, "approved", lemma="approve", sense="approve.01", probability=0.9981)
    frame = Frame(predicate, arguments, probability=0.8125)
    return Sentence(words, [frame], text="The board approved it.", offsets=offsets, char_start=10)


def sentences() -> list[Sentence]:
    return [s for name in SAMPLES for s in read(CORPORA / name)] + [from_raw_text()]


def test_every_sentence_round_trips_through_its_record() -> None:
    for sentence in sentences():
        written = SentenceRecord.of(sentence).dump()
        assert SentenceRecord.read(json.loads(json.dumps(written))).sentence() == sentence


def test_the_jsonl_file_is_the_records_one_a_line() -> None:
    stream = io.StringIO()
    write(sentences(), stream, "jsonl")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines == [json.loads(json.dumps(SentenceRecord.of(s).dump())) for s in sentences()]


def test_keys_without_a_value_are_left_out_and_in_schema_order() -> None:
    raw, tokenized = from_raw_text(), Sentence(["It", "rained", "."], [Frame(Predicate(1, "rained"), [])])
    assert list(SentenceRecord.of(raw).dump()) == ["text", "char_start", "words", "frames", "offsets"]
    frame = SentenceRecord.of(tokenized).dump()["frames"][0]
    assert frame == {
        "predicate": {"index": 1, "text": "rained", "sense": None},
        "arguments": [],
        "tags": ["O"] * 3,
    }
    argument = SentenceRecord.of(raw).dump()["frames"][0]["arguments"][0]
    assert list(argument) == ["role", "start", "end", "text", "char_start", "char_end"]
    dependency = next(s for s in read(CORPORA / "sample.conllu"))
    assert SentenceRecord.of(dependency).dump()["dependency"] is True
    assert all("tags" not in f for f in SentenceRecord.of(dependency).dump()["frames"])


def test_what_the_words_give_may_be_left_out_when_read() -> None:
    record = {
        "words": ["He", "ran", "."],
        "frames": [{"predicate": {"index": 1}, "tags": ["B-ARG0", "B-V", "O"]}],
    }
    (frame,) = SentenceRecord.read(record).sentence().frames
    assert frame.predicate == Predicate(1, "ran")
    assert [(a.role, a.start, a.end, a.text) for a in frame.arguments] == [
        ("ARG0", 0, 1, "He"),
        ("V", 1, 2, "ran"),
    ]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"frames": []}, "missing key words"),
        ({"words": "abc"}, "words: input should be a valid list (found 'abc')"),
        ({"words": ["a"], "frames": [{"predicate": {"index": True}, "arguments": []}]},
         "frames[0].predicate.index: input should be a valid integer (found True)"),
        ({"words": ["a"], "offsets": [[0, 1, 2]]}, "offsets[0]: list should have at most 2 items"),
        ({"words": ["a"], "frames": [{"predicate": {"index": 3}, "arguments": []}]},
         "frames[0]: predicate index 3 is outside the sentence's 1 words"),
        ({"words": ["a"], "frames": [{"predicate": {"index": 0},
                                      "arguments": [{"role": "V", "start": 0, "end": 2}]}]},
         "frames[0].arguments[0]: argument [0, 2) is not a span of the sentence's 1 words"),
        ({"words": ["a"], "frames": [{"predicate": {"index": 0}}]},
         "frames[0]: a frame needs 'arguments' or 'tags'"),
    ],
)  # fmt: skip
def test_a_record_that_does_not_fit_is_one_line_naming_where(record: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        SentenceRecord.read(record).sentence()
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)


def test_allennlp_lines_are_predictor_records() -> None:
    sentence = from_raw_text()
    line = sentence_to_allennlp(sentence)
    assert PredictorRecord.read(line).dump() == line
    assert list(line["verbs"][0]) == ["verb", "description", "tags", "index", "sense"]
    back = sentence_from_allennlp(json.loads(json.dumps(line)))
    assert [(f.predicate.index, f.predicate.sense, f.tags(5)) for f in back.frames] == [
        (2, "approve.01", ["B-ARG0", "I-ARG0", "B-V", "B-ARG1", "O"])
    ]


def test_a_frame_record_is_the_frame_of_a_sentence_record() -> None:
    sentence = from_raw_text()
    frame = FrameRecord.of(sentence.frames[0], len(sentence.words))
    assert frame.dump() == SentenceRecord.of(sentence).dump()["frames"][0]
    assert frame.frame(sentence) == sentence.frames[0]


def test_probabilities_are_written_with_four_decimals_read_back_and_checked() -> None:
    sentence = from_raw_text()
    sentence.frames[0].probability = 0.812345678
    (frame,) = SentenceRecord.of(sentence).dump()["frames"]
    assert frame["probability"] == 0.8123 and frame["predicate"]["probability"] == 0.9981
    (read_back,) = (
        SentenceRecord.read(json.loads(json.dumps(SentenceRecord.of(sentence).dump()))).sentence().frames
    )
    assert read_back.probability == 0.8123 and read_back.confidence == pytest.approx(0.8123 * 0.9981)
    frame["probability"] = 1.5
    with pytest.raises(ValueError, match="probability"):
        FrameRecord.read(frame)
