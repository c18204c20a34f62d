"""The output schema, declared once: a sentence, its frames, their predicate and arguments as JSON.

Every JSON surface is built from these records: the JSON-lines files (``formats.jsonl`` reads and writes
``SentenceRecord``), the server's answers and its OpenAPI schema (``/v1/tag`` answers ``SentenceRecord``\\ s,
``/predict`` a ``PredictorRecord``), the AllenNLP predictor lines (``formats.allennlp``) and the spaCy
component's stored frames (``doc._.albert_srl_data``: ``FrameRecord``\\ s in token indices)::

    {"text": "...", "char_start": 0, "words": [...], "frames": [{"predicate": {"index": 2,
     "text": "nominated", "lemma": "nominate", "sense": "nominate.01"}, "arguments": [{"role": "ARG0",
     "start": 0, "end": 2, "text": "President Bush", "char_start": 0, "char_end": 14}, ...],
     "tags": ["B-ARG0", ...]}], "offsets": [[0, 9], ...]}

Written, a record holds only the keys that have a value (``dump``): a sentence not from raw text has no
``text``, a predicate of unknown lemma no ``lemma``; ``sense`` is written as ``null`` when unknown, and
``tags`` only over span arguments (not for a dependency-based sentence). Read, the types are strict (an
index is an integer, not ``1.7`` or ``true``), keys it does not know are ignored, and what a sentence's
words give may be left out: a predicate's or an argument's ``text``, and a frame's ``arguments`` where its
``tags`` are given. What spans a record's indices may cover is the reader's to check (``formats.jsonl``,
``spacy_component``): a record does not know the words it indexes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from albert_srl.bio import spans_from_bio
from albert_srl.data import Argument, Frame, Predicate, Sentence

R = TypeVar("R", bound="Record")
T = TypeVar("T")


class Record(BaseModel):
    """A JSON object of the schema: strict types when read, unknown keys ignored."""

    model_config = ConfigDict(strict=True, extra="ignore")

    @classmethod
    def read(cls: type[R], obj: Any) -> R:
        """``obj`` (parsed JSON) checked against the record; a mismatch raises ``ValueError`` whose message
        is one line naming the first bad key (``frames[0].predicate.index: ...``)."""
        try:
            return cls.model_validate(obj)
        except ValidationError as error:
            raise ValueError(validation_message(error)) from None

    def dump(self) -> dict[str, Any]:
        """The record as JSON data, with the keys it was given a value for (``None`` included) only."""
        return self.model_dump(exclude_unset=True)


def validation_message(error: ValidationError) -> str:
    """pydantic's first complaint in one line: where (``frames[0].predicate.index``), what, and the value."""
    first = error.errors()[0]
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"])
    where = where.lstrip(".") or "the record"
    if first["type"] == "missing":
        return f"missing key {where}"
    found = repr(first["input"])
    found = found if len(found) <= 40 else found[:37] + "..."
    return f"{where}: {first['msg'][0].lower()}{first['msg'][1:]} (found {found})"


