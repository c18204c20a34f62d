"""Which sentence splitter / word tokenizer / lemmatizer matches the EWT PropBank data best.

Run by hand (never by CI):  python benchmarks/tokenizer_compare.py [--skip-lemmas] [--candidate NAME ...]
Needs ``../shared/corpora`` and the candidate libraries (nltk, syntok, segtok, blingfire, spacy,
simplemma, lemminflect) installed. Prints markdown tables for ``docs/text.md``.

Two raw-text inputs for the same EWT dev sentences:

* **real**: the original text of each sentence (``# text`` in Universal PropBank's
  ``en_ewt-up-dev.conllu``, whose words are the EWT words) joined into documents with one space;
* **detok**: the words of ``ewt/dev.gold_conll.gz`` joined by ``detokenize`` below (the CoNLL file keeps
  no spacing, so the reverse Treebank rules rebuild it), sentences of a document joined with one space.

Word F1 compares character-offset spans of predicted words with the gold words; sentence F1 compares
sentence-end offsets inside a document (the document's own end is not counted). Speed is words/s of
splitting + tokenizing, one document at a time.
"""

from __future__ import annotations

import argparse
import gzip
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
Span = tuple[int, int]
Splitter = Callable[[str], list[list[Span]]]


@dataclass
class Document:
    """A raw text with its gold sentences, each a list of word character spans."""

    text: str
    sentences: list[list[Span]]


# ---------------------------------------------------------------------------------------------- gold data


def read_gold_conll(path: Path) -> Iterator[list[list[str]]]:
    """Rows (split columns) of each sentence of a CoNLL-2012 file."""
    rows: list[list[str]] = []
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            columns = line.rstrip("\n").split("\t")
            if len(columns) > 4:
                rows.append(columns)
            elif rows:
                yield rows
                rows = []
    if rows:
        yield rows


NO_SPACE_BEFORE = {
    ",",
    ".",
    "!",
    "?",
    ";",
    ":",
    "%",
    ")",
    "]",
    "}",
    "...",
    "n't",
    "'s",
    "'m",
    "'re",
    "'ve",
    "'ll",
    "'d",
    "na",
}
NO_SPACE_AFTER = {"(", "[", "{", "$", "#"}


def detokenize(words: list[str]) -> tuple[str, list[Span]]:
    """Join Treebank-tokenized words into text by the reverse tokenization rules.

    No space before closing punctuation and clitics (``n't``, ``'s`` ...; ``na`` of ``gon na``), none after
    opening brackets and ``$``/``#``; straight double quotes alternate opening/closing. Hyphens stay spaced:
    EWT words keep no spacing, and ``-`` is as often a dash between clauses as a compound's joint.
    """
    text = ""
    spans: list[Span] = []
    quote_open = False
    attach_next = False
    for word in words:
        closing_quote = word == '"' and quote_open
        glue = attach_next or word.lower() in NO_SPACE_BEFORE or closing_quote or word == "''"
        if text and not glue:
            text += " "
        spans.append((len(text), len(text) + len(word)))
        text += word
        if word == '"':
            quote_open = not quote_open
        attach_next = word in NO_SPACE_AFTER or (word == '"' and quote_open) or word == "``"
    return text, spans


def detok_documents() -> list[Document]:
    documents = []
    sentences = read_gold_conll(CORPORA / "ewt" / "dev.gold_conll.gz")
    for _, group in groupby(sentences, key=lambda rows: rows[0][0]):
        text, spans = "", []
        for rows in group:
            sentence_text, offsets = detokenize([row[3] for row in rows])
            start = len(text) + (1 if text else 0)
            text = f"{text} {sentence_text}" if text else sentence_text
            spans.append([(s + start, e + start) for s, e in offsets])
        documents.append(Document(text, spans))
    return documents


def real_documents() -> list[Document]:
    import conllu

    documents: list[Document] = []
    with open(CORPORA / "up" / "en_ewt-up-dev.conllu", encoding="utf-8") as lines:
        for sentence in conllu.parse_incr(lines):
            if "newdoc id" in sentence.metadata or not documents:
                documents.append(Document("", []))
            document = documents[-1]
            if document.text:
                document.text += " "
            start = len(document.text)
            document.text += sentence.metadata["text"]
            document.sentences.append(align(document.text, [token["form"] for token in sentence], start))
    return documents


