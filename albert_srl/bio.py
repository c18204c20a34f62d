"""Conversions between labelled spans, CoNLL bracket columns and BIO tags.

A span is ``(role, start, end)`` over word indices, half-open. One proposition's spans never overlap.
"""

from __future__ import annotations

Span = tuple[str, int, int]


class BracketError(ValueError):
    """A bracket column that does not describe non-overlapping spans; ``row`` is the 0-based word."""

    def __init__(self, row: int, message: str) -> None:
        self.row = row
        super().__init__(message)


def spans_from_brackets(column: list[str]) -> list[Span]:
    """Parse one CoNLL props column (``(ARG0*``, ``*``, ``*)``, ``(V*)``) into spans, in order."""
    spans: list[Span] = []
    open_role: str | None = None
    open_start = 0
    for row, cell in enumerate(column):
        rest = cell
        if rest.startswith("("):
            if open_role is not None:
                raise BracketError(row, f"'{cell}' opens a span while ({open_role}* is still open")
            star = rest.find("*")
            if star < 0:
                raise BracketError(row, f"'{cell}' is not a bracket cell like (ARG0* or *)")
            open_role, open_start = rest[1:star], row
            if not open_role:
                raise BracketError(row, f"'{cell}' opens a span with no label")
            if "(" in open_role or ")" in open_role:
                open_role = None
                raise BracketError(row, f"'{cell}' opens nested spans: one proposition's spans never nest")
            rest = rest[star:]
        if not rest.startswith("*"):
            raise BracketError(row, f"'{cell}' is not a bracket cell like (ARG0* or *)")
        rest = rest[1:]
        if rest == ")":
            if open_role is None:
                raise BracketError(row, f"'{cell}' closes a span that was never opened")
            spans.append((open_role, open_start, row + 1))
            open_role = None
        elif rest:
            raise BracketError(row, f"'{cell}' is not a bracket cell like (ARG0* or *)")
    if open_role is not None:
        raise BracketError(len(column) - 1, f"({open_role}* opened on word {open_start + 1} is never closed")
    return spans


def brackets_from_spans(spans: list[Span], length: int) -> list[str]:
    """The CoNLL props column of ``length`` words for non-overlapping ``spans``."""
    column = ["*"] * length
    for role, start, end in spans:
        column[start] = f"({role}{column[start]}"
        column[end - 1] = f"{column[end - 1]})"
    return column


def bio_from_spans(spans: list[Span], length: int) -> list[str]:
    """BIO tags (``B-ARG0``, ``I-ARG0``, ``O``) for non-overlapping ``spans``."""
    tags = ["O"] * length
    for role, start, end in spans:
        tags[start] = f"B-{role}"
        for i in range(start + 1, end):
            tags[i] = f"I-{role}"
    return tags


def spans_from_bio(tags: list[str]) -> list[Span]:
    """Spans from BIO tags; a stray ``I-X`` (not after ``B-X``/``I-X``) starts a new span, as in CoNLL.
    A tag that is not ``O``, ``B-ROLE`` or ``I-ROLE`` raises ``ValueError``."""
    spans: list[Span] = []
    role: str | None = None
    start = 0
    for i, tag in enumerate(tags):
        if not isinstance(tag, str) or not (tag == "O" or (tag[:2] in ("B-", "I-") and len(tag) > 2)):
            raise ValueError(f"tag {i + 1} is {tag!r}: expected O, B-ROLE or I-ROLE")
        if tag.startswith("I-") and role == tag[2:]:
            continue
        if role is not None:
            spans.append((role, start, i))
            role = None
        if tag != "O":
            role, start = tag[2:], i
    if role is not None:
        spans.append((role, start, len(tags)))
    return spans
