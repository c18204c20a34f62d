"""Training configuration: a YAML file read into plain dataclasses, checked before any training starts.

A config is data: every key is a field below, with its default. ``--set key=value`` overrides use
dotted keys (``encoder.hidden_size=256``) and YAML scalars (``epochs=3``, ``bf16=null``). An unknown key,
a wrong type or a missing file raises ``ConfigError`` naming the key, the config file and, where the key
came from the file, its line. Relative paths are taken from the current directory (the repository root
for the shipped configs).
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from albert_srl.errors import SRLFormatError

T = TypeVar("T")


class ConfigError(SRLFormatError):
    """A config that cannot be used: unknown key, wrong type, missing file. ``path``/``line`` locate it."""


@dataclass
class EncoderConfig:
    """The ALBERT encoder, the same description for fine-tuning and for pretraining.

    ``pretrained`` is a local directory (or, for fine-tuning, a hub id when the hub is reachable) holding
    an encoder and its tokenizer, or ``shipped`` for the pretrained encoder in the package; the sizes
    below are then its own (and, for pretraining, its dropout: a pretraining run with ``pretrained``
    continues that encoder's training with its vocabulary). Without it the encoder starts from random
    weights of the sizes given here, and ``tokenizer`` names a tokenizer directory. When that is unset, a
    SentencePiece model of ``vocab_size`` pieces is trained on the run's text (fine-tuning: the training
    words) into ``output_dir/tokenizer``; a pretraining run also trains one into a named ``tokenizer``
    directory that holds none yet.
    """

    pretrained: str | None = None
    tokenizer: str | None = None
    vocab_size: int = 8000
    lowercase: bool = False
    embedding_size: int = 128
    hidden_size: int = 256
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 1024
    num_hidden_groups: int = 1
    max_position_embeddings: int = 512
    dropout: float = 0.0  # hidden and attention dropout of a fresh encoder (ALBERT v2 fine-tunes with none)

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
    """Weights of the three losses in the training objective."""

    argument: float = 1.0
    sense: float = 1.0
    predicate: float = 1.0
    syntax: float = 0.0  # > 0 adds an auxiliary part-of-speech head trained on the corpus's gold POS column


@dataclass
class EmbeddingConfig:
    """The subword-vector step (``albert-srl pretrain --stage embeddings``): gensim ``Word2Vec`` settings
    and how the vectors enter the encoder."""

    epochs: int = 1
    window: int = 5
    negative: int = 5
    min_count: int = 3
    skip_gram: bool = True  # better vectors for rare pieces than CBOW, at about 3x the time
    scale: Literal["init", "none"] = "init"  # "init": rescaled to the encoder's initialisation; "none": raw
    workers: int = 2


@dataclass(kw_only=True)
class RunConfig:
    """What every training run has, fine-tuning or pretraining: where it runs, for how long, how it is
    optimized and checkpointed. The runtime in ``albert_srl.training`` reads these."""

    seed: int = 13
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    max_steps: int | None = None  # stop after this many optimizer steps
    max_minutes: float | None = None  # wall-clock budget: stop cleanly, checkpoint and export at the deadline
    checkpoint_every: int | None = None  # optimizer steps; None or 0: no step checkpoints
    num_threads: int | None = None
    device: Literal["cpu", "cuda", "auto"] = "auto"
    bf16: bool | None = None  # None: on when training on CUDA


@dataclass(kw_only=True)
class TrainConfig(RunConfig):
    """Everything ``train`` needs; the YAML file's keys are these fields (and ``RunConfig``'s).

    ``checkpoint_every`` adds step checkpoints to the one written after every epoch.
    """

    train_path: str
    dev_path: str
    output_dir: str
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    predicate_awareness: Literal["segment", "pair", "indicator"] = "segment"
    head: Literal["crf", "softmax"] = "crf"
    max_length: int = 256
    stride: int = 128
    epochs: int = 10
    max_tokens: int = 4096  # subword budget of one batch
    encoder_lr: float = 5e-5
    head_lr: float = 1e-3
    warmup_ratio: float = 0.1
    dropout: float = 0.1
    patience: int = 3  # epochs without a better dev F1 before stopping
    predicate_identification: bool = True
    loss_weights: LossWeights = field(default_factory=LossWeights)
    max_train_sentences: int | None = None
    max_dev_sentences: int | None = None
    eval_max_tokens: int = 8192


@dataclass(kw_only=True)
class PretrainConfig(RunConfig):
    """Everything ``pretrain`` needs; the YAML file's keys are these fields (and ``RunConfig``'s)."""

    # Plain ``list`` (of path strings): ``load_dataclass`` checks types with ``isinstance``.
    text_paths: list[str]
    output_dir: str
    # CoNLL files whose sentences are pretraining text too, a document per CoNLL document: masked-LM on a
    # task's own training text ("self-pretraining"); never a dev or test file
    text_conll: list[str] = field(default_factory=list)
    # what the text is: with ``title_lines`` the first line of each blank-line-separated block is a title
    # and left out (WikiExtractor's layout); ``text_source`` names the text and its licence in the card
    title_lines: bool = False
    text_source: str | None = None
    # vocabulary (its size and casing are ``encoder.vocab_size`` / ``encoder.lowercase``)
    vocab_paragraphs: int = 200_000  # paragraphs of the text the SentencePiece model is trained on
    vocab_conll: list[str] = field(default_factory=list)  # CoNLL files whose words join the vocabulary text
    # packing
    packed_dir: str | None = None  # default output_dir/packed; packed there when absent
    max_documents: int | None = None  # per text file (small runs, tests)
    min_words: int = 5  # shorter paragraphs (titles, list items, fragments) are dropped
    shard_tokens: int = 10_000_000
    # instances
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    max_length: int = 128  # subwords of a pair, [CLS] and two [SEP] included
    short_seq_prob: float = 0.1
    mask_prob: float = 0.15
    max_ngram: int = 3
    eval_documents: int = 200  # the corpus's last documents, held out (at most a tenth of it)
    # optimisation
    max_tokens: int = 8192  # padded subwords of one batch
    max_steps: int = 10_000
    learning_rate: float = 1e-3
    warmup_steps: int = 500
    checkpoint_every: int = 500
    log_every: int = 50
    compile: bool = False  # torch.compile the encoder (CUDA runs)
    embeddings: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    # with max_minutes: the learning rate decays linearly to 0 at the deadline or at max_steps, whichever
    # comes first (a run sized by time, not steps; its resume is not step-exact)
    deadline_schedule: bool = False


# Allowed ranges, (least, most) with None for no bound, of the numeric keys of every config; checked as a
# key is read, so the error names the key, its line and the range.
RANGES: dict[str, tuple[float | None, float | None]] = {
    "seed": (0, 2**32 - 1),
    "weight_decay": (0, None),
    "grad_clip": (0, None),
    "max_steps": (1, None),
    "max_minutes": (0, None),
    "checkpoint_every": (0, None),  # 0: never between the epoch/final checkpoints
    "num_threads": (1, 1024),
    "encoder.vocab_size": (100, 1_000_000),
    "encoder.embedding_size": (1, 16_384),
    "encoder.hidden_size": (1, 16_384),
    "encoder.num_hidden_layers": (1, 128),
    "encoder.num_attention_heads": (1, 256),
    "encoder.intermediate_size": (1, 65_536),
    "encoder.num_hidden_groups": (1, 128),
    "encoder.max_position_embeddings": (16, 65_536),
    "encoder.dropout": (0, 0.99),
    "max_length": (16, 65_536),
    "stride": (1, None),
    "epochs": (1, None),
    "max_tokens": (1, None),
    "encoder_lr": (0, None),
    "head_lr": (0, None),
    "learning_rate": (0, None),
    "warmup_ratio": (0, 1),
    "dropout": (0, 0.99),
    "patience": (1, None),
    "loss_weights.argument": (0, None),
    "loss_weights.sense": (0, None),
    "loss_weights.predicate": (0, None),
    "loss_weights.syntax": (0, None),
    "embeddings.epochs": (1, None),
    "embeddings.window": (1, None),
    "embeddings.negative": (0, None),
    "embeddings.min_count": (1, None),
    "embeddings.workers": (1, 1024),
    "max_train_sentences": (1, None),
    "max_dev_sentences": (1, None),
    "eval_max_tokens": (1, None),
    "vocab_paragraphs": (1, None),
    "max_documents": (1, None),
    "min_words": (0, None),
    "shard_tokens": (1, None),
    "short_seq_prob": (0, 1),
    "mask_prob": (0.001, 0.999),
    "max_ngram": (1, 10),
    "eval_documents": (0, None),
    "warmup_steps": (0, None),
    "log_every": (1, None),
}


def check_encoder_sizes(config: TrainConfig | PretrainConfig, source: str) -> None:
    """The checks that span keys: attention heads divide the hidden size, groups are layers, and a window
    fits the position embeddings (of a fresh encoder: a pretrained one brings its own sizes)."""
    encoder = config.encoder
    if encoder.hidden_size % encoder.num_attention_heads:
        message = (
            f"encoder.hidden_size ({encoder.hidden_size}) must be a multiple of encoder.num_attention_heads "
            f"({encoder.num_attention_heads})"
        )
        raise ConfigError(source, None, message)
    if encoder.num_hidden_groups > encoder.num_hidden_layers:
        raise ConfigError(source, None, "encoder.num_hidden_groups must be at most encoder.num_hidden_layers")
    if encoder.pretrained is None and config.max_length > encoder.max_position_embeddings:
        message = (
            f"max_length ({config.max_length}) exceeds encoder.max_position_embeddings "
            f"({encoder.max_position_embeddings})"
        )
        raise ConfigError(source, None, message)


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read a training config from YAML, apply ``key=value`` overrides and check that its files exist.

    Raises ``ConfigError`` (an ``SRLFormatError``) naming the config file and the bad key.
    """
    config = load_dataclass(TrainConfig, path, overrides)
    resolve_shipped_encoder(config.encoder)
    check_encoder_sizes(config, str(path))
    check_paths(config, str(path))
    return config


