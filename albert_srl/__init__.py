"""albert-srl: PropBank semantic role labelling with a small, fast ALBERT model.

``from albert_srl import SRLTagger`` is the entry point. The names that need torch and transformers are
imported on first use (PEP 562), so ``import albert_srl`` and the data classes stay cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from albert_srl.data import Argument, Frame, Predicate, Sentence
from albert_srl.errors import SRLFormatError

if TYPE_CHECKING:
    from albert_srl.formats import convert, read, write
    from albert_srl.tagging.tagger import SRLTagger
    from albert_srl.tagging.text import split_text

__version__ = "0.1.0"

# Public name -> the module that defines it, imported when the name is first used.
LAZY = {
    "SRLTagger": "albert_srl.tagging.tagger",
    "read": "albert_srl.formats",
    "write": "albert_srl.formats",
    "convert": "albert_srl.formats",
    "split_text": "albert_srl.tagging.text",
}

__all__ = [
    "Argument",
    "Frame",
    "Predicate",
    "SRLFormatError",
    "SRLTagger",
    "Sentence",
    "__version__",
    "convert",
    "read",
    "split_text",
    "write",
]


def __getattr__(name: str) -> Any:
    if name not in LAZY:
        raise AttributeError(f"module 'albert_srl' has no attribute {name!r}")
    value = getattr(import_module(LAZY[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
