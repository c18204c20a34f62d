"""Tagging with a trained model: ``text`` and ``lemma`` (raw text → words with offsets; rolesets' lemmas),
``tagger`` (``SRLTagger``, the API), ``quantize`` (int8 on the CPU). ``from albert_srl import SRLTagger``
is the public way in."""
