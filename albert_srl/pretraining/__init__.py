"""Pretraining our own ALBERT encoder on unlabeled text (masked LM + sentence-order prediction), on the
training runtime of ``albert_srl.training``.

- ``corpus``: documents, sentences, the SentencePiece vocabulary, packing into uint16 shards;
- ``instances``: sentence-order pairs, n-gram masking, batches;
- ``run``: ``pretrain(config)``, its loss and held-out accuracy;
- ``export``: ``export_encoder`` writes the encoder as a Hugging Face ALBERT directory with its card;
- ``embeddings``: ``pretrain_embeddings(config)``, word2vec subword vectors in a fresh encoder's embedding.
"""

from albert_srl.pretraining.embeddings import pretrain_embeddings
from albert_srl.pretraining.export import export_encoder
from albert_srl.pretraining.run import pretrain

__all__ = ["export_encoder", "pretrain", "pretrain_embeddings"]
