"""Pretrained subword vectors for ALBERT's factorized embedding, learned by word2vec on a CPU in minutes.

ALBERT's input embedding is a (vocabulary x ``embedding_size``) table projected up to the hidden size:
the shape of what word2vec learns. ``pretrain_embeddings`` (``albert-srl pretrain --stage embeddings``)
trains skip-gram vectors of that size with gensim over the packed pretraining text (token ids of the
encoder's own SentencePiece vocabulary) and the words of the ``vocab_conll`` training files, writes them
into a fresh ALBERT's ``word_embeddings`` and exports that encoder: ``albert-srl train`` takes it as
``encoder.pretrained``, and masked-LM pretraining can continue from it.

By default the vectors are centred and rescaled to the encoder's initialisation scale
(``initializer_range``): raw word2vec vectors are an order of magnitude larger than the rest of a freshly
initialised transformer, which is reported to hurt (``embeddings.scale: none`` keeps them raw, for the
comparison in docs/model.md). Pieces the text never showed keep their random initialisation.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm
from transformers import AlbertForPreTraining

from albert_srl.config import EmbeddingConfig, PretrainConfig
from albert_srl.errors import SRLFormatError
from albert_srl.model.tokenizer import Tokenizer, load_tokenizer
from albert_srl.pretraining.corpus import Corpus, conll_lines, prepare_corpus, prepare_tokenizer
from albert_srl.pretraining.export import add_run, data_section, export_encoder
from albert_srl.pretraining.run import albert_config, held_out_documents
from albert_srl.training.runtime import seed_everything

TokenIds = Sequence[int] | np.ndarray  # a sentence's ids: a list, or a slice of the packed corpus

log = logging.getLogger(__name__)


@dataclass
class VectorReport:
    """What the vectors were learnt from, for the model card."""

    sentences: int
    tokens: int
    pieces_learnt: int
    vocab_size: int
    seconds: float


def pretrain_embeddings(config: PretrainConfig) -> Path:
    """Learn subword vectors for a fresh encoder of ``config``'s size and export it to ``output_dir``.

    The vocabulary and the packed corpus are made first when their directories hold none (as for
    ``pretrain``); the documents ``pretrain`` holds out for its evaluation are left out here too.
    """
    if config.encoder.pretrained is not None:
        raise SRLFormatError(config.output_dir, None, "the embeddings stage starts from a fresh encoder")
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    tokenizer_dir = prepare_tokenizer(config)
    tokenizer = load_tokenizer(tokenizer_dir)
    corpus = prepare_corpus(config, tokenizer_dir)
    training = range(corpus.documents - held_out_documents(config, corpus))
    seed_everything(config.seed)
    model = AlbertForPreTraining(albert_config(config, tokenizer, torch.device("cpu")))
    lines: Iterator[TokenIds] = chain(
        corpus_sentences(corpus, training), conll_token_ids(config.vocab_conll, tokenizer)
    )
    embedding = model.albert.embeddings.word_embeddings
    matrix, report = subword_vectors(
        lines, embedding.weight, model.config.initializer_range, config.embeddings, config.seed
    )
    with torch.no_grad():
        embedding.weight.copy_(matrix)
    card = embeddings_card(config, report)
    run = {
        "stage": "embeddings (word2vec)",
        "steps": 0,
        "tokens_seen": 0,  # masked-LM tokens: none yet
        "seconds": report.seconds,
        "word2vec_tokens": report.tokens,
        "text": [*config.text_paths, *config.text_conll, *config.vocab_conll],
    }
    return export_encoder(model, tokenizer, card, config.output_dir, record=add_run({}, run))


def corpus_sentences(corpus: Corpus, documents: range) -> Iterator[np.ndarray]:
    """The token ids of each sentence of ``documents`` of a packed corpus."""
    first, last = corpus.document_starts[documents.start], corpus.document_starts[documents.stop]
    starts = corpus.sentence_starts
    for sentence in range(first, last):
        yield corpus.ids[starts[sentence] : starts[sentence + 1]]


def conll_token_ids(paths: Sequence[str], tokenizer: Tokenizer) -> Iterator[list[int]]:
    """The token ids of every sentence of CoNLL training files (their words, space-joined)."""
    lines = list(conll_lines(paths))
    yield from tokenizer.encode_texts(lines) if lines else []


def subword_vectors(
    token_lines: Iterable[TokenIds],
    initial: torch.Tensor,
    init_std: float,
    settings: EmbeddingConfig,
    seed: int,
) -> tuple[torch.Tensor, VectorReport]:
    """Train word2vec on ``token_lines``; return ``initial`` (vocab, E) with the learnt rows replaced."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="albert-srl-w2v-") as scratch:
        corpus_file = Path(scratch) / "tokens.txt"
        sentences, tokens = write_token_lines(token_lines, corpus_file)
        if sentences == 0:
            raise SRLFormatError(str(corpus_file), None, "no text to learn subword vectors from")
        log.info("word2vec on %d sentences, %d tokens", sentences, tokens)
        vectors = train_vectors(corpus_file, initial.shape[1], settings, seed)
    matrix, learnt = embedding_matrix(vectors, initial, settings.scale, init_std)
    report = VectorReport(sentences, tokens, learnt, initial.shape[0], time.monotonic() - started)
    return matrix, report


