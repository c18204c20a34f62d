"""The ``albert_srl`` spaCy pipeline component: ``nlp.add_pipe("albert_srl")`` adds semantic roles to any
English pipeline, ``spacy.blank("en")`` included.

The factory is registered through the ``spacy_factories`` entry point, so installing the package is
enough. The component tags the pipeline's own tokens (whitespace tokens left out), sentence by sentence:
the pipeline's sentence boundaries when it has them (a ``sentencizer``, ``senter`` or ``parser``, or
``doc.sents`` set by hand), else albert-srl's own splitter, whose boundaries it then sets on the doc.
Where a sentence has tokens with ``token._.srl_predicate`` set, the tokens set to ``True`` are its
predicates; elsewhere the model finds them.

Results: ``doc._.frames`` and ``span._.frames`` (the frames whose predicate lies in the span) are lists
of ``DocFrame`` (``predicate``: ``Token``, ``roleset``: ``"approve.01"``, ``arguments``: ``Span``\\ s whose
``label_`` is the role). They are built on access from ``doc._.srl_data``, plain lists that ``Doc.to_bytes``
and ``DocBin`` store. ``nlp.to_disk`` writes the model into the pipeline's directory, so ``spacy.load``
needs nothing else.

No ``from __future__ import annotations`` here: spaCy reads the factory's annotations to check its config.
"""

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from spacy.language import Language
from spacy.pipeline import Pipe
from spacy.tokens import Doc, Span, Token

from albert_srl.config import TagOptions
from albert_srl.data import Argument, Frame, Predicate, Sentence
from albert_srl.settings import check_instance

log = logging.getLogger(__name__)

FACTORY = "albert_srl"
MODEL_DIR = "model"  # the component's sub-directory of a saved pipeline that holds the model
# One frame as plain data (msgpack-serializable): the predicate's token index, its roleset, and the
# arguments as [role, start token, end token) lists, the predicate's own V span included.
FrameData = dict[str, Any]


@dataclass(frozen=True)
class DocFrame:
    """One frame of a spaCy ``Doc``: the predicate ``Token``, its PropBank roleset (``"approve.01"``,
    ``None`` when the model has no sense for it) and the argument ``Span``\\ s, each labelled with its
    role (``span.label_ == "ARG0"``), in text order. The predicate's own ``V`` span is left out
    (``predicate`` is that word); ``C-V`` (a particle of a phrasal verb) is kept."""

    predicate: Token
    roleset: str | None
    arguments: list[Span]

    def tuples(self) -> list[tuple[str, str, str]]:
        """``[(predicate_text, role, argument_text), ...]``, as ``Frame.tuples()``."""
        return [(self.predicate.text, span.label_, span.text) for span in self.arguments]


def doc_frames(doc: Doc) -> list[DocFrame]:
    """``doc._.frames``: the frames of ``doc._.srl_data`` as tokens and spans."""
    return [frame_of(doc, data) for data in doc._.srl_data or ()]


def span_frames(span: Span) -> list[DocFrame]:
    """``span._.frames``: the frames whose predicate lies in ``span`` (a sentence, usually)."""
    return [
        frame_of(span.doc, data)
        for data in span.doc._.srl_data or ()
        if span.start <= data["predicate"] < span.end
    ]


def frame_of(doc: Doc, data: FrameData) -> DocFrame:
    arguments = [Span(doc, start, end, label=role) for role, start, end in data["arguments"] if role != "V"]
    return DocFrame(doc[data["predicate"]], data["roleset"], arguments)


Doc.set_extension("srl_data", default=None, force=True)
Doc.set_extension("frames", getter=doc_frames, force=True)
Span.set_extension("frames", getter=span_frames, force=True)
Token.set_extension("srl_predicate", default=None, force=True)


# ------------------------------------------------------------------------------------------ sentences


