"""spaCy's English tokenizer and rule-based sentencizer, run on their rules in plain Python.

Raw text is cut into words and sentences as spaCy's blank English pipeline (``spacy.blank("en")`` and the
``sentencizer``) cuts it, the choice of ``docs/text.md``, without importing spaCy: its import alone (half a
second, most of it for its command line) was a fifth of ``albert-srl tag``'s cold start. The rules are
spaCy's (MIT license, whose text the file carries), recorded in ``english_rules.json`` by
``tools/english_rules.py``; the steps follow spaCy's ``Tokenizer`` (``spacy/tokenizer.pyx``) and
``Sentencizer.predict``, and ``tests/test_words.py`` holds the output equal to spaCy's.

A token is a half-open character span of the text. Whitespace other than the one space after a word is a
token of its own, as in spaCy.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from itertools import accumulate, pairwise
from pathlib import Path
from typing import Any

Span = tuple[int, int]

RULES = Path(__file__).with_name("english_rules.json")
CHUNKS = re.compile(r"\s+|\S+")  # re's \s is str.isspace(), spaCy's test
CACHE_SIZE = 10_000  # chunks whose tokens are kept, as spaCy keeps them


def read_rules(path: Path = RULES) -> dict[str, Any]:
    """The recorded rules (see ``tools/english_rules.py`` for their fields)."""
    rules: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return rules


def compiled(rule: Mapping[str, Any]) -> re.Pattern[str]:
    return re.compile(rule["pattern"], rule["flags"])


def is_punct(word: str) -> bool:
    """spaCy's ``Token.is_punct``: every character is Unicode punctuation (category P*)."""
    return all(unicodedata.category(char).startswith("P") for char in word)


