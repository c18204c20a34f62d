"""The settings of every command, each declared once (``albert_srl.settings``): the training and pretraining
configs, YAML files read into plain dataclasses and checked before any training starts, and the options
of ``tag``, ``label``, ``tune`` and ``serve`` (whose flags ``cli`` derives from them).

A config is data: every key is a field below, with its default, range and doc (docs/configuration.md).
``--set key=value`` overrides use dotted keys (``encoder.hidden_size=256``) and YAML scalars (``epochs=3``,
``bf16=null``). An unknown key, a wrong type, a value out of range or a missing file raises
``ConfigError`` naming the key, the config file and, where the key came from the file, its line.
Relative paths are taken from the current directory (the repository root for the shipped configs).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from albert_srl.settings import ConfigError, like, load_dataclass, setting

__all__ = [
    "ConfigError",
    "EmbeddingConfig",
    "EncoderConfig",
    "LabelOptions",
    "LossWeights",
    "PretrainConfig",
    "RunConfig",
    "ServeAddress",
    "SilverConfig",
    "SpacyOptions",
    "TagOptions",
    "TrainConfig",
    "TuneOptions",
    "load_config",
    "load_dataclass",
    "load_pretrain_config",
]

PredicateAwareness = Literal["segment", "pair", "indicator"]
Head = Literal["crf", "softmax"]
Device = Literal["cpu", "cuda", "auto"]


@dataclass
class EncoderConfig:
    """The ALBERT encoder, the same description for fine-tuning and for pretraining.

    ``pretrained`` is a local directory (or, for fine-tuning, a hub id when the hub is reachable) holding
    an encoder and its tokenizer (e.g. all-MiniLM-L6-v2 converted by ``albert-srl convert-encoder``); the
    sizes below are then its own (and, for pretraining, its dropout: a pretraining run with ``pretrained``
    continues that encoder's training with its vocabulary). Without it the encoder starts from random
    weights of the sizes given here, and ``tokenizer`` names a tokenizer directory. When that is unset, a
    SentencePiece model of ``vocab_size`` pieces is trained on the run's text (fine-tuning: the training
    words) into ``output_dir/tokenizer``; a pretraining run also trains one into a named ``tokenizer``
    directory that holds none yet.

    The sizes are those of a model's ``config.json`` too (its ``encoder`` section), checked with the
    same ranges when a model directory is loaded.
    """

    pretrained: str | None = setting(None, doc="encoder directory or hub id; its sizes replace those below")
    tokenizer: str | None = setting(
        None, doc="tokenizer directory of a fresh encoder (unset: one is trained)"
    )
    # 8: the least any model directory holds; a vocabulary too small for its text is the tokenizer
    # training's error, which names this key
    vocab_size: int = setting(8000, low=8, high=1_000_000, doc="SentencePiece pieces of a trained tokenizer")
    lowercase: bool = setting(False, doc="lowercase the text before a trained tokenizer sees it")
    embedding_size: int = setting(128, low=1, high=16_384, doc="width of the (factorised) word embeddings")
    hidden_size: int = setting(256, low=1, high=16_384, doc="width of the encoder's hidden states")
    num_hidden_layers: int = setting(4, low=1, high=128, doc="encoder layers")
    num_attention_heads: int = setting(4, low=1, high=256, doc="attention heads; they divide hidden_size")
    intermediate_size: int = setting(1024, low=1, high=65_536, doc="width of the feed-forward layers")
    num_hidden_groups: int = setting(1, low=1, high=128, doc="groups of shared layer weights (ALBERT: 1)")
    max_position_embeddings: int = setting(512, low=8, high=65_536, doc="longest window in subwords")
    # ALBERT v2 fine-tunes with none
    dropout: float = setting(0.0, low=0, high=0.99, doc="hidden and attention dropout of a fresh encoder")

    def albert_config(self, vocab_size: int) -> dict[str, Any]:
        """``AlbertConfig`` keyword arguments of a fresh encoder with a ``vocab_size``-piece vocabulary."""
        sizes = {name: getattr(self, name) for name in ALBERT_SIZES}
        return {
            **sizes,
            "vocab_size": vocab_size,
            "hidden_dropout_prob": self.dropout,
            "attention_probs_dropout_prob": self.dropout,
        }


ALBERT_SIZES = (
    "embedding_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "num_hidden_groups",
    "max_position_embeddings",
)


@dataclass
class LossWeights:
    """Weights of the losses in the training objective."""

    argument: float = setting(1.0, low=0, doc="argument tagging (the CRF's negative log-likelihood)")
    sense: float = setting(1.0, low=0, doc="predicate sense classification")
    predicate: float = setting(1.0, low=0, doc="predicate identification")
    syntax: float = setting(
        0.0, low=0, doc="> 0 adds an auxiliary part-of-speech head trained on the corpus's gold POS column"
    )


@dataclass
class EmbeddingConfig:
    """The subword-vector step (``albert-srl pretrain --stage embeddings``): gensim ``Word2Vec`` settings
    and how the vectors enter the encoder."""

    epochs: int = setting(1, low=1, doc="passes over the text")
    window: int = setting(5, low=1, doc="context words on each side")
    negative: int = setting(5, low=0, doc="negative samples")
    min_count: int = setting(3, low=1, doc="rarer pieces get no vector of their own")
    skip_gram: bool = setting(
        True, doc="skip-gram: better vectors for rare pieces than CBOW, at about 3x the time"
    )
    scale: Literal["init", "none"] = setting(
        "init", doc="init: vectors rescaled to the encoder's initialisation; none: raw"
    )
    workers: int = setting(2, low=1, high=1024, doc="gensim worker threads")


# The most a learning rate or a weight decay may be. AdamW moves a weight by about the learning rate a step,
# so a rate near 1 already diverges; far beyond this one the optimizer's own arithmetic overflows float32
# (a rate of 1e38 was a traceback inside AdamW, not a diverged run).
MAX_RATE = 1000


# Tagging's batch budget by device, where none is given. On the CPU 2048 was the fastest on two threads
# (docs/benchmarks.md, "The batch budget": larger batches' activations outgrow the caches); a GPU keeps
# the 8192 it was measured with.
CPU_MAX_TOKENS = 2048
GPU_MAX_TOKENS = 8192


@dataclass(kw_only=True)
class TagOptions:
    """How ``tag`` (and ``SRLTagger.tag_stream``) batches a stream of sentences."""

    batch_size: int = setting(64, low=1, high=1_000_000, doc="sentences tagged together")
    # The batch budget, declared here once: training, dev scoring and pretraining share its range.
    max_tokens: int | None = setting(
        None,
        low=1,
        doc=f"subwords in one forward pass (null: {CPU_MAX_TOKENS} on the CPU, {GPU_MAX_TOKENS} on a GPU)",
    )
    max_words: int = setting(
        512, low=1, doc="longer sentences are reported and skipped: time and memory grow with its square"
    )


@dataclass(kw_only=True)
class LabelOptions:
    """How ``label`` (``albert_srl.tagging.label``) writes silver frames of raw text (docs/silver.md)."""

    format: Literal["conll12", "jsonl"] = setting(
        "conll12", doc="conll12: what train reads; jsonl: keeps the probabilities (for silver.min_confidence)"
    )
    min_confidence: float | None = setting(
        None,
        low=0,
        high=1,
        doc="keep a sentence only if every frame's confidence (its probability times its predicate's) "
        "reaches this; a sentence without frames is kept",
    )
    max_documents: int | None = setting(None, low=1, doc="stop after this many documents")
    max_sentences: int | None = setting(
        None, low=1, doc="stop after the document that brings the sentences written to this many"
    )
    title_lines: bool = setting(
        False, doc="the first line of each blank-line-separated block is a title, left out (Wikipedia)"
    )
    batch_documents: int = setting(
        8, low=1, high=100_000, doc="documents tagged together; the progress is recorded after each batch"
    )
    max_tokens: int | None = like(TagOptions, "max_tokens")
    max_words: int = like(
        TagOptions,
        "max_words",
        200,
        doc="longer sentences are left out (and counted): lists and tables run together teach little",
    )


@dataclass(kw_only=True)
class RunConfig:
    """What every training run has, fine-tuning or pretraining: where it runs, for how long, how it is
    optimized and checkpointed. The runtime in ``albert_srl.training`` reads these."""

    seed: int = setting(13, low=0, high=2**32 - 1, doc="seed of every random draw of the run")
    weight_decay: float = setting(
        0.01, low=0, high=MAX_RATE, doc="AdamW weight decay (not of biases and norms)"
    )
    grad_clip: float = setting(1.0, low=0, doc="gradient norm clipping")
    max_steps: int | None = setting(None, low=1, doc="stop after this many optimizer steps")
    max_minutes: float | None = setting(
        None, low=0, doc="wall-clock budget: stop cleanly, checkpoint and export at the deadline"
    )
    checkpoint_every: int | None = setting(
        None, low=0, doc="optimizer steps between checkpoints; null or 0: none"
    )
    num_threads: int | None = setting(None, low=1, high=1024, doc="torch CPU threads (null: torch's choice)")
    device: Device = setting("auto", doc="auto: CUDA when there is a GPU, else the CPU")
    bf16: bool | None = setting(None, doc="bfloat16 autocast; null: on when training on CUDA")
    output_dir: str = setting(doc="where the run's model (or encoder), checkpoints and logs go")
    encoder: EncoderConfig = setting(factory=EncoderConfig, doc="the encoder")


@dataclass
class SilverConfig:
    """Silver training data: sentences a model labelled (``albert-srl label``, docs/silver.md), trained on
    beside the gold ``train_path`` in one shuffled stream. Labels and senses come from both; the lemma
    table and the predicates' part-of-speech tags from the gold data alone."""

    path: list[str] = setting(
        factory=list, doc="silver files, in any format the readers read (jsonl keeps the probabilities)"
    )
    weight: float = setting(
        1.0, low=0, doc="loss weight of a silver sentence (a gold one's is 1): a weighted mean in each batch"
    )
    max_sentences: int | None = setting(
        None, low=1, doc="take whole documents from the start of the silver until this many sentences"
    )
    min_confidence: float | None = setting(
        None,
        low=0,
        high=1,
        doc="keep a silver sentence only if every frame's confidence reaches this (needs probabilities)",
    )


