"""The ``albert_srl`` spaCy pipeline component: ``nlp.add_pipe("albert_srl")`` adds semantic roles to any
English pipeline, ``spacy.blank("en")`` included.

The factory is registered through the ``spacy_factories`` entry point, so installing the package is
enough; its config is ``SpacyOptions`` (``albert_srl.config``, docs/configuration.md). The component tags
the pipeline's own tokens (whitespace tokens left out), sentence by sentence: the pipeline's sentence
boundaries when it has them (a ``sentencizer``, ``senter`` or ``parser``, or ``doc.sents`` set by hand),
else albert-srl's own splitter, whose boundaries it then sets on the doc. Where a sentence has tokens with
``token._.albert_srl_predicate`` set, the tokens set to ``True`` are its predicates; elsewhere the model
finds them.

Results: ``doc._.albert_srl_frames`` and ``span._.albert_srl_frames`` (the frames whose predicate lies in
the span) are lists of ``DocFrame`` (``predicate``: ``Token``, ``roleset``: ``"approve.01"``,
``arguments``: ``Span``\\ s whose ``label_`` is the role). They are built on access from
``doc._.albert_srl_data``, the frames as ``FrameRecord``\\ s of the output schema (``albert_srl.schema``) in
token indices, which ``Doc.to_bytes`` and ``DocBin`` store. Every extension is named after the factory,
which spaCy lets no other package register, and is set only where missing.

spaCy's idioms: ``nlp.pipe`` is cut into batches of ``batch_words`` words (spaCy passes its own
``batch_size`` of documents); a doc that fails goes to the pipeline's error handler
(``nlp.set_error_handler``) alone, and is not yielded; ``nlp.to_disk`` / ``to_bytes`` carry the model, so
``spacy.load`` and ``from_bytes`` need nothing else; ``nlp.pipe(texts, n_process=N)`` works after the
parent process has tagged (see ``one_thread_in_forked_workers``).

No ``from __future__ import annotations`` here: spaCy reads the factory's annotations to check its config.
"""

import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import srsly
from spacy.language import Language
from spacy.pipeline import Pipe
from spacy.tokens import Doc, Span, Token

from albert_srl.config import SpacyOptions
from albert_srl.data import Argument, Frame, Predicate, Sentence
from albert_srl.schema import ArgumentRecord, FrameRecord, PredicateRecord, rounded, some
from albert_srl.settings import build, settings_of

log = logging.getLogger(__name__)

FACTORY = "albert_srl"
MODEL_DIR = "model"  # the component's sub-directory of a saved pipeline (and key of its bytes)
DATA = f"{FACTORY}_data"  # doc._.albert_srl_data: the frames as FrameRecord dicts, in token indices
FRAMES = f"{FACTORY}_frames"  # doc._.albert_srl_frames, span._.albert_srl_frames: DocFrame lists
PREDICATE = f"{FACTORY}_predicate"  # token._.albert_srl_predicate: the user's predicate marks


class UnusableMarkWarning(UserWarning):
    """A predicate mark the component cannot use: on a whitespace token, or neither True, False nor None."""


@dataclass(frozen=True)
class DocFrame:
    """One frame of a spaCy ``Doc``: the predicate ``Token``, its PropBank roleset (``"approve.01"``,
    ``None`` when the model has no sense for it), the argument ``Span``\\ s, each labelled with its role
    (``span.label_ == "ARG0"``), in text order, and the predicate's lemma where known. The predicate's own
    ``V`` span is left out (``predicate`` is that word); ``C-V`` (a particle of a phrasal verb) is kept.
    ``probability``: the model's probability of these arguments given the predicate;
    ``predicate_probability``: how sure it was that the word is a predicate, where it found it (as
    ``Frame.probability`` and ``Predicate.probability``)."""

    predicate: Token
    roleset: str | None
    arguments: list[Span]
    lemma: str | None = None
    probability: float | None = None
    predicate_probability: float | None = None

    def tuples(self) -> list[tuple[str, str, str]]:
        """``[(predicate_text, role, argument_text), ...]``, as ``Frame.tuples()``."""
        return [(self.predicate.text, span.label_, span.text) for span in self.arguments]


# ------------------------------------------------------------------------------------------ stored frames