def load_pretrain_config(path: str | Path, overrides: Sequence[str] = ()) -> PretrainConfig:
    """Read a pretraining config from YAML with dotted ``key=value`` overrides; check its input files."""
    config = load_dataclass(PretrainConfig, path, overrides)
    resolve_shipped_encoder(config.encoder)
    source = str(path)
    if not config.text_paths and not config.text_conll:
        raise ConfigError(source, None, "text_paths and text_conll are both empty: no text to learn from")
    for key, paths in (("vocab_conll", config.vocab_conll), ("text_conll", config.text_conll)):
        for conll in paths:
            if re.search(r"dev|test", Path(conll).name):
                raise ConfigError(source, None, f"{key} must not name evaluation data: {conll}")
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


# ``encoder.pretrained: shipped`` names the pretrained encoder inside the package, wherever it is installed.
SHIPPED_ENCODER = "shipped"


def shipped_encoder_dir() -> Path:
    """The pretrained (not fine-tuned) encoder that ships with the package."""
    return Path(__file__).resolve().parent / "models" / "encoder"


def resolve_shipped_encoder(encoder: EncoderConfig) -> None:
    if encoder.pretrained == SHIPPED_ENCODER:
        encoder.pretrained = str(shipped_encoder_dir())


def check_paths(config: TrainConfig, source: str) -> None:
    """Fail before training when a data file or a local encoder/tokenizer directory is missing."""
    required = {"train_path": config.train_path, "dev_path": config.dev_path}
    if config.encoder.tokenizer is not None:
        required["encoder.tokenizer"] = config.encoder.tokenizer
    if config.encoder.pretrained is not None and _looks_local(config.encoder.pretrained):
        required["encoder.pretrained"] = config.encoder.pretrained
    for key, value in required.items():
        if not Path(value).exists():
            raise ConfigError(source, None, f"{key}: no such file or directory: {value}")


