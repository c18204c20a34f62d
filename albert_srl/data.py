"""Plain data classes that flow between the readers, the model, the writers and the scorer.

Word offsets are half-open word indices ``[start, end)``. Character offsets, where the original text is
known, are half-open indices into the text the caller passed in (the string given to ``SRLTagger.tag``,
the request's ``text``, the paragraph or line of a file), across all of its sentences; a sentence's own
``text`` starts at ``Sentence.char_start`` of that input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from albert_srl.spans import bio_from_spans


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
    """The predicate word of a frame, its lemma and its PropBank roleset (``nominate.01``)."""

    index: int
    text: str
    lemma: str | None = None
    sense: str | None = None


@dataclass
class Frame:
    """One proposition: a predicate and its labelled arguments (including the ``V`` span).

    The arguments are the frame's one source of truth; its BIO tags are derived from them (``tags``).
    """

    predicate: Predicate
    arguments: list[Argument] = field(default_factory=list)

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