@dataclass
class DocSentence:
    """One sentence of a doc as the tagger reads it: its words (the non-space tokens), the token index of
    each word, and the predicates the user marked (word indices; ``None``: the model finds them)."""

    doc_index: int
    tokens: list[int]
    words: list[str]
    predicates: list[int] | None


def sentence_bounds(doc: Doc) -> list[tuple[int, int]]:
    """The ``[start, end)`` token ranges of the doc's sentences: the pipeline's, or, where it has none,
    albert-srl's splitter's, which are then set on the doc (``token.is_sent_start``)."""
    if len(doc) == 0:
        return []
    if not doc.has_annotation("SENT_START"):
        set_sentence_starts(doc)
    return [(sentence.start, sentence.end) for sentence in doc.sents]


def set_sentence_starts(doc: Doc) -> None:
    """Mark the first token at or after each sentence start that albert-srl's splitter finds."""
    from albert_srl.inference.text import split_text

    starts = [sentence.offsets[0][0] for sentence in split_text(doc.text) if sentence.words]
    pending = 0
    for token in doc:
        is_start = token.i == 0
        if not token.is_space and pending < len(starts) and token.idx >= starts[pending]:
            is_start = True
            while pending < len(starts) and starts[pending] <= token.idx:
                pending += 1
        token.is_sent_start = is_start


def doc_sentences_to_tag(doc: Doc, doc_index: int) -> list[DocSentence]:
    """The sentences of ``doc`` that have words, with the user's predicate marks."""
    sentences = []
    for start, end in sentence_bounds(doc):
        tokens = [i for i in range(start, end) if not doc[i].is_space]
        if not tokens:
            continue
        marks = [doc[i]._.srl_predicate for i in tokens]
        given = None if all(mark is None for mark in marks) else [w for w, m in enumerate(marks) if m]
        sentences.append(DocSentence(doc_index, tokens, [doc[i].text for i in tokens], given))
    return sentences


def frame_data(tagged: Sentence, sentence: DocSentence) -> list[FrameData]:
    """The tagger's frames of one sentence in token indices of its doc."""
    tokens = sentence.tokens
    return [
        {
            "predicate": tokens[frame.predicate.index],
            "roleset": frame.predicate.sense,
            "arguments": [[a.role, tokens[a.start], tokens[a.end - 1] + 1] for a in frame.arguments],
        }
        for frame in tagged.frames
    ]


# ------------------------------------------------------------------------------------------ the component