def stored_frames(doc: Doc) -> list[Frame]:
    """The frames of ``doc._.albert_srl_data`` over the doc's tokens. Data that is not a ``FrameRecord``
    over them raises ``ValueError`` naming the entry: an error of this doc (under ``nlp.pipe``, the error
    handler's)."""
    tokens = Sentence(words=[token.text for token in doc])
    frames = []
    for i, data in enumerate(doc._.get(DATA) or ()):
        try:
            frames.append(FrameRecord.read(data).frame(tokens))
        except ValueError as error:
            raise ValueError(
                f"doc._.{DATA}[{i}] is not a frame of the doc's {len(doc)} tokens: {error}"
            ) from None
    return frames


def doc_frames(doc: Doc) -> list[DocFrame]:
    """``doc._.albert_srl_frames``: the stored frames as tokens and spans."""
    return [doc_frame(doc, frame) for frame in stored_frames(doc)]


def span_frames(span: Span) -> list[DocFrame]:
    """``span._.albert_srl_frames``: the frames whose predicate lies in ``span`` (a sentence, usually)."""
    return [
        doc_frame(span.doc, frame)
        for frame in stored_frames(span.doc)
        if span.start <= frame.predicate.index < span.end
    ]


def doc_frame(doc: Doc, frame: Frame) -> DocFrame:
    arguments = [Span(doc, a.start, a.end, label=a.role) for a in frame.arguments if a.role != "V"]
    predicate = frame.predicate
    return DocFrame(
        doc[predicate.index],
        predicate.sense,
        arguments,
        predicate.lemma,
        frame.probability,
        predicate.probability,
    )


def frame_data(tagged: Sentence, tokens: list[int]) -> list[dict[str, Any]]:
    """The tagger's frames of one sentence as ``FrameRecord`` data in token indices of its doc (``tokens``:
    the token of each word); texts are left out, the doc holds them."""
    return [
        FrameRecord.model_construct(
            predicate=PredicateRecord.model_construct(
                index=tokens[frame.predicate.index],
                **some(lemma=frame.predicate.lemma),
                sense=frame.predicate.sense,
                **some(probability=rounded(frame.predicate.probability)),
            ),
            arguments=[
                ArgumentRecord.model_construct(role=a.role, start=tokens[a.start], end=tokens[a.end - 1] + 1)
                for a in frame.arguments
            ],
            **some(probability=rounded(frame.probability)),
        ).dump()
        for frame in tagged.frames
    ]


EXTENSIONS: list[tuple[type[Doc] | type[Span] | type[Token], str, dict[str, Any]]] = [
    (Doc, DATA, {"default": None}),
    (Doc, FRAMES, {"getter": doc_frames}),
    (Span, FRAMES, {"getter": span_frames}),
    (Token, PREDICATE, {"default": None}),
]


def install_extensions() -> None:
    """Set the component's extensions where they are missing, never with ``force``: one of the same name
    set by someone else is an error, not overwritten."""
    for cls, name, kwargs in EXTENSIONS:
        if not cls.has_extension(name):
            cls.set_extension(name, **kwargs)
            continue
        default, method, getter, setter = cls.get_extension(name)
        ours = kwargs.get("getter")
        if method or setter or default is not None or qualified(getter) != qualified(ours):
            raise ValueError(f"{cls.__name__}._.{name} is set by another package: {FACTORY} cannot use it")


def qualified(function: Callable[..., Any] | None) -> str | None:
    return None if function is None else f"{function.__module__}.{function.__qualname__}"


install_extensions()  # so that marks can be set, and DocBins read, before any component exists


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
    from albert_srl.tagging.text import split_text

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
        if tokens:
            words = [doc[i].text for i in tokens]
            sentences.append(
                DocSentence(doc_index, tokens, words, marked_predicates(doc, start, end, tokens))
            )
    return sentences


def marked_predicates(doc: Doc, start: int, end: int, tokens: list[int]) -> list[int] | None:
    """The word indices of the tokens marked ``True`` in ``[start, end)``; ``None`` where no token has a
    mark. A mark that cannot be used (on a whitespace token, or neither ``True``, ``False`` nor ``None``)
    is left out with an ``UnusableMarkWarning``; the sentence still counts as marked, so the model does not
    pick predicates the user did not ask for."""
    marks = {i: doc[i]._.get(PREDICATE) for i in range(start, end)}
    marks = {i: mark for i, mark in marks.items() if mark is not None}
    if not marks:
        return None
    for i, mark in marks.items():
        if not isinstance(mark, bool):
            message = f"token {i} ({doc[i].text!r}) has {PREDICATE} = {mark!r}: marks are True, False or None"
            warnings.warn(message, UnusableMarkWarning, stacklevel=2)
        elif mark and doc[i].is_space:
            message = f"token {i} ({doc[i].text!r}) is marked as a predicate but is whitespace, not a word"
            warnings.warn(message, UnusableMarkWarning, stacklevel=2)
    return [w for w, i in enumerate(tokens) if marks.get(i) is True]