class EnglishTokenizer:
    """Words and sentences of raw text by spaCy's English rules; ``special_cases`` adds to its exceptions
    (a string and the words it is split into, as ``Tokenizer.add_special_case`` takes them)."""

    def __init__(self, rules: Mapping[str, Any], special_cases: Mapping[str, Sequence[str]] | None = None):
        self.prefix = compiled(rules["prefix"])
        self.suffix = compiled(rules["suffix"])
        self.infix = compiled(rules["infix"])
        self.url = compiled(rules["url"])
        self.sentence_ends = frozenset(rules["sentence_ends"])
        self.specials: dict[str, tuple[str, ...]] = {}
        for text, words in {**rules["special_cases"], **(special_cases or {})}.items():
            if "".join(words) != text:
                raise ValueError(f"the special case {text!r} is not the words {words!r} joined")
            self.specials[text] = tuple(words)
        self.phrases = self.special_phrases()
        self.phrase_starts = frozenset(phrase[0] for phrase in self.phrases)
        self.longest_phrase = max(map(len, self.phrases), default=0)
        self.cache: dict[str, list[str]] = {}

    # --------------------------------------------------------------------------------------- public

    def tokens(self, text: str) -> list[Span]:
        """The tokens of ``text``, whitespace tokens included (spaCy's ``nlp.tokenizer(text)``)."""
        return self.merge_special_phrases(text, self.split_chunks(text, specials=True))

    def sentences(self, text: str) -> list[list[Span]]:
        """The tokens of ``text`` cut into sentences (spaCy's ``nlp(text).sents`` with the sentencizer):
        a sentence ends after a run of sentence-ending marks and the punctuation that follows it."""
        tokens = self.tokens(text)
        starts = self.sentence_starts([text[start:end] for start, end in tokens])
        return [tokens[start:end] for start, end in pairwise([*starts, len(tokens)])]

    # ------------------------------------------------------------------------------------ tokenizing

    def split_chunks(self, text: str, specials: bool) -> list[Span]:
        """Tokens of each run of spaces and of non-spaces; the one space after a word belongs to it."""
        tokens: list[Span] = []
        for start, chunk in whitespace_chunks(text):
            tokens.extend(spans_from(start, self.chunk_words(chunk, specials)))
        return tokens

    def chunk_words(self, chunk: str, specials: bool) -> list[str]:
        """The words of a chunk without whitespace (or of whitespace alone): a special case, else its
        prefixes, its core split at infixes, and its suffixes."""
        if specials and chunk in self.specials:
            return list(self.specials[chunk])
        cached = self.cache.get(chunk) if specials else None  # one lookup: another thread may clear it
        if cached is not None:
            return cached
        prefixes, core, suffixes = self.split_affixes(chunk, specials)
        words = [*prefixes, *self.core_words(core, specials), *reversed(suffixes)]
        if specials:
            if len(self.cache) >= CACHE_SIZE:
                self.cache.clear()
            self.cache[chunk] = words
        return words

    def split_affixes(self, string: str, specials: bool) -> tuple[list[str], str, list[str]]:
        """Strip prefixes and suffixes until none is left or what is left is a special case
        (``Tokenizer._split_affixes``)."""
        prefixes: list[str] = []
        suffixes: list[str] = []
        last_size = 0
        while string and len(string) != last_size:
            if specials and string in self.specials:
                break
            last_size = len(string)
            pre_len = self.prefix_length(string)
            if pre_len and specials and string[pre_len:] in self.specials:
                prefixes.append(string[:pre_len])
                return prefixes, string[pre_len:], suffixes
            suf_len = self.suffix_length(string[pre_len:])
            if suf_len and specials and string[:-suf_len] in self.specials:
                suffixes.append(string[-suf_len:])
                return prefixes, string[:-suf_len], suffixes
            if pre_len:
                prefixes.append(string[:pre_len])
            if suf_len:
                suffixes.append(string[-suf_len:])
            string = string[pre_len : len(string) - suf_len]
        return prefixes, string, suffixes

    def core_words(self, core: str, specials: bool) -> list[str]:
        """What is left after the affixes: a special case, a URL, or its pieces between infixes
        (``Tokenizer._attach_tokens``; an infix at the very start does not split)."""
        if not core:
            return []
        if specials and core in self.specials:
            return list(self.specials[core])
        if self.url.match(core):
            return [core]
        words: list[str] = []
        start = 0
        for match in self.infix.finditer(core):
            infix_start, infix_end = match.span()
            if infix_start == 0:
                continue
            if infix_start != start:
                words.append(core[start:infix_start])
            if infix_start != infix_end:
                words.append(core[infix_start:infix_end])
            start = infix_end
        if core[start:]:
            words.append(core[start:])
        return words

    def prefix_length(self, string: str) -> int:
        match = self.prefix.search(string)
        return match.end() - match.start() if match else 0

    def suffix_length(self, string: str) -> int:
        match = self.suffix.search(string)
        return match.end() - match.start() if match else 0

    # ------------------------------------------------------------------- special cases across tokens

    def special_phrases(self) -> dict[tuple[str, ...], str]:
        """The special cases spaCy also looks for as a run of tokens after tokenizing (those with an
        affix, an infix or a space: their words before the special cases apply), keyed by those words."""
        phrases: dict[tuple[str, ...], str] = {}
        for text in self.specials:
            if self.prefix_length(text) or self.suffix_length(text) or self.infix.search(text) or " " in text:
                phrase = tuple(text[start:end] for start, end in self.split_chunks(text, specials=False))
                phrases[phrase] = text
        return phrases

    def merge_special_phrases(self, text: str, tokens: list[Span]) -> list[Span]:
        """Re-split the runs of tokens that spell a special case as it says (``_apply_special_cases``):
        the longest runs first, then the earliest, none overlapping an end of one taken before."""
        if not self.phrases:
            return tokens
        words = [text[start:end] for start, end in tokens]
        found = [
            (start, start + length)
            for start, word in enumerate(words)
            if word in self.phrase_starts
            for length in range(1, min(self.longest_phrase, len(words) - start) + 1)
            if tuple(words[start : start + length]) in self.phrases
        ]
        if not found:
            return tokens
        taken: list[Span] = []
        seen: set[int] = set()
        for start, end in sorted(found, key=lambda run: (run[1] - run[0], -run[0]), reverse=True):
            if start not in seen and end - 1 not in seen:
                taken.append((start, end))
            seen.update(range(start, end))
        merged: list[Span] = []
        position = 0
        for start, end in sorted(taken):
            merged.extend(tokens[position:start])
            covered = text[tokens[start][0] : tokens[end - 1][1]]
            if covered in self.specials:
                merged.extend(spans_from(tokens[start][0], self.specials[covered]))
            else:
                merged.extend(tokens[start:end])
            position = end
        merged.extend(tokens[position:])
        return merged

    # ----------------------------------------------------------------------------------- sentences

    def sentence_starts(self, words: Sequence[str]) -> list[int]:
        """Where sentences start: the first word, and each word that follows a sentence-ending mark and
        is neither punctuation nor one itself (``Sentencizer.predict``)."""
        if not words:
            return []
        starts = [0]
        seen_end = False
        for index, word in enumerate(words):
            ends = word in self.sentence_ends
            if seen_end and not ends and not is_punct(word):
                starts.append(index)
                seen_end = False
            elif ends:
                seen_end = True
        return starts


def whitespace_chunks(text: str) -> Iterator[tuple[int, str]]:
    """The runs of non-space and of space characters with their starts, less the first space of a run
    after a word (spaCy's ``token.whitespace_``)."""
    for match in CHUNKS.finditer(text):
        start, chunk = match.start(), match.group()
        if start and chunk[0] == " ":
            start, chunk = start + 1, chunk[1:]
        if chunk:
            yield start, chunk


def spans_from(start: int, words: Sequence[str]) -> list[Span]:
    """The spans of ``words`` laid end to end from ``start``."""
    ends = list(accumulate(map(len, words), initial=start))
    return list(pairwise(ends))
