"""The ``albert_srl`` spaCy component on ``spacy.blank("en")``, offline.

Most tests run a tiny model trained on the sample sentences (conftest) and check the component against
what ``SRLTagger.tag`` answers for the same words: the spans land on the right tokens, the pipeline's
sentences and the user's predicates reach the tagger, documents are batched, the pipeline round-trips
through ``to_disk`` / ``spacy.load``. One runs the issue's command with the shipped model.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import spacy
from spacy.language import Language
from spacy.tokens import Doc

from albert_srl.inference.tagger import SRLTagger
from albert_srl.inference.text import split_text
from albert_srl.spacy_component import AlbertSRL, DocFrame

TEXT = "President Bush nominated two judges on Tuesday. She said the court, she thinks, will rule soon."
ISSUE_COMMAND = (
    'import spacy; nlp = spacy.blank("en"); nlp.add_pipe("sentencizer"); nlp.add_pipe("albert_srl"); '
    'doc = nlp("The committee approved the new budget on Tuesday."); '
    "print([(f.roleset, [(a.label_, a.text) for a in f.arguments]) for f in doc._.frames])"
)


class SpyTagger:
    """Wraps a tagger and records what each ``tag`` call received."""

    def __init__(self, tagger: SRLTagger) -> None:
        self.tagger = tagger
        self.calls: list[tuple[list[list[str]], list[list[int] | None]]] = []

    def tag(self, words: list[list[str]], predicates: list[list[int] | None], **options: Any) -> Any:
        self.calls.append(([list(w) for w in words], list(predicates)))
        return self.tagger.tag(words, predicates, **options)

    def save_pretrained(self, directory: Path) -> Path:
        return self.tagger.save_pretrained(directory)


@pytest.fixture(scope="module")
def tiny_model_dir(trained_tiny_tagger: SRLTagger, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_tiny_tagger.save_pretrained(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture
def nlp(tiny_model_dir: Path) -> Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("albert_srl", config={"model": str(tiny_model_dir)})
    return nlp


@pytest.fixture
def spy(nlp: Language) -> Iterator[SpyTagger]:
    component: AlbertSRL = nlp.get_pipe("albert_srl")
    spy = SpyTagger(component.tagger)
    component.tagger = spy
    yield spy


def frame_spans(frames: list[DocFrame]) -> list[tuple[int, str | None, list[tuple[str, int, int]]]]:
    return [(f.predicate.i, f.roleset, [(a.label_, a.start, a.end) for a in f.arguments]) for f in frames]


def expected_spans(
    tagger: SRLTagger, doc: Doc, predicates: list[list[int] | None] | None = None
) -> list[tuple[int, str | None, list[tuple[str, int, int]]]]:
    """What the tagger answers for the doc's sentences (no whitespace tokens), in doc token indices."""
    sentences = list(doc.sents)
    tagged = tagger.tag([[t.text for t in s] for s in sentences], predicates)
    return [
        (
            s.start + frame.predicate.index,
            frame.predicate.sense,
            [(a.role, s.start + a.start, s.start + a.end) for a in frame.arguments if a.role != "V"],
        )
        for s, sentence in zip(sentences, tagged, strict=True)
        for frame in sentence.frames
    ]


def test_frames_are_the_taggers_on_the_pipelines_tokens(
    nlp: Language, trained_tiny_tagger: SRLTagger
) -> None:
    doc = nlp(TEXT)
    assert len(list(doc.sents)) == 2
    frames = doc._.frames
    assert frame_spans(frames) == expected_spans(trained_tiny_tagger, doc)
    nominated = next(f for f in frames if f.predicate.text == "nominated")  # the tiny model knows it
    assert nominated.roleset == "nominate.01"
    assert nominated.tuples() == [
        ("nominated", "ARG0", "President Bush"),
        ("nominated", "ARG1", "two judges"),
        ("nominated", "ARGM-TMP", "on Tuesday"),
    ]
    first, second = doc.sents
    assert frame_spans(first._.frames) + frame_spans(second._.frames) == frame_spans(frames)
    assert all(f.predicate.sent == first for f in first._.frames)


def test_without_sentence_boundaries_the_own_splitter_sets_them(
    tiny_model_dir: Path, trained_tiny_tagger: SRLTagger
) -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("albert_srl", config={"model": str(tiny_model_dir)})
    doc = nlp(TEXT)
    starts = [doc.char_span(s.offsets[0][0], s.offsets[0][1]).start for s in split_text(TEXT)]
    assert len(starts) == 2
    assert [sentence.start for sentence in doc.sents] == starts
    assert frame_spans(doc._.frames) == expected_spans(trained_tiny_tagger, doc)


