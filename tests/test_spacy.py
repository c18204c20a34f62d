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
from spacy.tokens import Doc, Span

from albert_srl.config import RunConfig, SpacyOptions
from albert_srl.settings import setting_of
from albert_srl.spacy_component import AlbertSRL, DocFrame, UnusableMarkWarning
from albert_srl.tagging.tagger import SRLTagger
from albert_srl.tagging.text import split_text

TEXT = "President Bush nominated two judges on Tuesday. She said the court, she thinks, will rule soon."
ISSUE_COMMAND = (
    'import spacy; nlp = spacy.blank("en"); nlp.add_pipe("sentencizer"); nlp.add_pipe("albert_srl"); '
    'doc = nlp("The committee approved the new budget on Tuesday."); '
    "print([(f.roleset, [(a.label_, a.text) for a in f.arguments]) for f in doc._.albert_srl_frames])"
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
    frames = doc._.albert_srl_frames
    assert frame_spans(frames) == expected_spans(trained_tiny_tagger, doc)
    nominated = next(f for f in frames if f.predicate.text == "nominated")  # the tiny model knows it
    assert nominated.roleset == "nominate.01"
    assert nominated.tuples() == [
        ("nominated", "ARG0", "President Bush"),
        ("nominated", "ARG1", "two judges"),
        ("nominated", "ARGM-TMP", "on Tuesday"),
    ]
    first, second = doc.sents
    assert frame_spans(first._.albert_srl_frames) + frame_spans(second._.albert_srl_frames) == frame_spans(
        frames
    )
    assert all(f.predicate.sent == first for f in first._.albert_srl_frames)


def test_without_sentence_boundaries_the_own_splitter_sets_them(
    tiny_model_dir: Path, trained_tiny_tagger: SRLTagger
) -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("albert_srl", config={"model": str(tiny_model_dir)})
    doc = nlp(TEXT)
    starts = [doc.char_span(s.offsets[0][0], s.offsets[0][1]).start for s in split_text(TEXT)]
    assert len(starts) == 2
    assert [sentence.start for sentence in doc.sents] == starts
    assert frame_spans(doc._.albert_srl_frames) == expected_spans(trained_tiny_tagger, doc)


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
    for frame in doc._.albert_srl_frames:
        for span in frame.arguments:
            assert not span[0].is_space and not span[-1].is_space
    nominated = next(f for f in doc._.albert_srl_frames if f.predicate.text == "nominated")
    assert [a.text for a in nominated.arguments] == ["President Bush", "two judges", "on Tuesday"]


def test_user_predicates_are_honoured(nlp: Language, spy: SpyTagger) -> None:
    doc = nlp.make_doc(TEXT)
    said = next(t for t in doc if t.text == "said")
    said._.albert_srl_predicate = True
    first_end = next(t.i for t in doc if t.text == ".") + 1
    for token in doc[:first_end]:  # the first sentence: marked, but no predicate in it
        token._.albert_srl_predicate = False
    doc = nlp(doc)
    assert spy.calls[-1][1] == [[], [said.i - first_end]]
    assert [f.predicate for f in doc._.albert_srl_frames] == [said]


def test_unmarked_sentences_get_the_models_predicates(nlp: Language, spy: SpyTagger) -> None:
    doc = nlp.make_doc(TEXT)
    doc[-3]._.albert_srl_predicate = True  # "rule", second sentence only
    doc = nlp(doc)
    assert spy.calls[-1][1] == [None, [doc[-3].i - doc[-3].sent.start]]
    assert "nominated" in [f.predicate.text for f in doc._.albert_srl_frames]
    assert [f.predicate.i for f in doc[-3].sent._.albert_srl_frames] == [doc[-3].i]


def test_nlp_pipe_batches_across_documents(nlp: Language, spy: SpyTagger) -> None:
    texts = [TEXT, "The board approved the merger.", "Thanks!", "", "The judges picked up the case."] * 2
    one_by_one = [nlp(text)._.albert_srl_data for text in texts]
    spy.calls.clear()
    docs = list(nlp.pipe(texts, batch_size=4))
    assert [doc._.albert_srl_data for doc in docs] == one_by_one
    assert len(spy.calls) == 1  # 10 documents of 49 words: one batch of the default 2048 words
    assert sum(len(words) for words in spy.calls[0][0]) == sum(not t.is_space for d in docs for t in d)


def test_nlp_pipe_cuts_its_batches_by_words_not_documents(tiny_model_dir: Path) -> None:
    """spaCy hands ``pipe`` its own ``batch_size`` of documents (1,000 by default): the component cuts them
    into batches of at most ``batch_words`` words, a longer doc alone."""
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    component = nlp.add_pipe("albert_srl", config={"model": str(tiny_model_dir), "batch_words": 8})
    spy = SpyTagger(component.tagger)
    component.tagger = spy
    texts = ["One dog barked.", "Two cats ran.", "A bird sang.", TEXT, "It rained."]
    docs = list(nlp.pipe(texts, batch_size=1000))
    assert [doc.text for doc in docs] == texts
    assert [len(doc) for doc in docs] == [4, 4, 4, 20, 3]
    assert [sum(map(len, words)) for words, _ in spy.calls] == [8, 4, 20, 3]
    with pytest.raises(ValueError, match="batch_words is 0"):
        nlp.add_pipe("albert_srl", name="bad", config={"batch_words": 0})


def test_to_disk_and_spacy_load_round_trip(tiny_model_dir: Path, tmp_path: Path) -> None:
    model = shutil.copytree(tiny_model_dir, tmp_path / "model")
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("albert_srl", config={"model": str(model), "batch_words": 8})
    before = nlp(TEXT)
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(model)  # the saved pipeline holds its own copy of the model
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.pipe_names == ["sentencizer", "albert_srl"]
    assert loaded.get_pipe("albert_srl").options.batch_words == 8
    after = loaded(TEXT)
    assert after._.albert_srl_data == before._.albert_srl_data
    assert frame_spans(after._.albert_srl_frames) == frame_spans(before._.albert_srl_frames)


def test_frames_survive_doc_serialization(nlp: Language) -> None:
    doc = nlp(TEXT)
    restored = Doc(nlp.vocab).from_bytes(doc.to_bytes())
    assert restored._.albert_srl_data == doc._.albert_srl_data
    assert frame_spans(restored._.albert_srl_frames) == frame_spans(doc._.albert_srl_frames)


@pytest.mark.slow
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


# ------------------------------------------------------------------------------------------ spaCy's idioms


def test_nlp_to_bytes_carries_the_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    model = shutil.copytree(tiny_model_dir, tmp_path / "model")
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("albert_srl", config={"model": str(model)})
    before = nlp(TEXT)._.albert_srl_data
    data = nlp.to_bytes()
    shutil.rmtree(model)  # the bytes hold the model itself, not its path
    restored = spacy.blank("en").from_config(nlp.config).from_bytes(data)
    assert restored(TEXT)._.albert_srl_data == before
    again = spacy.blank("en").from_config(nlp.config).from_bytes(restored.to_bytes())
    assert again(TEXT)._.albert_srl_data == before


def test_extensions_are_installed_once_without_force_under_the_factorys_name(nlp: Language) -> None:
    frames = Doc.get_extension("albert_srl_frames")
    nlp.add_pipe("albert_srl", name="second")  # a second component re-uses them
    assert Doc.get_extension("albert_srl_frames") is frames
    assert not Doc.has_extension("frames") and not Span.has_extension("frames")
    saved = Doc.get_extension("albert_srl_data")
    Doc.remove_extension("albert_srl_data")
    Doc.set_extension("albert_srl_data", getter=lambda doc: "someone else's")
    try:
        with pytest.raises(ValueError, match=r"Doc\._\.albert_srl_data is set by another package"):
            nlp.add_pipe("albert_srl", name="third")
        assert nlp.make_doc("x")._.albert_srl_data == "someone else's"  # theirs, not overwritten
    finally:
        Doc.remove_extension("albert_srl_data")
        Doc.set_extension("albert_srl_data", default=saved[0])


class FailingTagger(SpyTagger):
    """Fails on any batch with the word "Boom" in it."""

    def tag(self, words: list[list[str]], predicates: list[list[int] | None], **options: Any) -> Any:
        if any("Boom" in sentence for sentence in words):
            raise RuntimeError("cannot tag Boom")
        return super().tag(words, predicates, **options)


def test_a_failing_doc_goes_to_the_error_handler_alone(nlp: Language, trained_tiny_tagger: SRLTagger) -> None:
    nlp.get_pipe("albert_srl").tagger = FailingTagger(trained_tiny_tagger)
    texts = ["The board approved the merger.", "Boom went the bomb.", "Two cats ran home."]
    with pytest.raises(RuntimeError, match="cannot tag Boom"):  # spaCy's default handler raises
        list(nlp.pipe(texts))
    failed: list[tuple[str, list[str], str]] = []
    nlp.set_error_handler(lambda name, proc, docs, e: failed.append((name, [d.text for d in docs], str(e))))
    docs = list(nlp.pipe(texts))
    assert [doc.text for doc in docs] == [texts[0], texts[2]]  # the failed doc is not yielded, empty
    assert all(doc._.albert_srl_data is not None for doc in docs)  # tagged
    assert failed == [("albert_srl", [texts[1]], "cannot tag Boom")]
    doc = nlp(texts[1])  # one doc: the handler, and the doc back untagged
    assert doc._.albert_srl_data is None and len(failed) == 2


def test_the_config_is_the_schemas(tiny_model_dir: Path) -> None:
    component = spacy.blank("en").add_pipe("albert_srl", config={"model": str(tiny_model_dir)})
    assert component.options == SpacyOptions(model=str(tiny_model_dir))
    assert component.options.device == setting_of(RunConfig, "device").default == "auto"
    with pytest.raises(ValueError, match="device must be one of cpu, cuda, auto, not 'tpu'"):
        spacy.blank("en").add_pipe("albert_srl", config={"device": "tpu"})


def test_marks_it_cannot_use_are_warned_about_and_not_replaced(nlp: Language, spy: SpyTagger) -> None:
    doc = nlp.make_doc("The board  approved it. It rained.")
    space = next(t for t in doc if t.is_space)
    space._.albert_srl_predicate = True
    with pytest.warns(UnusableMarkWarning, match=rf"token {space.i} \(' '\) is marked as a predicate"):
        doc = nlp(doc)
    assert spy.calls[-1][1] == [[], None]  # the marked sentence: no predicate of the model's choosing
    doc = nlp.make_doc("The board approved it.")
    doc[2]._.albert_srl_predicate = "yes"
    with pytest.warns(UnusableMarkWarning, match="marks are True, False or None"):
        nlp(doc)
    assert spy.calls[-1][1] == [[]]


def test_stored_frames_it_cannot_read_are_an_error_of_that_doc(nlp: Language) -> None:
    doc = nlp(TEXT)
    data = doc._.albert_srl_data
    doc._.albert_srl_data = [data[0], {**data[0], "arguments": [{"role": "ARG0", "start": 5, "end": 99}]}]
    with pytest.raises(
        ValueError, match=r"albert_srl_data\[1\] is not a frame of the doc's 20 tokens: .*\[5, 99\)"
    ):
        _ = doc._.albert_srl_frames
    doc._.albert_srl_data = [{"predicate": {"index": "2"}, "arguments": []}]
    with pytest.raises(
        ValueError, match=r"albert_srl_data\[0\] .*predicate.index: input should be a valid integer"
    ):
        _ = doc[:3]._.albert_srl_frames

    @Language.component("damage_the_second_doc")
    def damage(doc: Doc) -> Doc:
        if doc.text.startswith("Two"):
            doc._.albert_srl_data = [{"predicate": {"index": 99}, "arguments": []}]
        return doc

    @Language.component("read_frames")
    def read_frames(doc: Doc) -> Doc:
        doc.user_data["roles"] = [f.tuples() for f in doc._.albert_srl_frames]
        return doc

    nlp.add_pipe("damage_the_second_doc")
    nlp.add_pipe("read_frames")
    failed: list[tuple[str, list[str]]] = []
    nlp.set_error_handler(lambda name, proc, docs, e: failed.append((name, [d.text for d in docs])))
    texts = ["One dog barked.", "Two cats ran.", "A bird sang."]
    assert [doc.text for doc in nlp.pipe(texts)] == [texts[0], texts[2]]
    assert failed == [("read_frames", [texts[1]])]


WORKERS = """
import sys, spacy
nlp = spacy.blank("en")
nlp.add_pipe("sentencizer")
nlp.add_pipe("albert_srl", config={"model": sys.argv[1]})
texts = ["The board approved the merger.", "Two cats ran home.", "She said it.", "He left."] * 2
parent = [nlp(text)._.albert_srl_data for text in texts]  # the parent tags first: torch's threads start
workers = [doc._.albert_srl_data for doc in nlp.pipe(texts, n_process=2, batch_size=2)]
assert workers == parent, (workers, parent)
print("workers", len(workers))
"""


def test_n_process_2_works_after_the_parent_has_tagged(tiny_model_dir: Path) -> None:
    """Forked after the parent ran torch's thread pool, the workers hung for ever (issue 33); they run on
    one thread now. A deadline makes a hang a failure."""
    done = subprocess.run(
        [sys.executable, "-c", WORKERS, str(tiny_model_dir)], capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["workers", "8"]
