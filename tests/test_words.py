"""``albert_srl.tagging.words`` cuts raw text as spaCy's blank English pipeline does (tokenizer and
sentencizer), token for token and sentence for sentence, on rules recorded from spaCy."""

from __future__ import annotations

import gzip
import random
from itertools import islice
from typing import Any

import pytest
from scripts import REPO, load_script

from albert_srl.tagging.text import SPECIAL_CASES
from albert_srl.tagging.words import EnglishTokenizer, Span, read_rules

SHARED = REPO.parent / "shared"
WIKIPEDIA = SHARED / "pretrain" / "wikipedia-001.txt.gz"
EWT_UP_DEV = SHARED / "corpora" / "up" / "en_ewt-up-dev.conllu"
EXTRA = {**SPECIAL_CASES, "Wanna": ("Wan", "na")}  # as text.py adds them, one case of each kind

# Pieces random text is built of: what the rules treat specially (URLs, abbreviations, emoticons,
# contractions, numbers with units), lone marks of every kind, and whitespace spaCy keeps as tokens.
WORDS = (
    "http://x.com/a?b=1", "www.example.org", "foo@bar.com", "e-mail", "co-op", "U.S.", "Mr.", "e.g.", "a.m.",
    "No.", "can't", "don't", "I'm", "y'all", "'em", "ol'", "He's", "gonna", "wanna", "o.O", ":)", "(:", "<3",
    ":-)", "1,000", "3.5", "$5", "5%", "10km", "5kg", "1990s", "'90s", "C++", "#tag", "@user", "--", "...",
    "!!", "?!", "&amp;",
)  # fmt: skip
MARKS = (
    *"abcXYZ019.,;:!?'\"()[]{}-/\\@#$%^&*_+=<>~`|\u2013\u2014\u2026\u2019\u2018\u201c\u201d\u00ab\u00bb\u00a7\u00b0",
    " ", "  ", "\n", "\t", "\u00a0", "\u3000", "\u2009", "\u200b",
    "\u00e9", "\u65e5\u672c", "\u00df", "\u0301",
)  # fmt: skip


@pytest.fixture(scope="module")
def ours() -> EnglishTokenizer:
    return EnglishTokenizer(read_rules(), EXTRA)


@pytest.fixture(scope="module")
def spacy_nlp() -> Any:
    spacy = pytest.importorskip("spacy")
    from spacy.symbols import ORTH

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    for text, words in EXTRA.items():
        nlp.tokenizer.add_special_case(text, [{ORTH: word} for word in words])
    return nlp


def spacy_sentences(nlp: Any, text: str) -> list[list[Span]]:
    return [[(token.idx, token.idx + len(token)) for token in sentence] for sentence in nlp(text).sents]


def assert_same_cuts(ours: EnglishTokenizer, nlp: Any, texts: list[str]) -> None:
    differ = [text for text in texts if ours.sentences(text) != spacy_sentences(nlp, text)]
    assert not differ, f"{len(differ)} of {len(texts)} texts cut otherwise than spaCy cuts them: {differ[:3]}"


def test_the_recorded_rules_are_the_installed_spacys() -> None:
    recorded = read_rules()
    current = load_script("tools/english_rules.py").spacy_english_rules()
    assert recorded.keys() == current.keys()
    for field in recorded.keys() - {"spacy_version", "license"}:  # where they came from, not the rules
        assert recorded[field] == current[field], f"{field} differs: run tools/english_rules.py"


def test_wikipedia_paragraphs_are_cut_as_spacy_cuts_them(ours: EnglishTokenizer, spacy_nlp: Any) -> None:
    if not WIKIPEDIA.exists():
        pytest.skip("../shared/pretrain is absent")
    with gzip.open(WIKIPEDIA, "rt", encoding="utf-8") as lines:
        paragraphs = list(islice((line.strip() for line in lines if line.strip()), 1500))
    assert_same_cuts(ours, spacy_nlp, paragraphs)


def test_web_text_is_cut_as_spacy_cuts_it(ours: EnglishTokenizer, spacy_nlp: Any) -> None:
    """EWT's own sentences (emails, reviews, forums), each alone and a document's joined."""
    if not EWT_UP_DEV.exists():
        pytest.skip("../shared/corpora is absent")
    documents: list[list[str]] = []
    for line in EWT_UP_DEV.read_text(encoding="utf-8").splitlines():
        if line.startswith("# newdoc"):
            documents.append([])
        elif line.startswith("# text = ") and documents:
            documents[-1].append(line.removeprefix("# text = "))
    sentences = [sentence for document in documents for sentence in document]
    assert len(sentences) > 1500
    assert_same_cuts(ours, spacy_nlp, sentences + [" ".join(document) for document in documents])


def test_random_text_of_tricky_pieces_is_cut_as_spacy_cuts_it(ours: EnglishTokenizer, spacy_nlp: Any) -> None:
    rng = random.Random(0)
    specials = sorted(ours.specials)

    def piece() -> str:
        draw = rng.random()
        if draw < 0.3:
            return rng.choice(specials)
        if draw < 0.5:
            return rng.choice(WORDS)
        return " " if draw < 0.75 else rng.choice(MARKS)

    texts = ["".join(piece() for _ in range(rng.randint(1, 30))) for _ in range(3000)]
    assert_same_cuts(ours, spacy_nlp, texts)
    for text in texts[:500]:
        tokens = spacy_nlp.tokenizer(text)
        assert ours.tokens(text) == [(token.idx, token.idx + len(token)) for token in tokens]


def test_a_special_case_spelt_across_tokens_becomes_its_own_words(ours: EnglishTokenizer) -> None:
    """``:)`` after a word is cut ``:`` ``)`` by the suffix rules; the pass over the tokens finds the
    emoticon again, as spaCy's does."""
    text = "She said:) and left (U.S.)"
    chunks = ours.split_chunks(text, specials=True)
    assert [text[start:end] for start, end in chunks][1:4] == ["said", ":", ")"]
    assert [text[start:end] for start, end in ours.tokens(text)] == [
        "She", "said", ":)", "and", "left", "(", "U.S.", ")",
    ]  # fmt: skip


def test_whitespace_beyond_one_space_is_a_token_and_sentences_cut_after_their_marks(
    ours: EnglishTokenizer,
) -> None:
    """A sentence takes the punctuation after its full stop; the next starts at the first token that is
    not punctuation, whitespace included (``text.py`` drops whitespace tokens afterwards)."""
    text = "Hi  there.\n\nNew one!) Next"
    words = [[text[start:end] for start, end in sentence] for sentence in ours.sentences(text)]
    assert words == [["Hi", " ", "there", "."], ["\n\n", "New", "one", "!", ")"], ["Next"]]


def test_a_special_case_must_spell_its_text() -> None:
    with pytest.raises(ValueError, match="'gimme' is not the words"):
        EnglishTokenizer(read_rules(), {"gimme": ("gim", "me", "!")})