# ------------------------------------------------------------------------------------------ workers


def reset_torch_threads() -> None:
    """In a process just forked: torch on one thread, if the parent imported it (see below)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


FORK_HOOK: list[bool] = []  # registered once per process


def one_thread_in_forked_workers() -> None:
    """``nlp.pipe(texts, n_process=N)`` forks its workers (``multiprocessing``'s default start method on
    Linux). A child forked after the parent ran torch's OpenMP thread pool waits for ever on pool threads
    that were not forked with it; on one thread torch never enters that pool. So a forked worker runs torch
    on one thread, as torch's own ``DataLoader`` workers do: the N workers share the cores between them."""
    if not FORK_HOOK and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=reset_torch_threads)
        FORK_HOOK.append(True)


# ------------------------------------------------------------------------------------------ the component


def batches_of_words(docs: Iterable[Doc], budget: int) -> Iterator[list[Doc]]:
    """Consecutive docs in batches of at most ``budget`` words (non-space tokens); a longer doc alone."""
    batch: list[Doc] = []
    words = 0
    for doc in docs:
        size = sum(not token.is_space for token in doc)
        if batch and words + size > budget:
            yield batch
            batch, words = [], 0
        batch.append(doc)
        words += size
    if batch:
        yield batch


class AlbertSRL(Pipe):
    """Adds ``doc._.albert_srl_frames`` (see the module's docstring). Its settings are ``SpacyOptions``:
    ``model`` (a model directory or hub id, ``None`` for the model shipped in the package; loaded on the
    first doc, or by ``tagger``), ``batch_words``, ``max_tokens`` and ``device``."""

    def __init__(self, nlp: Language, name: str = FACTORY, **config: Any) -> None:
        self.options: SpacyOptions = build(SpacyOptions, config, f"spaCy component {name!r}")
        self.vocab = nlp.vocab
        self.name = name
        self._tagger: Any = None
        install_extensions()
        one_thread_in_forked_workers()

    @property
    def tagger(self) -> Any:
        """The ``SRLTagger``, loaded on first use."""
        if self._tagger is None:
            from albert_srl.tagging.tagger import SRLTagger

            log.info("%s: loading %s", self.name, self.options.model or "the shipped model")
            self._tagger = SRLTagger.from_pretrained(self.options.model, device=self.options.device)
        return self._tagger

    @tagger.setter
    def tagger(self, tagger: Any) -> None:
        self._tagger = tagger

    def __call__(self, doc: Doc) -> Doc:
        """Tag one doc; where it fails, the error handler decides (the default raises), and the doc is
        returned untagged (``doc._.albert_srl_data`` is ``None``)."""
        tagger = self.tagger  # a model that cannot load is the pipeline's error, not the doc's
        try:
            self.tag_docs([doc], tagger)
        except Exception as error:
            self.get_error_handler()(self.name, self, [doc], error)
        return doc

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        """Tag the docs ``batch_words`` words at a time (spaCy's ``batch_size`` of documents says nothing of
        their length) and yield them in order. A failing batch is tagged again doc by doc, so that only the
        docs that fail go to the error handler; they are not yielded."""
        error_handler = self.get_error_handler()
        for docs in batches_of_words(stream, self.options.batch_words):
            yield from self.tag_batch(docs, error_handler)

    def tag_batch(self, docs: list[Doc], error_handler: Callable[..., Any]) -> Iterator[Doc]:
        tagger = self.tagger  # loaded outside the try: a model that cannot load is no doc's error
        try:
            self.tag_docs(docs, tagger)
        except Exception as error:
            if len(docs) == 1:
                error_handler(self.name, self, docs, error)
                return
            for doc in docs:
                yield from self.tag_batch([doc], error_handler)
            return
        yield from docs

    def tag_docs(self, docs: list[Doc], tagger: Any) -> None:
        """Tag the sentences of ``docs`` in one call of ``tagger`` and store the frames on each doc (until
        then its ``albert_srl_data`` is ``None``: a doc that fails holds no frames from an earlier run)."""
        for doc in docs:
            doc._.set(DATA, None)
        sentences = [s for i, doc in enumerate(docs) for s in doc_sentences_to_tag(doc, i)]
        results: list[list[dict[str, Any]]] = [[] for _ in docs]
        if sentences:
            tagged = tagger.tag(
                [s.words for s in sentences],
                [s.predicates for s in sentences],
                max_tokens=self.options.max_tokens,
            )
            for sentence, tagged_sentence in zip(sentences, tagged, strict=True):
                results[sentence.doc_index].extend(frame_data(tagged_sentence, sentence.tokens))
        for doc, frames in zip(docs, results, strict=True):
            doc._.set(DATA, frames)

    # -------------------------------------------------------------------------------------- files

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        """Write the model into ``path/model`` (a model directory like any other)."""
        if MODEL_DIR not in exclude:
            self.tagger.save_pretrained(Path(path) / MODEL_DIR)

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> "AlbertSRL":
        """Load the model that ``to_disk`` wrote into ``path``."""
        if MODEL_DIR not in exclude:
            self._tagger = self.load(Path(path) / MODEL_DIR)
        return self

    def to_bytes(self, *, exclude: Iterable[str] = ()) -> bytes:
        """The model directory's files, packed with msgpack (``nlp.to_bytes`` keeps the model)."""
        files: dict[str, bytes] = {}
        if MODEL_DIR not in exclude:
            with tempfile.TemporaryDirectory() as directory:
                saved = self.tagger.save_pretrained(Path(directory) / MODEL_DIR)
                files = {path.name: path.read_bytes() for path in sorted(saved.iterdir())}
        return srsly.msgpack_dumps({MODEL_DIR: files})

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = ()) -> "AlbertSRL":
        """Load the model that ``to_bytes`` packed."""
        files = srsly.msgpack_loads(bytes_data).get(MODEL_DIR) or {}
        if MODEL_DIR in exclude or not files:
            return self
        with tempfile.TemporaryDirectory() as directory:
            model = Path(directory) / MODEL_DIR
            model.mkdir()
            for name, content in files.items():
                if Path(name).name != name or name in (".", ".."):
                    raise ValueError(f"{self.name}: {name!r} is not a file name of a model directory")
                (model / name).write_bytes(content)
            self._tagger = self.load(model)
        return self

    def load(self, directory: Path) -> Any:
        from albert_srl.tagging.tagger import SRLTagger

        return SRLTagger.from_pretrained(directory, device=self.options.device)


