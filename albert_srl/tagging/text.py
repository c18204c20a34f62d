"""Raw text to sentences of words with character offsets, in the PropBank/OntoNotes (EWT) tokenization.

Sentence splitting and word tokenization are spaCy's blank English pipeline (tokenizer + rule-based
``sentencizer``; no model download), chosen by measurement against the EWT words (``docs/text.md``) and
run on spaCy's rules without importing spaCy (``albert_srl.tagging.words``), with a few post-fixes where
spaCy and EWT disagree: runs of ``!``/``?`` and of one repeated symbol (``***``, ``===``) stay one word, a
hyphen after a prefix such as ``e-``/``non-``/``re-`` does not split, and ``wanna``/``gotta``/``outta``/
``alot`` split as EWT splits them.

Offsets are half-open character offsets into ``TextSentence.text`` with ``text[start:end] == word``.
Tokenized input marks a predicate by square brackets around a whole word: ``The board [approved] it .``
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import IO, Any, Literal

from albert_srl.data import Sentence
from albert_srl.files import open_binary, read_lines, uncompressed_size
from albert_srl.tagging.words import EnglishTokenizer, Span, read_rules

logger = logging.getLogger(__name__)

Mode = Literal["text", "lines", "tokenized"]

LONG_WORD = 100  # characters; longer "words" (URLs, base64, runs of symbols) are kept but warned about
MAX_LINE_CHARS = 1_000_000  # spaCy's limit on one text, kept
MAX_PARAGRAPH_CHARS = 100_000  # a paragraph is cut at a line boundary beyond this, so memory stays bounded

# Where a line ends: after "\n", "\r\n" or a lone "\r" (old Mac files), as Python's universal newlines
# read text. A "\r" that ends what has been read is no end yet: a "\n" may follow it.
LINE_ENDS = re.compile("(?<=\n)|(?<=\r)(?!\n|\\Z)")
BYTE_LINE_ENDS = re.compile(b"(?<=\n)|(?<=\r)(?!\n|\\Z)")

# Control characters (Unicode category Cc) but tab, and the lone surrogates that stand for bytes that were
# not UTF-8 (decoding with errors="surrogateescape").
BAD_CHARACTER = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\udc80-\udcff]")

# Prefixes after which EWT keeps a hyphenated word whole (e-mail, non-human, re-wording); other
# letter-hyphen-letter words are split into three words, as spaCy splits them.
HYPHEN_PREFIXES = frozenset(
    ("a", "anti", "bi", "co", "counter", "de", "e", "ex", "extra", "inter", "intra", "mega", "micro", "mid",
     "mini", "mis", "multi", "non", "over", "post", "pre", "pro", "re", "semi", "sub", "super", "trans",
     "tri", "un", "vice")
)  # fmt: skip
# Repeated punctuation that EWT keeps as one word: "!!!", "?!", "***", "====", "$$$", "<<".
TERMINAL_MARKS = frozenset("!?")
REPEATED_SYMBOLS = frozenset("*=_~#$+<>-")
PUNCTUATION_RUNS = TERMINAL_MARKS | REPEATED_SYMBOLS
OPENING_BRACKETS = frozenset("([{")
QUOTES = frozenset('"\u201c')
# Informal contractions EWT splits (spaCy already splits gonna, cannot, n't, 's ...).
SPECIAL_CASES = {"wanna": ("wan", "na"), "gotta": ("got", "ta"), "outta": ("out", "ta"), "alot": ("a", "lot")}


@dataclass
class TextSentence:
    """One sentence of raw text: its words and their character offsets into ``text``.

    ``text`` is the whole input the sentence was cut from (a paragraph, or one line) and ``line`` the
    1-based line of its first word in the input file. ``predicates`` lists the indices of words marked as
    predicates in tokenized input, ``None`` when the input marked none.
    """

    text: str
    words: list[str]
    offsets: list[Span]
    line: int
    predicates: list[int] | None = None

    def to_sentence(self) -> Sentence:
        """A ``Sentence`` whose ``text`` is this sentence's own slice of the input, starting at its
        ``char_start``; word offsets keep indexing the whole input ``text``."""
        if not self.words:
            return Sentence(words=[], text="", offsets=[], char_start=0)
        start, end = self.offsets[0][0], self.offsets[-1][1]
        return Sentence(
            words=list(self.words), text=self.text[start:end], offsets=list(self.offsets), char_start=start
        )


@dataclass
class BadLine:
    """An input line that was skipped, and why (``path`` and 1-based ``line`` say where)."""

    path: str
    line: int
    reason: str


# ------------------------------------------------------------------------------------------- tokenizing


@lru_cache(maxsize=1)
def english() -> EnglishTokenizer:
    """spaCy's English tokenizer and sentencizer with EWT's special cases, built once."""
    special_cases: dict[str, tuple[str, ...]] = {}
    for word, parts in SPECIAL_CASES.items():
        special_cases[word] = parts
        special_cases[word.capitalize()] = (parts[0].capitalize(), *parts[1:])
        special_cases[word.upper()] = tuple(part.upper() for part in parts)
    return EnglishTokenizer(read_rules(), special_cases)


def split_text(text: str, line: int = 1) -> list[TextSentence]:
    """Split raw ``text`` into sentences of words; offsets index into ``text``.

    ``line`` is the 1-based line of the text's first character; each sentence's ``line`` counts on from it.
    """
    sentences = [word_spans(text, tokens) for tokens in english().sentences(text)]
    sentences = move_openers_forward(text, [spans for spans in sentences if spans])
    return [make_sentence(text, spans, line + text.count("\n", 0, spans[0][0])) for spans in sentences]


def tokenize_sentence(text: str, line: int = 1) -> TextSentence:
    """Tokenize ``text`` as one sentence (no sentence splitting); offsets index into ``text``."""
    return make_sentence(text, word_spans(text, english().tokens(text)), line)


def split_tokenized(line_text: str, line: int) -> TextSentence:
    """One sentence of whitespace-separated words; a word written ``[word]`` is a marked predicate.

    Brackets are removed from the word (its offsets cover the word inside them); a lone ``[`` or ``]``, or
    ``[]``, is an ordinary word. ``predicates`` is ``None`` when no word is marked.
    """
    words: list[str] = []
    offsets: list[Span] = []
    predicates: list[int] = []
    position = 0
    for token in line_text.split():
        start = line_text.index(token, position)
        position = start + len(token)
        if len(token) > 2 and token.startswith("[") and token.endswith("]"):
            predicates.append(len(words))
            token, start = token[1:-1], start + 1
        words.append(token)
        offsets.append((start, start + len(token)))
    return TextSentence(line_text, words, offsets, line, predicates or None)


def word_spans(text: str, tokens: list[Span]) -> list[Span]:
    """The spans of the tokens that are not whitespace, after the EWT post-fixes."""
    return fix_spans(text, [(start, end) for start, end in tokens if not text[start:end].isspace()])


def make_sentence(text: str, spans: list[Span], line: int) -> TextSentence:
    return TextSentence(text, [text[s:e] for s, e in spans], spans, line)


# ------------------------------------------------------------------------------------------- post-fixes


def fix_spans(text: str, spans: list[Span]) -> list[Span]:
    """Merge the word spans that EWT keeps as one word (see the module docstring)."""
    merged: list[Span] = []
    for span in spans:
        if merged and touching(merged[-1], span) and same_punctuation_run(text, merged[-1], span):
            merged[-1] = (merged[-1][0], span[1])
        elif (
            len(merged) >= 2
            and text[span[0] : span[1]].isalnum()
            and text[merged[-1][0] : merged[-1][1]] == "-"
            and touching(merged[-2], merged[-1])
            and touching(merged[-1], span)
            and text[merged[-2][0] : merged[-2][1]].lower() in HYPHEN_PREFIXES
        ):
            prefix = merged.pop(-2)
            merged[-1] = (prefix[0], span[1])
        else:
            merged.append(span)
    return merged


def move_openers_forward(text: str, sentences: list[list[Span]]) -> list[list[Span]]:
    """Move an opening bracket or quote that the sentencizer left at a sentence's end to the next sentence.

    The sentencizer keeps every punctuation mark after a full stop in the sentence, also the ``(`` or
    the ``"`` (one with a space before it) that opens the next one.
    """
    for current, following in pairwise(sentences):
        while len(current) > 1 and is_opener(text, current[-1]):
            following.insert(0, current.pop())
    return sentences


def is_opener(text: str, span: Span) -> bool:
    word = text[span[0] : span[1]]
    return word in OPENING_BRACKETS or (word in QUOTES and span[0] > 0 and text[span[0] - 1].isspace())


def touching(left: Span, right: Span) -> bool:
    return left[1] == right[0]


def same_punctuation_run(text: str, left: Span, right: Span) -> bool:
    """True when two touching words are both ``!``/``?`` marks or both runs of one repeated symbol."""
    if text[right[0]] not in PUNCTUATION_RUNS:  # the common case, decided without building sets
        return False
    a, b = set(text[left[0] : left[1]]), set(text[right[0] : right[1]])
    if a <= TERMINAL_MARKS and b <= TERMINAL_MARKS:
        return True
    return len(a) == 1 and a == b and a <= REPEATED_SYMBOLS


# ------------------------------------------------------------------------------------------- streaming


def read_documents(
    path: str | Path, title_lines: bool = False, max_documents: int | None = None
) -> Iterator[list[str]]:
    """The paragraphs (lines, stripped) of each blank-line-separated document of a text file (plain or
    gzip), the one document reader of pretraining and silver labelling; with ``title_lines`` each
    document's first line is a title and left out (WikiExtractor output). Bytes that are not UTF-8 read
    as U+FFFD: a corpus of millions of lines is not refused for one of them."""
    skip = 1 if title_lines else 0
    block: list[str] = []
    count = 0
    for line in read_lines(path, errors="replace"):
        line = line.strip()
        if line:
            block.append(line)
            continue
        if len(block) > skip:
            yield block[skip:]
            count += 1
            if max_documents is not None and count >= max_documents:
                return
        block = []
    if len(block) > skip:
        yield block[skip:]


def iter_text_file(
    path: str | Path, mode: Mode = "text", shard: tuple[int, int] | None = None
) -> Iterator[TextSentence | BadLine]:
    """``iter_text_sentences`` over a file (gzip read compressed), opened as bytes to catch bad UTF-8.

    ``shard=(i, n)`` keeps only the documents of shard ``i`` of ``n`` (see ``shard_lines``).
    """
    with open_binary(path) as stream:
        lines: Iterable[bytes] = bounded_lines(stream)  # type: ignore[assignment]
        if shard is not None:
            lines = shard_lines(lines, *shard, total_bytes=uncompressed_size(path), mode=mode)
        yield from iter_text_sentences(lines, mode, str(path))


def shard_lines(
    lines: Iterable[bytes], index: int, count: int, total_bytes: int, mode: Mode = "text"
) -> Iterator[bytes]:
    """The lines of shard ``index`` of ``count``; lines of other shards become empty lines.

    A document (a paragraph in ``"text"`` mode, a line otherwise) belongs to the shard in whose
    ``1/count`` of the file's bytes it starts. Every shard reads the whole file and needs no
    coordination; the shards' outputs concatenated in shard order are the input order, and line numbers
    in messages stay those of the file.
    """
    offset = 0
    mine = False
    in_paragraph = False
    for line in lines:
        blank = not line.strip()
        if mode != "text" or (not blank and not in_paragraph):  # a document starts here
            mine = min(offset * count // max(total_bytes, 1), count - 1) == index
        in_paragraph = not blank
        offset += len(line)
        yield line if mine else b"\n"


def iter_text_sentences(
    stream: Iterable[bytes] | Iterable[str], mode: Mode = "text", path: str = "<stream>"
) -> Iterator[TextSentence | BadLine]:
    """Stream sentences from ``stream``, a paragraph or a line at a time.

    ``mode``: ``"text"`` = paragraphs separated by blank lines, split into sentences; ``"lines"`` = one
    sentence a line, tokenized here; ``"tokenized"`` = one sentence a line, words separated by whitespace
    (``[word]`` marks a predicate). A line ends at a line feed, a CR LF or a lone carriage return (old Mac
    files). Empty lines are skipped. A line with invalid UTF-8 or a control character (other than tab), or
    longer than ``MAX_LINE_CHARS``, is yielded as a ``BadLine`` and skipped; in ``"text"`` mode it also
    ends the paragraph. Give a binary stream (or a text stream opened with ``errors="surrogateescape"``)
    so that bad bytes are reported instead of raised.
    """
    if mode not in ("text", "lines", "tokenized"):
        raise ValueError(f"mode must be 'text', 'lines' or 'tokenized', not {mode!r}")
    lines: Iterable[bytes | str] = (
        bounded_lines(stream) if isinstance(stream, io.IOBase) else split_line_ends(stream)  # type: ignore[arg-type]
    )
    paragraph: list[str] = []
    paragraph_chars = first_line = 0
    try:
        for number, raw in enumerate(lines, start=1):
            line = decode_line(raw, first=number == 1)
            reason = bad_line_reason(line)
            if mode == "text" and paragraph and (reason or not line.strip()):
                yield from split_paragraph(paragraph, first_line, path)
                paragraph = []
            if reason:
                yield BadLine(path, number, reason)
            elif not line.strip():
                continue
            elif mode == "text":
                if not paragraph:
                    first_line, paragraph_chars = number, 0
                paragraph.append(line)
                paragraph_chars += len(line)
                if paragraph_chars > MAX_PARAGRAPH_CHARS:
                    yield from split_paragraph(paragraph, first_line, path)
                    paragraph = []
            else:
                yield line_sentence(line, number, mode, path)
    except Exception:
        # The stream broke (a damaged gzip): the complete lines of the paragraph read so far are still
        # text, and every complete line before the damage is promised; the error goes on after them.
        yield from split_paragraph(paragraph, first_line, path)
        raise
    yield from split_paragraph(paragraph, first_line, path)


def line_sentence(line: str, number: int, mode: Mode, path: str) -> TextSentence:
    """One line as one sentence: words split at whitespace (``"tokenized"``) or tokenized here."""
    sentence = split_tokenized(line, number) if mode == "tokenized" else tokenize_sentence(line, number)
    warn_long_words(sentence, path)
    return sentence


def bounded_lines(stream: IO[bytes] | IO[str]) -> Iterator[bytes] | Iterator[str]:
    """The lines of ``stream``, each ending at a line feed, a CR LF or a lone carriage return, none
    held whole when longer than ``MAX_LINE_CHARS``: the rest of such a line is read in pieces and dropped,
    so one huge line never sits in memory. What is kept of it is still over the limit, and reported as
    too long."""
    text = isinstance(stream, io.TextIOBase)
    limit = MAX_LINE_CHARS + 1 if text else 4 * MAX_LINE_CHARS + 4  # a character is 1 to 4 UTF-8 bytes
    ends: Any = LINE_ENDS if text else BYTE_LINE_ENDS
    newline: Any = "\n" if text else b"\n"
    carriage: Any = "\r" if text else b"\r"
    pending: Any = newline[:0]  # the start of a line whose end is not read yet
    dropping = False  # inside a line over the limit: the rest of it, up to its end, is dropped
    while piece := stream.readline(limit):
        if not pending and carriage not in piece and piece.endswith(newline):  # the common case, at once
            if not dropping:
                yield piece
            dropping = False
            continue
        *lines, pending = ends.split(pending + piece)
        if dropping and lines:
            lines, dropping = lines[1:], False
        yield from lines
        if not dropping and len(pending) >= limit:
            yield pending[:limit]
            dropping = True
        if dropping:  # keep no more of the long line than a "\r" that may end it
            pending = pending[-1:] if pending.endswith(carriage) else pending[:0]
    if pending and not dropping:
        yield pending


def split_line_ends(lines: Iterable[bytes] | Iterable[str]) -> Iterator[bytes] | Iterator[str]:
    """Lines given one by one, each cut where a lone carriage return ends a line inside it."""
    for line in lines:
        if isinstance(line, bytes):
            yield from (part for part in BYTE_LINE_ENDS.split(line) if part) if b"\r" in line else (line,)
        else:
            yield from (part for part in LINE_ENDS.split(line) if part) if "\r" in line else (line,)


def decode_line(raw: bytes | str, first: bool) -> str:
    """The line as text without its line ending (and without a byte-order mark on the first line)."""
    line = raw.decode("utf-8", errors="surrogateescape") if isinstance(raw, bytes) else raw
    line = line.removesuffix("\n").removesuffix("\r")
    return line.removeprefix("\ufeff") if first else line


def bad_line_reason(line: str) -> str | None:
    """Why ``line`` cannot be read as text, or ``None`` when it can."""
    if len(line) > MAX_LINE_CHARS:  # first: a line cut short by ``bounded_lines`` may end mid-character
        return f"line longer than {MAX_LINE_CHARS:,} characters"
    bad = BAD_CHARACTER.search(line)
    if bad is not None:
        char, column = bad.group(), bad.start() + 1
        if char >= "\udc80":  # an undecodable byte, smuggled through by surrogateescape
            return f"invalid UTF-8 byte 0x{ord(char) - 0xDC00:02x} at character {column}"
        return f"control character U+{ord(char):04X} at character {column}"
    return None


def split_paragraph(lines: list[str], first_line: int, path: str) -> Iterator[TextSentence]:
    if not lines:
        return
    for sentence in split_text("\n".join(lines), first_line):
        warn_long_words(sentence, path)
        yield sentence


def warn_long_words(sentence: TextSentence, path: str) -> None:
    for word in sentence.words:
        if len(word) > LONG_WORD:
            logger.warning(
                "%s:%d: a %d-character word, kept whole: %.40s...", path, sentence.line, len(word), word
            )
