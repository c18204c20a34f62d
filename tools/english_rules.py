"""Record spaCy's English tokenizer and sentencizer rules in ``albert_srl/tagging/english_rules.json``.

``albert_srl.tagging.words`` splits raw text by these rules without importing spaCy. Run this after a
spaCy upgrade whose English rules changed (``tests/test_words.py`` compares the file with the installed
spaCy's rules and its output with spaCy's):

    python tools/english_rules.py
"""

from __future__ import annotations

import importlib.metadata
import json
import re
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).resolve().parents[1] / "albert_srl" / "tagging" / "english_rules.json"


def pattern_of(bound_method: Any) -> dict[str, Any]:
    """The source and flags of the compiled regex whose ``search``/``match``/``finditer`` spaCy holds."""
    compiled: re.Pattern[str] = bound_method.__self__
    return {"pattern": compiled.pattern, "flags": compiled.flags & ~re.UNICODE}


def spacy_license() -> str:
    """spaCy's license text (MIT), which travels with its rules."""
    files = importlib.metadata.distribution("spacy").files or []
    license_file = next(
        f for f in files if f.name == "LICENSE" and f.parent.name.endswith((".dist-info", "licenses"))
    )
    return license_file.read_text(encoding="utf-8")


def spacy_english_rules() -> dict[str, Any]:
    """The rules of ``spacy.blank("en")``'s tokenizer and of spaCy's rule-based sentencizer, as JSON."""
    import spacy
    from spacy.pipeline.sentencizer import Sentencizer
    from spacy.symbols import ORTH

    tokenizer: Any = spacy.blank("en").tokenizer
    # The pure-Python tokenizer follows spaCy's algorithm for what English uses, and no more.
    assert tokenizer.token_match is None and tokenizer.faster_heuristics, "English's tokenizer changed"
    return {
        "spacy_version": spacy.__version__,
        "license": spacy_license(),
        "prefix": pattern_of(tokenizer.prefix_search),
        "suffix": pattern_of(tokenizer.suffix_search),
        "infix": pattern_of(tokenizer.infix_finditer),
        "url": pattern_of(tokenizer.url_match),
        "special_cases": {
            text: [token[ORTH] for token in tokens] for text, tokens in sorted(tokenizer.rules.items())
        },
        "sentence_ends": sorted(Sentencizer.default_punct_chars),
    }


def main() -> None:
    text = json.dumps(spacy_english_rules(), ensure_ascii=False, indent=0)
    OUTPUT.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