DEFAULT_CONFIG = {found.key: found.default for found in settings_of(SpacyOptions)}


@Language.factory(
    FACTORY,
    default_config=DEFAULT_CONFIG,
    assigns=[f"doc._.{DATA}", f"doc._.{FRAMES}", f"span._.{FRAMES}", "token.is_sent_start"],
)
def make_albert_srl(
    nlp: Language, name: str, model: str | None, batch_words: int, max_tokens: int | None, device: str
) -> AlbertSRL:
    """The ``albert_srl`` factory (``nlp.add_pipe("albert_srl", config={...})``)."""
    return AlbertSRL(nlp, name, model=model, batch_words=batch_words, max_tokens=max_tokens, device=device)


# ------------------------------------------------------------------------------ Docs as Sentences


def doc_sentences(doc: Doc) -> list[Sentence]:
    """The doc's sentences with their frames as ``Sentence`` objects (words = non-space tokens, character
    offsets into ``doc.text``): the component's Docs as the rest of the package takes them, e.g. to draw
    them, ``albert_srl.render.render_html(doc_sentences(doc))``."""
    spans = list(doc.sents) if doc.has_annotation("SENT_START") else [doc[:]]
    frames = stored_frames(doc)
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
            sentence_frame(doc, frame, word_of)
            for frame in frames
            if span.start <= frame.predicate.index < span.end
        ]
        sentences.append(sentence)
    return sentences


def sentence_frame(doc: Doc, frame: Frame, word_of: dict[int, int]) -> Frame:
    """A stored frame (token indices) as a ``Frame`` over its sentence's words (``word_of``: token ->
    word); a frame that starts or ends on a whitespace token, or crosses sentences, raises ``ValueError``."""
    ends = [frame.predicate.index] + [i for a in frame.arguments for i in (a.start, a.end - 1)]
    if any(i not in word_of for i in ends):
        raise ValueError(f"doc._.{DATA}: the frame of token {frame.predicate.index} has spans on whitespace")
    predicate = Predicate(
        word_of[frame.predicate.index], doc[frame.predicate.index].text, sense=frame.predicate.sense
    )
    arguments = [
        Argument(a.role, word_of[a.start], word_of[a.end - 1] + 1, doc[a.start : a.end].text)
        for a in frame.arguments
    ]
    return Frame(predicate, arguments)
