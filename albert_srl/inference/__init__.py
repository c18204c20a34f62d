"""The inference core: tokenizer, encoding, the network (model, layers, crf), the tagger, raw text and
lemmas, and BIO spans. ``from albert_srl import SRLTagger`` is the public way in."""