@dataclass(kw_only=True)
class TrainConfig(RunConfig):
    """Everything ``train`` needs; the YAML file's keys are these fields (and ``RunConfig``'s).

    ``checkpoint_every`` adds step checkpoints to the one written after every epoch.
    """

    train_path: str = setting(doc="training corpus (any supported format)")
    dev_path: str = setting(doc="development corpus, scored after every epoch")
    predicate_awareness: PredicateAwareness | None = setting(
        None,
        doc="how early fusion tells the encoder the predicate: segment ids, a word pair or an indicator; "
        "null: segment where the encoder has two token types, else indicator",
    )
    fusion_layers: int | None = setting(
        None,
        low=0,
        high=128,
        doc="top encoder layers run once per predicate (the rest once per sentence); null: all of them",
    )
    head: Head = setting("crf", doc="argument tagging: constrained CRF or softmax")
    max_length: int = setting(256, low=8, high=65_536, doc="subwords per encoder window")
    stride: int = setting(128, low=0, high=65_536, doc="subwords of overlap between windows")
    epochs: int = setting(10, low=1, doc="passes over the training data")
    max_tokens: int = like(TagOptions, "max_tokens", 4096, doc="padded subwords of one training batch")
    encoder_lr: float = setting(5e-5, low=0, high=MAX_RATE, doc="peak learning rate of the encoder")
    layer_lr_decay: float = setting(
        1.0,
        low=0,
        high=1,
        doc="layer-wise learning-rate decay: the encoder's top layer learns at encoder_lr, each layer "
        "below at this factor of the one above, the embeddings last; 1: one rate",
    )
    head_lr: float = setting(1e-3, low=0, high=MAX_RATE, doc="peak learning rate of the heads")
    warmup_ratio: float = setting(0.1, low=0, high=1, doc="share of the steps the learning rate warms up")
    dropout: float = setting(0.1, low=0, high=0.99, doc="dropout on the word states the heads read")
    patience: int = setting(3, low=1, doc="epochs without a better dev F1 before stopping")
    predicate_identification: bool = setting(True, doc="train the predicate-identification head")
    loss_weights: LossWeights = setting(factory=LossWeights, doc="the losses' weights")
    max_train_sentences: int | None = setting(None, low=1, doc="read only the first N training sentences")
    max_dev_sentences: int | None = setting(None, low=1, doc="read only the first N dev sentences")
    eval_max_tokens: int | None = like(
        TagOptions, "max_tokens", doc="subwords in one forward pass when scoring dev (null: as tag's)"
    )
    silver: SilverConfig = setting(factory=SilverConfig, doc="silver training data beside train_path")
    init_model: str | None = setting(
        None,
        doc="a trained albert-srl model (directory or hub id) whose weights and tokenizer start the run "
        "(continued training); its architecture and label sets are kept, so the encoder, awareness, "
        "fusion, head, window and dropout settings are its own",
    )


