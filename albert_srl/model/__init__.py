"""The network, shared by training and tagging, in the order data flows through it: ``tokenizer`` (words
→ subwords), ``encoding`` (sentences and their predicates → batches, gold tags included), ``encoder``
(ALBERT in plain torch; ``albert_form`` loads other architectures into it, ``hub`` finds a directory),
``crf`` (the constrained CRF) and ``network`` (``SRLModel``: the encoder, its heads, losses and decoding)."""