class AlbertSRL(Pipe):
    """Adds ``doc._.frames`` (see the module's docstring). ``model``: a model directory or hub id, ``None``
    for the model shipped in the package; it is loaded on the first doc (or by ``tagger``).
    ``batch_size``: documents tagged together by ``pipe`` when no ``batch_size`` is given (``nlp.pipe``
    passes its own); ``max_tokens``: subwords in one forward pass (``None``: the device's default);
    ``device``: ``cpu``, ``cuda`` or ``auto``."""

    def __init__(
        self,
        nlp: Language,
        name: str = FACTORY,
        model: str | None = None,
        batch_size: int = TagOptions.batch_size,
        max_tokens: int | None = TagOptions.max_tokens,
        device: str = "cpu",
    ) -> None:
        check_instance(TagOptions(batch_size=batch_size, max_tokens=max_tokens), name)
        self.vocab = nlp.vocab
        self.name = name
        self.model_path = model
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.device = device
        self._tagger: Any = None

    @property
    def tagger(self) -> Any:
        """The ``SRLTagger``, loaded on first use."""
        if self._tagger is None:
            from albert_srl.inference.tagger import SRLTagger

            log.info("%s: loading %s", self.name, self.model_path or "the shipped model")
            self._tagger = SRLTagger.from_pretrained(self.model_path, device=self.device)
        return self._tagger

    @tagger.setter
    def tagger(self, tagger: Any) -> None:
        self._tagger = tagger

    def __call__(self, doc: Doc) -> Doc:
        self.tag_docs([doc])
        return doc

    def pipe(self, stream: Iterable[Doc], *, batch_size: int | None = None) -> Iterator[Doc]:
        """Tag ``batch_size`` documents at a time: the sentences of all of them go to the tagger together."""
        error_handler = self.get_error_handler()
        docs = iter(stream)
        while batch := list(islice(docs, batch_size or self.batch_size)):
            try:
                self.tag_docs(batch)
            except Exception as error:
                error_handler(self.name, self, batch, error)
            yield from batch

    def tag_docs(self, docs: list[Doc]) -> None:
        """Tag the sentences of ``docs`` in one call of the tagger and store the frames on each doc."""
        sentences = [s for i, doc in enumerate(docs) for s in doc_sentences_to_tag(doc, i)]
        results: list[list[FrameData]] = [[] for _ in docs]
        if sentences:
            tagged = self.tagger.tag(
                [s.words for s in sentences], [s.predicates for s in sentences], max_tokens=self.max_tokens
            )
            for sentence, tagged_sentence in zip(sentences, tagged, strict=True):
                results[sentence.doc_index].extend(frame_data(tagged_sentence, sentence))
        for doc, frames in zip(docs, results, strict=True):
            doc._.srl_data = frames

    # -------------------------------------------------------------------------------------- files

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        """Write the model into ``path/model`` (a model directory like any other)."""
        self.tagger.save_pretrained(Path(path) / MODEL_DIR)

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> "AlbertSRL":
        """Load the model that ``to_disk`` wrote into ``path``."""
        from albert_srl.inference.tagger import SRLTagger

        self._tagger = SRLTagger.from_pretrained(Path(path) / MODEL_DIR, device=self.device)
        return self


@Language.factory(
    FACTORY,
    default_config={
        "model": None,
        "batch_size": TagOptions.batch_size,
        "max_tokens": TagOptions.max_tokens,
        "device": "cpu",
    },
    assigns=["doc._.frames", "doc._.srl_data", "span._.frames", "token.is_sent_start"],
)
def make_albert_srl(
    nlp: Language, name: str, model: str | None, batch_size: int, max_tokens: int | None, device: str
) -> AlbertSRL:
    """The ``albert_srl`` factory (``nlp.add_pipe("albert_srl", config={...})``)."""
    return AlbertSRL(nlp, name, model, batch_size, max_tokens, device)


# ------------------------------------------------------------------------------------------ rendering


def doc_sentences(doc: Doc) -> list[Sentence]:
    """The doc's sentences with their frames as ``Sentence`` objects (words = non-space tokens, character
    offsets into ``doc.text``): what ``albert_srl.render.render_html(doc)`` draws."""
    spans = list(doc.sents) if doc.has_annotation("SENT_START") else [doc[:]]
    frames = doc._.srl_data or []
    sentences = []
    for span in spans:
        tokens = [token for token in span if not token.is_space]
        if not tokens:
            continue
        word_of = {token.i: w for w, token in enumerate(tokens)}
        sentence = Sentence(
            words=[token.text for token in tokens],
            text=doc.text[tokens[0].idx : tokens[-1].idx + len(tokens[-1])],
            offsets=[(token.idx, token.idx + len(token)) for token in tokens],
            char_start=tokens[0].idx,
        )
        sentence.frames = [
            data_frame(doc, data, word_of) for data in frames if span.start <= data["predicate"] < span.end
        ]
        sentences.append(sentence)
    return sentences


def data_frame(doc: Doc, data: FrameData, word_of: dict[int, int]) -> Frame:
    """One stored frame as a ``Frame`` over the sentence's words (``word_of``: token index -> word)."""
    index = word_of[data["predicate"]]
    predicate = Predicate(index, doc[data["predicate"]].text, sense=data["roleset"])
    arguments = [
        Argument(role, word_of[start], word_of[end - 1] + 1, doc[start:end].text)
        for role, start, end in data["arguments"]
    ]
    return Frame(predicate, arguments)
