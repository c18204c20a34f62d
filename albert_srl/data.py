"""Plain data classes that flow between the readers, the model, the writers and the scorer.

Word offsets are half-open word indices ``[start, end)``. Character offsets, where the original text is
known, are half-open indices into the text the caller passed in (the string given to ``SRLTagger.tag``,
the request's ``text``, the paragraph or line of a file), across all of its sentences; a sentence's own
``text`` starts at ``Sentence.char_start`` of that input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from albert_srl.bio import bio_from_spans
from albert_srl.render import frame_html, render_html, sentence_html

BAD_CELL = re.compile(r"[\t\n\r\x00-\x08\x0b\x0c\x0e-\x1f]")  # would break a column file's row
ROLE = re.compile(r"[^\s()*]+")  # a label: no spaces, brackets or stars (which CoNLL columns use)


@dataclass
class Argument:
    """One labelled span of a proposition: ``role`` over words ``[start, end)``.

    The predicate's own ``V`` span is an argument like any other (as in the CoNLL columns), so a frame
    round-trips exactly; ``Frame.tuples()`` leaves it out. Dependency-based corpora (CoNLL-U PropBank)
    label only the head word: there ``end == start + 1``.
    """

    role: str
    start: int
    end: int
    text: str = ""
    char_start: int | None = None
    char_end: int | None = None


@dataclass
class Predicate:
    """The predicate word of a frame, its lemma and its PropBank roleset (``nominate.01``); ``probability``:
    how sure the model was that the word is a predicate, where it found the predicate itself."""

    index: int
    text: str
    lemma: str | None = None
    sense: str | None = None
    probability: float | None = None


@dataclass
class Frame:
    """One proposition: a predicate and its labelled arguments (including the ``V`` span).

    The arguments are the frame's one source of truth; its BIO tags are derived from them (``tags``).
    ``probability``: the model's probability of these arguments given the predicate (the CRF's path
    probability), where a model tagged the frame; ``confidence`` multiplies in the predicate's.
    """

    predicate: Predicate
    arguments: list[Argument] = field(default_factory=list)
    probability: float | None = None

    @property
    def confidence(self) -> float | None:
        """The frame's probability times its predicate's where the model found it: how sure the model
        is of the whole frame (``None`` where no model tagged it)."""
        if self.probability is None:
            return None
        found = self.predicate.probability
        return self.probability * (found if found is not None else 1.0)

    def tags(self, length: int) -> list[str]:
        """The arguments as BIO tags over a sentence of ``length`` words (``B-ARG0``, ``I-ARG0``, ``O``)."""
        return bio_from_spans([(a.role, a.start, a.end) for a in self.arguments], length)

    def tuples(self) -> list[tuple[str, str, str]]:
        """``[(predicate_text, role, argument_text), ...]`` for every argument but ``V``."""
        return [(self.predicate.text, a.role, a.text) for a in self.arguments if a.role != "V"]


@dataclass
class Sentence:
    """A tokenized sentence and its frames, in predicate order.

    ``text``, ``char_start`` and ``offsets`` are set when the sentence came from raw text: ``text`` is the
    sentence's own text, which starts at character ``char_start`` of the input text, and ``offsets`` holds
    one ``(char_start, char_end)`` per word in the input's coordinates, so that
    ``input[start:end] == word`` and ``text == input[char_start : char_start + len(text)]``.
    ``text_index`` says which text of a batch (``tag(["...", "..."])``) the sentence came from. ``pos``
    and ``doc_id`` / ``part`` are set when the corpus has them.
    """

    words: list[str]
    frames: list[Frame] = field(default_factory=list)
    text: str | None = None
    offsets: list[tuple[int, int]] | None = None
    pos: list[str] | None = None
    doc_id: str | None = None
    part: str | None = None
    dependency: bool = False
    char_start: int | None = None
    text_index: int | None = None

    def span_text(self, start: int, end: int) -> str:
        """The surface text of words ``[start, end)``: a slice of ``text`` when known, else joined words."""
        if self.text is not None and self.offsets is not None:
            base = self.char_start or 0
            return self.text[self.offsets[start][0] - base : self.offsets[end - 1][1] - base]
        return " ".join(self.words[start:end])

    def html(self) -> str:
        """The sentence and its frames as one HTML box, without CSS: what ``albert_srl.render`` draws of
        it (``render_html``, pages, the demo). Spans past the sentence's words are cut at its end."""
        rows = []
        for frame in self.frames:
            spans = []
            for argument in frame.arguments:
                end = min(argument.end, len(self.words))
                if 0 <= argument.start < end:
                    spans.append((argument.role, argument.start, end, self.span_text(argument.start, end)))
            predicate = frame.predicate
            rows.append(frame_html(self.words, predicate.index, predicate.text, predicate.sense, spans))
        return sentence_html(self.text if self.text is not None else " ".join(self.words), rows)

    def _repr_html_(self) -> str:
        """The sentence and its frames, styled, so a notebook cell that ends with it draws them."""
        return render_html(self)


