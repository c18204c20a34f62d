"""albert-srl: PropBank semantic role labelling with a small, fast ALBERT model."""

from albert_srl.data import Argument, Frame, Predicate, Sentence
from albert_srl.errors import SRLFormatError

__version__ = "0.1.0"
__all__ = ["Argument", "Frame", "Predicate", "SRLFormatError", "Sentence", "__version__"]