@dataclass(kw_only=True)
class PretrainConfig(RunConfig):
    """Everything ``pretrain`` needs; the YAML file's keys are these fields (and ``RunConfig``'s)."""

    # Plain ``list`` (of path strings): values are checked with ``isinstance``.
    text_paths: list[str] = setting(doc="text files (.gz, .bz2, .xz too) to pretrain on")
    text_conll: list[str] = setting(
        factory=list,
        doc="CoNLL files whose sentences are pretraining text too, a document per CoNLL document "
        "(self-pretraining); never a dev or test file",
    )
    allow_eval_files: bool = setting(
        False, doc="true: take text_conll and vocab_conll files whose names say dev or test"
    )
    title_lines: bool = setting(
        False, doc="the first line of each blank-line-separated block is a title, left out (WikiExtractor)"
    )
    text_source: str | None = setting(None, doc="what the text is and its licence, for the model card")
    vocab_paragraphs: int = setting(200_000, low=1, doc="paragraphs of the text the tokenizer is trained on")
    vocab_conll: list[str] = setting(factory=list, doc="CoNLL files whose words join the vocabulary text")
    packed_dir: str | None = setting(
        None, doc="packed text (null: output_dir/packed); packed there when absent"
    )
    max_documents: int | None = setting(None, low=1, doc="documents read per text file (small runs, tests)")
    min_words: int = setting(5, low=0, doc="shorter paragraphs (titles, list items, fragments) are dropped")
    shard_tokens: int = setting(10_000_000, low=1, doc="subwords per packed shard")
    max_length: int = like(
        TrainConfig, "max_length", 128, doc="subwords of a pair, [CLS] and two [SEP] included"
    )
    short_seq_prob: float = setting(0.1, low=0, high=1, doc="share of pairs made shorter than max_length")
    mask_prob: float = setting(0.15, low=0.001, high=0.999, doc="share of subwords masked")
    max_ngram: int = setting(3, low=1, high=10, doc="longest masked n-gram (ALBERT's n-gram masking)")
    eval_documents: int = setting(200, low=0, doc="the corpus's last documents, held out (at most a tenth)")
    max_tokens: int = like(TagOptions, "max_tokens", 8192, doc="padded subwords of one batch")
    max_steps: int = like(RunConfig, "max_steps", 10_000)
    learning_rate: float = setting(1e-3, low=0, high=MAX_RATE, doc="peak learning rate")
    warmup_steps: int = setting(500, low=0, doc="optimizer steps of linear warm-up")
    checkpoint_every: int | None = like(RunConfig, "checkpoint_every", 500)
    log_every: int = setting(50, low=1, doc="optimizer steps between log lines")
    compile: bool = setting(False, doc="torch.compile the encoder (CUDA runs)")
    embeddings: EmbeddingConfig = setting(factory=EmbeddingConfig, doc="the subword-vector step")
    deadline_schedule: bool = setting(
        False,
        doc="with max_minutes, the learning rate decays to 0 at the deadline or max_steps, whichever "
        "comes first (a run sized by time; its resume is not step-exact)",
    )