def test_the_pipelines_own_boundaries_are_used(nlp: Language, spy: SpyTagger) -> None:
    doc = nlp.make_doc(TEXT)
    for token in doc:  # one sentence, against the sentencizer's two: a user's (or a parser's) choice
        token.is_sent_start = token.i == 0
    nlp.get_pipe("albert_srl")(doc)
    assert spy.calls == [([[t.text for t in doc]], [None])]


def test_whitespace_tokens_are_not_words(nlp: Language, spy: SpyTagger) -> None:
    text = "President Bush  nominated two judges\n on Tuesday.\n\nThe board approved the merger."
    doc = nlp(text)
    words = [word for sentence in spy.calls[0][0] for word in sentence]
    assert words == [t.text for t in doc if not t.is_space]
    for frame in doc._.frames:
        for span in frame.arguments:
            assert not span[0].is_space and not span[-1].is_space
    nominated = next(f for f in doc._.frames if f.predicate.text == "nominated")
    assert [a.text for a in nominated.arguments] == ["President Bush", "two judges", "on Tuesday"]


def test_user_predicates_are_honoured(nlp: Language, spy: SpyTagger) -> None:
    doc = nlp.make_doc(TEXT)
    said = next(t for t in doc if t.text == "said")
    said._.srl_predicate = True
    first_end = next(t.i for t in doc if t.text == ".") + 1
    for token in doc[:first_end]:  # the first sentence: marked, but no predicate in it
        token._.srl_predicate = False
    doc = nlp(doc)
    assert spy.calls[-1][1] == [[], [said.i - first_end]]
    assert [f.predicate for f in doc._.frames] == [said]


def test_unmarked_sentences_get_the_models_predicates(nlp: Language, spy: SpyTagger) -> None:
    doc = nlp.make_doc(TEXT)
    doc[-3]._.srl_predicate = True  # "rule", second sentence only
    doc = nlp(doc)
    assert spy.calls[-1][1] == [None, [doc[-3].i - doc[-3].sent.start]]
    assert "nominated" in [f.predicate.text for f in doc._.frames]
    assert [f.predicate.i for f in doc[-3].sent._.frames] == [doc[-3].i]


def test_nlp_pipe_batches_across_documents(nlp: Language, spy: SpyTagger) -> None:
    texts = [TEXT, "The board approved the merger.", "Thanks!", "", "The judges picked up the case."] * 2
    one_by_one = [nlp(text)._.srl_data for text in texts]
    spy.calls.clear()
    docs = list(nlp.pipe(texts, batch_size=4))
    assert [doc._.srl_data for doc in docs] == one_by_one
    assert len(spy.calls) == 3  # 10 documents, 4 a batch
    sentences_per_doc = [len(list(doc.sents)) if len(doc) else 0 for doc in docs]
    assert [len(words) for words, _ in spy.calls] == [
        sum(sentences_per_doc[i : i + 4]) for i in range(0, len(docs), 4)
    ]


def test_component_batch_size_from_the_config(tiny_model_dir: Path) -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    component = nlp.add_pipe("albert_srl", config={"model": str(tiny_model_dir), "batch_size": 2})
    spy = SpyTagger(component.tagger)
    component.tagger = spy
    list(component.pipe(nlp.make_doc(t) for t in ["One dog barked.", "Two cats ran.", "A bird sang."]))
    assert [len(words) for words, _ in spy.calls] == [2, 1]
    with pytest.raises(ValueError, match="batch_size"):
        nlp.add_pipe("albert_srl", name="bad", config={"batch_size": 0})


def test_to_disk_and_spacy_load_round_trip(tiny_model_dir: Path, tmp_path: Path) -> None:
    model = shutil.copytree(tiny_model_dir, tmp_path / "model")
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("albert_srl", config={"model": str(model), "batch_size": 8})
    before = nlp(TEXT)
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(model)  # the saved pipeline holds its own copy of the model
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.pipe_names == ["sentencizer", "albert_srl"]
    assert loaded.get_pipe("albert_srl").batch_size == 8
    after = loaded(TEXT)
    assert after._.srl_data == before._.srl_data
    assert frame_spans(after._.frames) == frame_spans(before._.frames)


def test_frames_survive_doc_serialization(nlp: Language) -> None:
    doc = nlp(TEXT)
    restored = Doc(nlp.vocab).from_bytes(doc.to_bytes())
    assert restored._.srl_data == doc._.srl_data
    assert frame_spans(restored._.frames) == frame_spans(doc._.frames)


def test_the_issue_command_with_the_shipped_model(tmp_path: Path) -> None:
    """The command of issue 25, run as a user runs it: the component is found through the entry point."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, "-c", ISSUE_COMMAND],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    printed = done.stdout.strip().splitlines()[-1]
    frames = dict(ast.literal_eval(printed))  # a list of (roleset, arguments) tuples
    assert set(frames["approve.01"]) >= {
        ("ARG0", "The committee"),
        ("ARG1", "the new budget"),
        ("ARGM-TMP", "on Tuesday"),
    }