def _looks_local(name: str) -> bool:
    """A hub id is ``name`` or ``owner/name``; anything that exists or looks like a path is local."""
    return Path(name).exists() or name.startswith((".", "/", "~")) or name.count("/") > 1


# ---------------------------------------------------------------------------------------------------
# YAML -> dataclass, reusable by any config of the project


def load_dataclass(cls: type[T], path: str | Path, overrides: Sequence[str] = ()) -> T:
    """Build dataclass ``cls`` from the YAML mapping in ``path`` with dotted ``key=value`` overrides."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(source, None, f"cannot read config: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise ConfigError(
            source, None, f"not a YAML config: byte {error.start + 1} is not UTF-8 text"
        ) from None
    try:
        node = yaml.compose(text)
        values = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise ConfigError(source, mark.line + 1 if mark else None, f"invalid YAML: {error}") from error
    values = {} if values is None else values
    if not isinstance(values, dict):
        raise ConfigError(source, 1, "a config must be a mapping of keys to values")
    lines = _key_lines(node) if node is not None else {}
    for override in overrides:
        key, value = _parse_override(override, source)
        _set_dotted(values, key, value, source)
        lines[key] = None
    return _build(cls, values, "", source, lines)


def _parse_override(override: str, source: str) -> tuple[str, Any]:
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(source, None, f"override {override!r} is not key=value")
    try:
        return key.strip(), yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as error:
        raise ConfigError(source, None, f"override {override!r}: value is not YAML: {error}") from error


def _set_dotted(values: dict[str, Any], key: str, value: Any, source: str) -> None:
    *parents, last = key.split(".")
    target = values
    for i, part in enumerate(parents):
        child = target.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(source, None, f"{'.'.join(parents[: i + 1])} is not a section (--set {key})")
        target = child
    target[last] = value


def _key_lines(node: yaml.Node, prefix: str = "") -> dict[str, int | None]:
    """1-based line of every (dotted) key in a composed YAML mapping."""
    lines: dict[str, int | None] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = f"{prefix}{key_node.value}"
            lines[key] = key_node.start_mark.line + 1
            lines.update(_key_lines(value_node, f"{key}."))
    return lines


def _build(cls: type[T], values: dict[str, Any], prefix: str, source: str, lines: dict[str, int | None]) -> T:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in values:
        if key not in names:
            raise ConfigError(source, lines.get(f"{prefix}{key}"), f"unknown key {prefix}{key!s}")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        key = f"{prefix}{f.name}"
        if f.name not in values:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(source, None, f"missing required key {key}")
            continue
        kwargs[f.name] = _coerce(values[f.name], hints[f.name], key, source, lines)
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, key: str, source: str, lines: dict[str, int | None]) -> Any:
    """``value`` checked against type ``hint``; ints widen to floats, and so do strings such as ``5e-5``
    (a float to YAML 1.2 but a string to PyYAML's YAML 1.1)."""
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(source, lines.get(key), f"{key} must be a section of keys, not {value!r}")
        return _build(hint, value, f"{key}.", source, lines)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(value, inner, key, source, lines)
    if origin is Literal:
        if value not in args:
            choices = ", ".join(map(str, args))
            raise ConfigError(source, lines.get(key), f"{key} must be one of {choices}, not {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(source, lines.get(key), f"{key} must be a list, not {value!r}")
        (item,) = args or (Any,)
        return value if item is Any else [_coerce(v, item, key, source, lines) for v in value]
    if hint is float and isinstance(value, (int, str)) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            pass
    if (hint is int and isinstance(value, bool)) or not isinstance(value, hint):
        raise ConfigError(source, lines.get(key), f"{key} must be {hint.__name__}, not {value!r}")
    check_range(value, key, source, lines)
    return value


def check_range(value: Any, key: str, source: str, lines: dict[str, int | None]) -> None:
    """A number outside ``RANGES[key]`` (or not finite) raises ``ConfigError`` naming the range."""
    if key not in RANGES or not isinstance(value, int | float):
        return
    least, most = RANGES[key]
    if value != value or (least is not None and value < least) or (most is not None and value > most):
        allowed = f"from {least} to {most}" if most is not None else f"{least} or more"
        raise ConfigError(source, lines.get(key), f"{key} is {value!r}: allowed {allowed}")