@dataclass(kw_only=True)
class SpacyOptions:
    """The ``albert_srl`` spaCy component's config (``nlp.add_pipe("albert_srl", config={...})``)."""

    model: str | None = setting(
        None, doc="model directory or hub id (null: the model shipped in the package)"
    )
    batch_words: int = setting(
        2048,
        low=1,
        high=1_000_000,
        doc="words of the docs tagged together (nlp.pipe's batches are cut to this; a longer doc goes alone)",
    )
    max_tokens: int | None = like(TagOptions, "max_tokens")
    device: Device = like(RunConfig, "device")


@dataclass(kw_only=True)
class TuneOptions:
    """How ``tune`` runs a study (docs/tuning.md); the keys it searches are ``TrainConfig``'s."""

    trials: int = setting(low=0, doc="trials this command runs")
    output: str = setting("runs/tune", doc="output directory")
    storage: str | None = setting(None, doc="Optuna database URL (null: sqlite:///OUTPUT/study.db)")
    study: str | None = setting(None, doc="study name (null: the config file's name)")
    objectives: Literal["f1", "f1,speed"] = setting(
        "f1", doc="f1: maximise dev F1 (TPE + pruning); f1,speed: dev F1 and CPU tagging speed (NSGA-II)"
    )
    pruner: Literal["median", "hyperband", "none"] = setting(
        "median", doc="stops a hopeless trial after an epoch (one objective only)"
    )
    max_minutes: float | None = setting(None, low=0, doc="start no new trial after this many minutes")
    heartbeat: int = setting(
        60,
        low=1,
        doc="seconds; a trial silent for twice this long (its worker died) is failed and retried once",
    )


