"""Lemmas of predicate words as PropBank rolesets spell them (``approved`` -> ``approve``, ``was`` -> ``be``).

LemmInflect does the work (its dictionary and rules ship with the package: no download), chosen by
measurement on the EWT dev predicates (``docs/text.md``). Around it: PropBank's spelling of clitics and
informal forms that EWT splits off (``'s``/``'m``/``'re`` -> ``be``, ``'ve``/``'d`` -> ``have``, ``wan``
of ``wan na`` -> ``want``), lower case, and the rule that a base-form verb (``VB``) is its own lemma.
"""

from __future__ import annotations

from functools import lru_cache

# Clitics and informal verb forms of the EWT tokenization, with the roleset lemma PropBank gives them.
VERB_FORMS = {
    "'s": "be", "s": "be", "'m": "be", "m": "be", "'re": "be", "re": "be", "r": "be", "ar": "be", "ai": "be",
    "'ve": "have", "ve": "have", "v": "have", "'d": "have", "hav": "have",
    "gon": "go", "wan": "want", "ca": "can", "wo": "will",
}  # fmt: skip
# First letter(s) of a Penn Treebank tag -> Universal POS, for LemmInflect.
PTB_TO_UPOS = {"MD": "AUX", "V": "VERB", "N": "NOUN", "J": "ADJ", "R": "ADV"}
UPOS_TAGS = frozenset(
    ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
     "SCONJ", "SYM", "VERB", "X")
)  # fmt: skip
# Without a POS tag, the reading preferred: predicates are mostly verbs.
PREFERENCE = ("VERB", "AUX", "NOUN", "ADJ")


@lru_cache(maxsize=65536)
def lemmatize(word: str, pos: str | None = None) -> str:
    """The lower-case lemma of ``word``; ``pos`` is a Penn Treebank tag (``VBD``), a UPOS tag, or ``None``.

    Without ``pos`` the verb reading wins (``saw`` -> ``see``); a word LemmInflect does not know is
    lemmatized by its rules for unknown words, and as itself when they do not apply.
    """
    form = word.lower().replace("\u2019", "'").replace("`", "'")
    upos = to_upos(pos)
    if form in VERB_FORMS and upos in (None, "VERB", "AUX"):
        return VERB_FORMS[form]
    if pos == "VB":  # the Treebank's base form is the lemma (and "lay"/VB must not become "lie")
        return form
    if upos in (None, "VERB", "AUX", "NOUN", "ADJ"):
        return lemma_of_any_reading(form)
    return form


def lemma_of_any_reading(form: str) -> str:
    """The lemma of ``form`` in the first reading of ``PREFERENCE`` LemmInflect knows, else by OOV rules."""
    # Imported on first need: most predicates get their lemma from the model's own table, and importing
    # lemminflect imports spaCy (for its spaCy extension), which pre-tokenized input never needs.
    import lemminflect

    readings = lemminflect.getAllLemmas(form)
    for upos in PREFERENCE:
        if upos in readings:
            return readings[upos][0].lower()
    guesses = lemminflect.getAllLemmasOOV(form, "VERB")
    return guesses["VERB"][0].lower() if guesses.get("VERB") else form


def to_upos(pos: str | None) -> str | None:
    """A UPOS tag for ``pos`` (Penn Treebank or UPOS): ``None`` stays ``None``, an unknown tag is ``X``."""
    if pos is None or pos in UPOS_TAGS:
        return pos
    for prefix, upos in PTB_TO_UPOS.items():
        if pos.startswith(prefix):
            return upos
    return "X"