class RecordError(ValueError):
    """A record whose indices do not fit the words they index: ``where`` it sits and what is wrong."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where, self.message = where, message


def located(where: str, convert: Callable[[Sentence], T], sentence: Sentence) -> T:
    """``convert(sentence)``; its ``ValueError`` says where the record sits (``frames[2].arguments[0]``)."""
    try:
        return convert(sentence)
    except RecordError as error:
        raise RecordError(f"{where}.{error.where}", error.message) from None
    except ValueError as error:
        raise RecordError(where, str(error)) from None


def rounded(probability: float | None) -> float | None:
    """A probability as written: four decimals say all a reader needs (a threshold, a ranking)."""
    return None if probability is None else round(probability, 4)


def some(**values: Any) -> dict[str, Any]:
    """The keyword arguments whose value is known (not ``None``): a record written without the rest."""
    return {key: value for key, value in values.items() if value is not None}


# ------------------------------------------------------------------------------------------ the records


class ArgumentRecord(Record):
    """An argument: its role over words ``[start, end)`` (the predicate's own ``V`` span included), its
    text, and, from raw text, its characters ``[char_start, char_end)`` in the input."""

    role: str = Field(examples=["ARG0"])
    start: int
    end: int
    text: str | None = Field(None, description="always written; read: the words' text when left out")
    char_start: int | None = None
    char_end: int | None = None

    @classmethod
    def of(cls, argument: Argument) -> ArgumentRecord:
        return cls.model_construct(
            role=argument.role,
            start=argument.start,
            end=argument.end,
            text=argument.text,
            **some(char_start=argument.char_start, char_end=argument.char_end),
        )

    def argument(self, sentence: Sentence) -> Argument:
        """The ``Argument`` over ``sentence``'s words; ``ValueError`` when it is not a span of them."""
        length = len(sentence.words)
        if not 0 <= self.start < self.end <= length:
            raise ValueError(
                f"argument [{self.start}, {self.end}) is not a span of the sentence's {length} words"
            )
        text = self.text if self.text is not None else sentence.span_text(self.start, self.end)
        return Argument(self.role, self.start, self.end, text, self.char_start, self.char_end)


class PredicateRecord(Record):
    """The predicate word (its index and text), its lemma and its PropBank roleset (``nominate.01``)."""

    index: int
    text: str | None = Field(None, description="always written; read: the word when left out")
    lemma: str | None = None
    sense: str | None = Field(None, examples=["nominate.01"], description="written as null when unknown")
    probability: float | None = Field(
        None, ge=0, le=1, description="where the model found the predicate: how sure it was (0 to 1)"
    )

    @classmethod
    def of(cls, predicate: Predicate) -> PredicateRecord:
        return cls.model_construct(
            index=predicate.index,
            text=predicate.text,
            **some(lemma=predicate.lemma),
            sense=predicate.sense,
            **some(probability=rounded(predicate.probability)),
        )


class FrameRecord(Record):
    """One predicate and its arguments; ``tags`` are the arguments as BIO tags over the sentence's words."""

    predicate: PredicateRecord
    arguments: list[ArgumentRecord] | None = Field(None, description="always written; read: from tags")
    tags: list[str] | None = None
    probability: float | None = Field(
        None, ge=0, le=1, description="the model's probability of these arguments given the predicate"
    )

    @classmethod
    def of(cls, frame: Frame, length: int | None) -> FrameRecord:
        """``frame`` with BIO ``tags`` over ``length`` words (``None``: none, for head-word arguments)."""
        return cls.model_construct(
            predicate=PredicateRecord.of(frame.predicate),
            arguments=[ArgumentRecord.of(argument) for argument in frame.arguments],
            **some(tags=frame.tags(length) if length is not None else None),
            **some(probability=rounded(frame.probability)),
        )

    def frame(self, sentence: Sentence) -> Frame:
        """The ``Frame`` over ``sentence``'s words; ``ValueError`` when an index is not one of them."""
        length = len(sentence.words)
        index = self.predicate.index
        if not 0 <= index < length:
            raise ValueError(f"predicate index {index} is outside the sentence's {length} words")
        if self.tags is not None and len(self.tags) != length:
            raise ValueError(f"'tags' must be a list of one tag a word ({length})")
        if self.arguments is not None:
            arguments = [
                located(f"arguments[{i}]", argument.argument, sentence)
                for i, argument in enumerate(self.arguments)
            ]
        elif self.tags is None:
            raise ValueError("a frame needs 'arguments' or 'tags'")
        else:
            spans = spans_from_bio(self.tags)
            arguments = [Argument(role, s, e, text=sentence.span_text(s, e)) for role, s, e in spans]
        text = self.predicate.text if self.predicate.text is not None else sentence.words[index]
        predicate = Predicate(
            index, text, self.predicate.lemma, self.predicate.sense, self.predicate.probability
        )
        return Frame(predicate, arguments, self.probability)


Offsets = Annotated[list[int], Field(min_length=2, max_length=2)]


class SentenceRecord(Record):
    """A sentence: its text and where it starts in the input (from raw text), its words, its frames, and
    what the corpus or the splitter knows (each word's characters, POS tags, document and part)."""

    text: str | None = None
    char_start: int | None = Field(None, description="where 'text' starts in the input the offsets index")
    words: list[str]
    frames: list[FrameRecord] = []
    offsets: list[Offsets] | None = Field(None, description="[start, end) characters of each word")
    pos: list[str] | None = None
    doc_id: str | None = None
    part: str | None = None
    dependency: bool | None = Field(None, description="true: arguments are head words (CoNLL-U PropBank)")

    @classmethod
    def of(cls, sentence: Sentence) -> SentenceRecord:
        length = None if sentence.dependency else len(sentence.words)
        offsets = [list(pair) for pair in sentence.offsets] if sentence.offsets is not None else None
        return cls.model_construct(
            **some(text=sentence.text, char_start=sentence.char_start),
            words=sentence.words,
            frames=[FrameRecord.of(frame, length) for frame in sentence.frames],
            **some(offsets=offsets, pos=sentence.pos, doc_id=sentence.doc_id, part=sentence.part),
            **some(dependency=sentence.dependency or None),
        )

    def sentence(self) -> Sentence:
        """The ``Sentence``; ``ValueError`` when an index is not one of its words (``check_sentence``'s
        other invariants are the caller's to check)."""
        if self.offsets is not None and len(self.offsets) != len(self.words):
            raise ValueError("'offsets' must be one [start, end] pair of integers a word")
        sentence = Sentence(
            words=self.words,
            text=self.text,
            offsets=[(start, end) for start, end in self.offsets] if self.offsets is not None else None,
            pos=self.pos,
            doc_id=self.doc_id,
            part=self.part,
            dependency=self.dependency is True,
            char_start=self.char_start,
        )
        sentence.frames = [
            located(f"frames[{i}]", frame.frame, sentence) for i, frame in enumerate(self.frames)
        ]
        return sentence


# ------------------------------------------------------------------------------------------ AllenNLP


class VerbRecord(Record):
    """AllenNLP's frame: the verb, the sentence with its arguments bracketed, and BIO tags; ``index`` (the
    predicate word) and ``sense`` (its roleset) are ours, which AllenNLP's readers ignore."""

    verb: str | None = Field(None, description="always written; read: the word at index when left out")
    description: str | None = Field(
        None, examples=["[ARG0: President Bush] [V: nominated] [ARG1: two judges]"], description="written"
    )
    tags: list[str]
    index: int | None = Field(None, description="always written; read: the first B-V when left out")
    sense: str | None = None


class PredictorRecord(Record):
    """AllenNLP's SRL predictor output: a ``verbs`` entry (``verb``, ``description``, ``tags``) per frame."""

    verbs: list[VerbRecord]
    words: list[str]