@dataclass(kw_only=True)
class ServeAddress:
    """Where ``serve`` listens (its limits are ``ServeLimits``)."""

    host: str = setting("127.0.0.1", doc="interface to listen on (loopback only by default)")
    port: int = setting(8000, low=0, high=65_535, doc="TCP port (0: any free one)")


def check_encoder_sizes(config: TrainConfig | PretrainConfig, source: str) -> None:
    """The checks that span keys: those of ``check_encoder_shape``, and a window that fits the position
    embeddings (of a fresh encoder: a pretrained one brings its own sizes)."""
    encoder = config.encoder
    check_encoder_shape({name: getattr(encoder, name) for name in ALBERT_SIZES}, source)
    if encoder.pretrained is None and config.max_length > encoder.max_position_embeddings:
        message = (
            f"max_length ({config.max_length}) exceeds encoder.max_position_embeddings "
            f"({encoder.max_position_embeddings})"
        )
        raise ConfigError(source, None, message)


def check_encoder_shape(sizes: Mapping[str, Any], source: str, prefix: str = "encoder.") -> None:
    """Attention heads divide the hidden size, and groups of shared layers are at most the layers: of a
    config's encoder, a model directory's and an encoder directory's (keys without ``prefix``) alike."""
    hidden, heads = sizes["hidden_size"], sizes["num_attention_heads"]
    if hidden % heads:
        message = (
            f"{prefix}hidden_size ({hidden}) must be a multiple of {prefix}num_attention_heads ({heads})"
        )
        raise ConfigError(source, None, message)
    if sizes["num_hidden_groups"] > sizes["num_hidden_layers"]:
        message = f"{prefix}num_hidden_groups must be at most {prefix}num_hidden_layers"
        raise ConfigError(source, None, message)


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read a training config from YAML, apply ``key=value`` overrides and check that its files exist.

    Raises ``ConfigError`` (an ``SRLFormatError``) naming the config file and the bad key.
    """
    config = load_dataclass(TrainConfig, path, overrides)
    refuse_shipped_encoder(config.encoder, str(path))
    check_encoder_sizes(config, str(path))
    check_paths(config, str(path))
    refuse_evaluation_silver(config, str(path))
    return config


def load_pretrain_config(path: str | Path, overrides: Sequence[str] = ()) -> PretrainConfig:
    """Read a pretraining config from YAML with dotted ``key=value`` overrides; check its input files."""
    config = load_dataclass(PretrainConfig, path, overrides)
    refuse_shipped_encoder(config.encoder, str(path))
    source = str(path)
    if not config.text_paths and not config.text_conll:
        raise ConfigError(source, None, "text_paths and text_conll are both empty: no text to learn from")
    if not config.allow_eval_files:
        refuse_evaluation_splits(config, source)
    for text in _text_to_read(config):
        if not Path(text).exists():
            raise ConfigError(source, None, f"no such file: {text}")
    positions = config.encoder.max_position_embeddings
    if config.encoder.pretrained is not None:
        positions = _pretrained_positions(config, source)
    if config.max_length > positions:
        raise ConfigError(
            source, None, f"max_length exceeds the encoder's max_position_embeddings ({positions})"
        )
    check_encoder_sizes(config, source)
    if config.max_tokens < config.max_length:
        raise ConfigError(source, None, "max_tokens must hold at least one max_length pair")
    return config


# A file name's words (split at anything not a letter or digit) that say it is an evaluation split:
# ``en_ewt-ud-dev.conllu``, ``test.conll``, ``dev.gold_conll.gz``; not ``latest_train.conllu``.
EVALUATION_SPLITS = frozenset({"dev", "devel", "development", "test", "testing", "validation"})


def is_evaluation_split(path: str | Path) -> bool:
    """Whether the file's name says it is a dev or test split: training on (or pretraining on, or labelling
    silver frames of) the text a model is scored on would flatter its scores."""
    return bool(EVALUATION_SPLITS & set(re.split(r"[^a-z0-9]+", Path(path).name.lower())))


def refuse_evaluation_splits(config: PretrainConfig, source: str) -> None:
    """Refuse a pretraining CoNLL file whose name says it is a dev or test split, unless
    ``allow_eval_files`` says it is not."""
    for key, paths in (("vocab_conll", config.vocab_conll), ("text_conll", config.text_conll)):
        for conll in paths:
            if is_evaluation_split(conll):
                message = (
                    f"{key} names what looks like a dev or test split: {conll} (if it is not evaluation "
                    "data, set allow_eval_files to true)"
                )
                raise ConfigError(source, None, message)


def _text_to_read(config: PretrainConfig) -> list[str]:
    """The text files a pretraining run will read: none of ``text_paths`` once ``packed_dir`` holds a
    packing (a GPU machine gets the packing alone), no ``vocab_conll`` when the vocabulary exists."""
    packed = config.packed_dir is not None and (Path(config.packed_dir) / "manifest.json").exists()
    tokenizer = config.encoder.pretrained or config.encoder.tokenizer
    has_vocabulary = tokenizer is not None and (Path(tokenizer) / "spiece.model").exists()
    text = [*config.text_paths, *config.text_conll]
    return [*([] if packed else text), *([] if has_vocabulary else config.vocab_conll)]


def _pretrained_positions(config: PretrainConfig, source: str) -> int:
    """``max_position_embeddings`` of the encoder a pretraining run continues (a local directory)."""
    directory = Path(config.encoder.pretrained or "")
    if config.encoder.tokenizer is not None:
        raise ConfigError(source, None, "encoder.tokenizer: a continued encoder keeps its own tokenizer")
    try:
        settings = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(
            source, None, f"encoder.pretrained: no encoder directory (config.json) at {directory}: {error}"
        ) from error
    if settings.get("model_type") != "albert":
        raise ConfigError(source, None, f"encoder.pretrained: {directory} holds no ALBERT encoder")
    return int(settings.get("max_position_embeddings", 512))


# ``encoder.pretrained: shipped`` named a pretrained (word2vec) encoder in the package until the shipped
# model moved to all-MiniLM-L6-v2 (2026-12); the name now says where a start comes from instead.
SHIPPED_ENCODER = "shipped"


def refuse_shipped_encoder(encoder: EncoderConfig, source: str) -> None:
    if encoder.pretrained == SHIPPED_ENCODER:
        raise ConfigError(
            source,
            None,
            "encoder.pretrained: shipped: the package no longer holds a separate pretrained encoder; "
            "convert all-MiniLM-L6-v2 with albert-srl convert-encoder (docs/model.md) and name its directory",
        )


def check_paths(config: TrainConfig, source: str) -> None:
    """Fail before training when a data file or a local encoder/tokenizer directory is missing."""
    required = {"train_path": config.train_path, "dev_path": config.dev_path}
    if config.encoder.tokenizer is not None:
        required["encoder.tokenizer"] = config.encoder.tokenizer
    if config.encoder.pretrained is not None and _looks_local(config.encoder.pretrained):
        required["encoder.pretrained"] = config.encoder.pretrained
    if config.init_model is not None and _looks_local(config.init_model):
        required["init_model"] = config.init_model
    for key, value in required.items():
        if not Path(value).exists():
            raise ConfigError(source, None, f"{key}: no such file or directory: {value}")
    for silver in config.silver.path:
        if not Path(silver).is_file():
            raise ConfigError(source, None, f"silver.path: no such file: {silver}")


def refuse_evaluation_silver(config: TrainConfig, source: str) -> None:
    """Silver frames of the dev or test text would teach the model what it is scored on: refuse a silver
    file that is ``dev_path`` or whose name says it is an evaluation split."""
    for silver in config.silver.path:
        if Path(silver).samefile(config.dev_path):
            raise ConfigError(source, None, f"silver.path: {silver} is dev_path: never train on the dev text")
        if is_evaluation_split(silver):
            message = f"silver.path names what looks like a dev or test split: {silver} (rename it if not)"
            raise ConfigError(source, None, message)


def _looks_local(name: str) -> bool:
    """A hub id is ``name`` or ``owner/name``; anything that exists or looks like a path is local."""
    return Path(name).exists() or name.startswith((".", "/", "~")) or name.count("/") > 1