def align(text: str, words: list[str], start: int = 0) -> list[Span]:
    """Character spans of ``words`` found left to right in ``text``; a word not found is left out."""
    spans = []
    position = start
    for word in words:
        found = text.find(word, position)
        if found < 0:
            continue
        spans.append((found, found + len(word)))
        position = found + len(word)
    return spans


# ---------------------------------------------------------------------------------------------- candidates


def spacy_splitter() -> Splitter:
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")

    def split(text: str) -> list[list[Span]]:
        return [[(t.idx, t.idx + len(t)) for t in sent if not t.is_space] for sent in nlp(text).sents]

    return split


def nltk_splitter() -> Splitter:
    from nltk.tokenize import NLTKWordTokenizer, PunktSentenceTokenizer

    sentences, words = PunktSentenceTokenizer(), NLTKWordTokenizer()

    def split(text: str) -> list[list[Span]]:
        result = []
        for start, end in sentences.span_tokenize(text):
            try:
                spans = list(words.span_tokenize(text[start:end]))
            except ValueError:  # its aligner fails on some quote sequences: fall back to our own
                spans = align(text[start:end], words.tokenize(text[start:end]))
            result.append([(s + start, e + start) for s, e in spans])
        return result

    return split


def syntok_splitter() -> Splitter:
    import syntok.segmenter as segmenter

    def split(text: str) -> list[list[Span]]:
        return [
            [(t.offset, t.offset + len(t.value)) for t in sentence]
            for paragraph in segmenter.analyze(text)
            for sentence in paragraph
        ]

    return split


def segtok_splitter() -> Splitter:
    from segtok.segmenter import split_multi
    from segtok.tokenizer import split_contractions, word_tokenizer

    def split(text: str) -> list[list[Span]]:
        result, position = [], 0
        for sentence in split_multi(text):
            start = text.find(sentence, position)
            position = start + len(sentence)
            result.append(align(text, split_contractions(word_tokenizer(sentence)), start))
        return result

    return split


def blingfire_splitter() -> Splitter:
    import blingfire

    def split(text: str) -> list[list[Span]]:
        result = []
        for start, end in blingfire.text_to_sentences_and_offsets(text)[1]:
            spans = blingfire.text_to_words_with_offsets(text[start:end])[1]
            result.append([(s + start, e + start) for s, e in spans])
        return result

    return split


def albert_srl_splitter() -> Splitter:
    from albert_srl.tagging.text import split_text

    def split(text: str) -> list[list[Span]]:
        return [sentence.offsets for sentence in split_text(text)]

    return split


CANDIDATES: dict[str, Callable[[], Splitter]] = {
    "spaCy 3.8 blank('en') + sentencizer": spacy_splitter,
    "NLTK 3.10 Punkt (untrained) + NLTKWordTokenizer": nltk_splitter,
    "syntok 1.4": syntok_splitter,
    "segtok 1.5 (+ split_contractions)": segtok_splitter,
    "blingfire 0.1.8": blingfire_splitter,
    "albert_srl.tagging.text.split_text (chosen + post-fixes)": albert_srl_splitter,
}


# ---------------------------------------------------------------------------------------------- scoring


def f1(gold: set, predicted: set) -> float:
    matched = len(gold & predicted)
    return 200 * matched / (len(gold) + len(predicted)) if gold or predicted else 100.0


def evaluate(split: Splitter, documents: list[Document]) -> tuple[float, float, float]:
    """Word F1, sentence-end F1 (both percent) and words/s of ``split`` over ``documents``."""
    gold_words: set[tuple[int, Span]] = set()
    predicted_words: set[tuple[int, Span]] = set()
    gold_ends: set[tuple[int, int]] = set()
    predicted_ends: set[tuple[int, int]] = set()
    elapsed = 0.0
    for number, document in enumerate(documents):
        start = time.perf_counter()
        predicted = [sentence for sentence in split(document.text) if sentence]
        elapsed += time.perf_counter() - start
        gold_words.update((number, span) for sentence in document.sentences for span in sentence)
        predicted_words.update((number, span) for sentence in predicted for span in sentence)
        gold_ends.update((number, sentence[-1][1]) for sentence in document.sentences[:-1] if sentence)
        predicted_ends.update((number, sentence[-1][1]) for sentence in predicted[:-1])
    return f1(gold_words, predicted_words), f1(gold_ends, predicted_ends), len(gold_words) / elapsed