def check_sentence(sentence: Sentence) -> None:
    """Raise ``ValueError`` saying what is wrong when ``sentence`` breaks an invariant every writer relies
    on: words are non-empty strings without tabs or line breaks; each predicate is an integer index of a
    word, one frame a predicate; roles are single words without brackets; one frame's arguments are
    spans of the sentence that do not overlap; ``pos`` has a tag a word; ``doc_id`` and ``part`` are
    strings. Readers of free-form input (JSON) call it, and so does every writer."""
    length = len(sentence.words)
    if not length:
        raise ValueError("a sentence has at least one word")
    for i, word in enumerate(sentence.words):
        if not isinstance(word, str) or not word or BAD_CELL.search(word):
            raise ValueError(
                f"word {i + 1} is {word!r}: a word is a non-empty string without tabs or line breaks"
            )
    for key in ("doc_id", "part"):
        value = getattr(sentence, key)
        if value is not None and (
            not isinstance(value, str)
            or not value
            or value.startswith("#")
            or any(c.isspace() for c in value)
        ):
            raise ValueError(f"{key} {value!r} is not a string without spaces")
    if sentence.pos is not None and (
        len(sentence.pos) != length
        or not all(isinstance(t, str) and t and not BAD_CELL.search(t) for t in sentence.pos)
    ):
        raise ValueError(f"pos must be {length} non-empty strings, one a word")
    seen: set[int] = set()
    for frame in sentence.frames:
        index = frame.predicate.index
        if type(index) is not int or not 0 <= index < length:
            raise ValueError(f"predicate index {index!r} is not a word of the sentence's {length} words")
        if index in seen:
            raise ValueError(f"two frames for the predicate at word {index}: one frame a predicate")
        seen.add(index)
        for name in ("lemma", "sense"):
            value = getattr(frame.predicate, name)
            if value is not None and (
                not isinstance(value, str) or not value.strip() or BAD_CELL.search(value)
            ):
                raise ValueError(f"predicate {name} {value!r} is not a non-empty string without tabs")
        end = 0
        for argument in sorted(frame.arguments, key=lambda a: (a.start, a.end)):
            if not isinstance(argument.role, str) or not ROLE.fullmatch(argument.role):
                raise ValueError(f"role {argument.role!r} is not a label such as ARG0 or ARGM-TMP")
            if type(argument.start) is not int or type(argument.end) is not int:
                raise ValueError(f"argument {argument.role} has non-integer bounds")
            if not 0 <= argument.start < argument.end <= length:
                raise ValueError(
                    f"argument {argument.role} [{argument.start}, {argument.end}) is not a span of the "
                    f"sentence's {length} words"
                )
            if argument.start < end:
                raise ValueError(f"argument {argument.role} overlaps another argument of the same predicate")
            end = argument.end