def write_token_lines(lines: Iterable[TokenIds], path: Path) -> tuple[int, int]:
    """One sentence a line, its token ids as words: gensim's ``corpus_file`` format, which lets its
    workers run without the GIL (several times faster than Python lists). Returns (sentences, tokens)."""
    sentences = tokens = 0
    with path.open("w", encoding="ascii") as out:
        for ids in tqdm(lines, desc="word2vec text", unit=" sentences", disable=None):
            if len(ids) > 1:
                out.write(" ".join(map(str, ids)) + "\n")
                sentences += 1
                tokens += len(ids)
    return sentences, tokens


def train_vectors(corpus_file: Path, dimensions: int, settings: EmbeddingConfig, seed: int) -> Any:
    """Skip-gram (or CBOW) vectors of the token ids in ``corpus_file``, as gensim ``KeyedVectors``."""
    from gensim.models import Word2Vec  # only this step needs gensim
    from gensim.models.callbacks import CallbackAny2Vec

    logging.getLogger("gensim").setLevel(logging.WARNING)  # its INFO lines would drown the progress bar

    class EpochBar(CallbackAny2Vec):  # gensim reports progress through callbacks
        def __init__(self) -> None:
            self.bar = tqdm(total=settings.epochs, desc="word2vec", unit=" epochs", disable=None)

        def on_epoch_end(self, model: Any) -> None:
            self.bar.update(1)

        def on_train_end(self, model: Any) -> None:
            self.bar.close()

    model = Word2Vec(
        corpus_file=str(corpus_file),
        vector_size=dimensions,
        window=settings.window,
        negative=settings.negative,
        min_count=settings.min_count,
        sg=1 if settings.skip_gram else 0,
        epochs=settings.epochs,
        workers=settings.workers,
        seed=seed,
        callbacks=[EpochBar()],
    )
    return model.wv


def embedding_matrix(
    vectors: Any, initial: torch.Tensor, scale: str, init_std: float
) -> tuple[torch.Tensor, int]:
    """``initial`` with the rows of the pieces word2vec learnt replaced; returns (matrix, rows replaced).

    ``scale="init"`` centres the learnt vectors and gives their entries the standard deviation of the
    encoder's initialisation, ``init_std``.
    """
    ids = np.array([int(key) for key in vectors.index_to_key], dtype=np.int64)
    learnt = np.asarray(vectors.vectors, dtype=np.float32)
    keep = ids < initial.shape[0]
    ids, learnt = ids[keep], learnt[keep]
    if scale == "init":
        learnt = learnt - learnt.mean(axis=0, keepdims=True)
        learnt = learnt * (init_std / max(float(learnt.std()), 1e-12))
    matrix = initial.detach().clone()
    matrix[torch.from_numpy(ids)] = torch.from_numpy(learnt).to(matrix.dtype)
    return matrix, len(ids)


def embeddings_card(config: PretrainConfig, report: VectorReport) -> str:
    """The README.md of an encoder whose only pretrained part is its subword embedding."""
    e, w = config.encoder, config.embeddings
    method = "skip-gram" if w.skip_gram else "CBOW"
    scaling = "rescaled to the encoder's initialisation scale" if w.scale == "init" else "unscaled"
    return f"""# ALBERT with word2vec subword embeddings (albert-srl pretrain --stage embeddings)

A fresh ALBERT encoder whose input embedding (`word_embeddings`, {report.vocab_size} x {e.embedding_size})
holds gensim {method} vectors of its own SentencePiece pieces, {scaling}. Its transformer layers are
random: masked-LM pretraining
(`albert-srl pretrain` with `encoder.pretrained` set to this directory) or fine-tuning (`albert-srl train`
with the same setting) starts from here.

| | |
| --- | --- |
| embedding / hidden / layers (groups) / heads / FFN | {e.embedding_size} / {e.hidden_size} / \
{e.num_hidden_layers} ({e.num_hidden_groups}) / {e.num_attention_heads} / {e.intermediate_size} |
| word2vec | {method}, window {w.window}, {w.negative} negative samples, {w.epochs} epoch(s), \
min count {w.min_count} |
| text | {report.sentences:,} sentences, {report.tokens:,} tokens |
| pieces with learnt vectors | {report.pieces_learnt:,} of {report.vocab_size:,} |
| wall time | {report.seconds / 60:.1f} min |

## Data

{data_section(config)}
"""