def compare_tokenizers(names: list[str] | None = None) -> None:
    inputs = {"real": real_documents(), "detok": detok_documents()}
    for name, documents in inputs.items():
        words = sum(len(s) for d in documents for s in d.sentences)
        sentences = sum(len(d.sentences) for d in documents)
        print(f"{name}: {len(documents)} documents, {sentences} sentences, {words} words")
    print("\n| candidate | word F1 real | sentence F1 real | word F1 detok | sentence F1 detok | words/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, make in CANDIDATES.items():
        if names and not any(part.lower() in name.lower() for part in names):
            continue
        split = make()
        split("Warm up, so that lazy loading is not timed.")
        real_word, real_sentence, speed = evaluate(split, inputs["real"])
        detok_word, detok_sentence, _ = evaluate(split, inputs["detok"])
        print(
            f"| {name} | {real_word:.2f} | {real_sentence:.2f} | {detok_word:.2f} | {detok_sentence:.2f} "
            f"| {speed:,.0f} |"
        )


# ---------------------------------------------------------------------------------------------- lemmas

PTB_TO_UPOS = {"V": "VERB", "N": "NOUN", "J": "ADJ", "R": "ADV", "M": "AUX"}


def lemmatizers() -> dict[str, Callable[[str, str], str]]:
    import lemminflect
    import simplemma

    from albert_srl.tagging.lemma import lemmatize

    def lemminflect_lemma(word: str, ptb: str) -> str:
        upos = PTB_TO_UPOS.get(ptb[:1], "VERB")
        return (lemminflect.getLemma(word, upos=upos) or (word,))[0]

    def lemminflect_verb(word: str, ptb: str) -> str:
        return (lemminflect.getLemma(word, upos="VERB") or (word,))[0]

    return {
        "lowercased word (baseline)": lambda word, ptb: word.lower(),
        "simplemma 2.0 (en)": lambda word, ptb: simplemma.lemmatize(word, lang="en"),
        "lemminflect 0.2.3, POS from the gold tag": lemminflect_lemma,
        "lemminflect 0.2.3, always VERB": lemminflect_verb,
        "albert_srl.tagging.lemma.lemmatize(word, pos)": lemmatize,
        "albert_srl.tagging.lemma.lemmatize(word) (no POS)": lambda word, ptb: lemmatize(word),
    }


def compare_lemmatizers() -> None:
    predicates = [
        (row[3], row[4], row[7].split(".")[0])
        for rows in read_gold_conll(CORPORA / "ewt" / "dev.gold_conll.gz")
        for row in rows
        if row[7] != "-"
    ]
    verbs = [p for p in predicates if p[1].startswith(("V", "M"))]
    print(f"\n{len(predicates)} predicates ({len(verbs)} with a verb tag) in ewt/dev")
    print("\n| lemmatizer | all predicates (%) | verb-tagged (%) | lemmas/s |")
    print("| --- | ---: | ---: | ---: |")
    for name, lemma in lemmatizers().items():
        start = time.perf_counter()
        right = [lemma(word, ptb).lower() == roleset.lower() for word, ptb, roleset in predicates]
        speed = len(predicates) / (time.perf_counter() - start)
        verb_right = [r for r, p in zip(right, predicates, strict=True) if p[1].startswith(("V", "M"))]
        print(
            f"| {name} | {100 * sum(right) / len(right):.2f} | {100 * sum(verb_right) / len(verbs):.2f} "
            f"| {speed:,.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-lemmas", action="store_true")
    parser.add_argument(
        "--candidate", action="append", help="only the candidates whose name holds this (repeatable)"
    )
    args = parser.parse_args()
    compare_tokenizers(args.candidate)
    if not args.skip_lemmas:
        compare_lemmatizers()


if __name__ == "__main__":
    main()
