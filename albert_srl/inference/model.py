"""The network: a predicate-aware ALBERT encoder, word-level heads, and the constrained CRF.

Three heads share one encoder: argument tags (emissions for the CRF, or a softmax for the ablation),
the predicate's sense number, and predicate identification (run on the sentence with no predicate
marked, so one pass a sentence finds all its predicates).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import torch
from torch import nn
from torch.nn import functional as F
from transformers import AlbertConfig, AlbertModel, AutoConfig, AutoModel, PreTrainedModel

from albert_srl.config import (
    ALBERT_SIZES,
    EncoderConfig,
    Head,
    PredicateAwareness,
    TrainConfig,
    check_encoder_shape,
)
from albert_srl.errors import SRLFormatError
from albert_srl.inference import layers
from albert_srl.inference.crf import ConstrainedCRF
from albert_srl.inference.encoding import POS_TAGS, Batch
from albert_srl.quiet import quiet_transformers
from albert_srl.settings import ConfigError, build, check_instance, like, setting, settings_of


@dataclass
class ModelConfig:
    """Everything needed to rebuild the network and its preprocessing; stored in ``config.json`` (its
    ``srl`` section). The settings a training config shares are declared there, and checked alike."""

    labels: list[str] = setting(doc="argument tags, BIO (O, B-ROLE, I-ROLE)")
    senses: list[str] = setting(doc="predicate sense labels")
    predicate_awareness: PredicateAwareness = like(TrainConfig, "predicate_awareness")
    head: Head = like(TrainConfig, "head")
    max_length: int = like(TrainConfig, "max_length")
    stride: int = like(TrainConfig, "stride")
    encoder: dict[str, Any] = setting(
        factory=dict, doc="the encoder's Hugging Face config (`encoder` section)"
    )
    dropout: float = like(TrainConfig, "dropout")
    lemmas: dict[str, str] = setting(
        factory=dict, doc="word form -> roleset lemma seen in training (older models; now lemmas.json)"
    )
    syntax_head: bool = setting(False, doc="an auxiliary part-of-speech head (trained on the gold POS)")
    # A word the syntax head tags otherwise (a proper noun, a possessive 's, a modal) is never a predicate.
    predicate_pos: list[str] = setting(
        factory=list, doc="with the syntax head: the POS tags predicates had in training"
    )
    # Late fusion (SRLModel): the lower layers run once per sentence, the top ``fusion_layers`` per predicate.
    fusion_layers: int | None = like(TrainConfig, "fusion_layers")

    def __post_init__(self) -> None:
        check_instance(self, "ModelConfig")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        return cls(**values)


# What a model directory's config.json may say. A model is data: its activation is a name from this list
# (looked up in transformers' own table), never a name resolved to an arbitrary callable.
EncoderType = Literal["albert", "bert", "roberta", "xlm-roberta", "electra", "deberta", "deberta-v2"]
Activation = Literal[
    "gelu",
    "gelu_new",
    "gelu_pytorch_tanh",
    "gelu_fast",
    "quick_gelu",
    "relu",
    "silu",
    "swish",
    "tanh",
    "mish",
]


@dataclass
class EncoderChecks:
    """The keys of a model's ``encoder`` section (a Hugging Face config) checked before ``transformers``
    reads them, beside ``EncoderConfig``'s sizes; other keys pass through. Defaults are ALBERT's."""

    model_type: EncoderType = setting("albert", doc="the encoder's architecture")
    hidden_act: Activation = setting("gelu_new", doc="activation, a name from transformers' table")
    inner_group_num: int = setting(1, low=1, high=16, doc="layers in a group of shared weights")
    type_vocab_size: int = setting(2, low=1, high=16, doc="segment ids")
    hidden_dropout_prob: float | None = like(EncoderConfig, "dropout", doc="hidden dropout")
    attention_probs_dropout_prob: float | None = like(EncoderConfig, "dropout", doc="attention dropout")
    classifier_dropout_prob: float | None = like(EncoderConfig, "dropout", 0.1, doc="classifier dropout")
    layer_norm_eps: float = setting(1e-12, low=0, high=1, above=True, doc="layer norm epsilon")


ENCODER_SIZES = {"vocab_size", *ALBERT_SIZES}
ENCODER_SETTINGS = [
    *(s for s in settings_of(EncoderConfig, "encoder.") if s.name in ENCODER_SIZES),
    *settings_of(EncoderChecks, "encoder."),
]
SOURCE = "config.json"


def model_config_from_json(values: Any) -> ModelConfig:
    """The ``ModelConfig`` of a model directory's ``config.json`` (``{"model_type": "albert-srl", "srl":
    {...}, "encoder": {...}}``), every value checked; a bad one raises ``ConfigError`` (a ``ValueError``)
    naming the key and what is allowed."""
    if not isinstance(values, dict):
        raise ConfigError(SOURCE, None, "the config must be a JSON object")
    if values.get("model_type", "albert-srl") != "albert-srl":
        raise ConfigError(SOURCE, None, f"model_type {values['model_type']!r}: expected 'albert-srl'")
    srl, encoder = values.get("srl"), values.get("encoder")
    if not isinstance(srl, dict) or not isinstance(encoder, dict):
        raise ConfigError(SOURCE, None, "'srl' and 'encoder' must both be JSON objects")
    if "encoder" in srl:
        raise ConfigError(SOURCE, None, "unknown key srl.encoder")
    check_encoder(encoder)
    config = build(ModelConfig, {**srl, "encoder": encoder}, SOURCE, prefix="srl.")
    for key in ("labels", "senses"):
        if not getattr(config, key) or not all(getattr(config, key)):
            raise ConfigError(SOURCE, None, f"srl.{key} must be a non-empty list of strings")
    if "O" not in config.labels or not all(x == "O" or x[:2] in ("B-", "I-") for x in config.labels):
        raise ConfigError(SOURCE, None, "srl.labels must be BIO tags (O, B-ROLE, I-ROLE) and include O")
    if config.stride >= config.max_length:
        raise ConfigError(SOURCE, None, f"srl.stride {config.stride}: must be below srl.max_length")
    return config


def check_encoder(encoder: dict[str, Any]) -> None:
    """The encoder's Hugging Face config, checked before any of it reaches ``transformers``."""
    for declared in ENCODER_SETTINGS:
        if encoder.get(declared.name) is not None:
            declared.check(encoder[declared.name], SOURCE)
    sizes = {name: encoder.get(name, 1) for name in ALBERT_SIZES}
    check_encoder_shape(sizes, SOURCE)


@dataclass
class SRLOutput:
    """Mean losses over the instances each applies to; ``None`` when the batch has none of them."""

    loss: torch.Tensor
    argument_loss: torch.Tensor | None
    sense_loss: torch.Tensor | None
    predicate_loss: torch.Tensor | None
    pos_loss: torch.Tensor | None = None


@dataclass
class Decoded:
    tags: torch.Tensor  # (B, W) label ids; 0 ("O") for predicate-identification rows and padding
    senses: torch.Tensor  # (B,) sense ids
    predicate_flags: torch.Tensor  # (B, W) 1 where a word is a predicate (predicate-identification rows)


# ALBERT's "gelu_new" is the tanh approximation of GELU written as five tensor operations; torch computes
# the same function (to 1e-6) in one fused kernel, ten times faster on a CPU. Encoders are built with it.
FUSED_GELU = "gelu_pytorch_tanh"


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"`` (or ``None``) is CUDA when there is a GPU, else the CPU; anything else as named. The one
    device rule of tagging, fine-tuning and pretraining."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise SRLFormatError("device", None, f"{device!r} is not a device: {error}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise SRLFormatError(
            "device", None, f"{device!r} asked for, but this torch sees no CUDA GPU (use cpu or auto)"
        )
    return resolved


def autocast(device: torch.device, bf16: bool | None) -> AbstractContextManager[Any]:
    """bfloat16 autocast on ``device`` when ``bf16`` says so; ``None``: on CUDA only. The one precision
    rule of tagging, fine-tuning and pretraining (a training run settles ``None`` when it starts). On a
    CPU with AVX-512 BF16 or AMX it more than doubles the encoder's speed (docs/benchmarks.md); on other
    CPUs it is slower."""
    on = device.type == "cuda" if bf16 is None else bf16
    return torch.autocast(device.type, dtype=torch.bfloat16) if on else nullcontext()


def encoder_from_pretrained(path: str) -> PreTrainedModel:
    """Any Hugging Face encoder directory (or hub id): ALBERT, or another model through ``AutoModel``."""
    config = AutoConfig.from_pretrained(path)
    if getattr(config, "hidden_act", None) == "gelu_new":
        config.hidden_act = FUSED_GELU
    # A pretrained encoder directory holds its MLM/SOP heads too: transformers' table of the weights it
    # skips is expected here, not news, and so is its tensor-parallel plan's note that a model loaded on
    # one device shards nothing (errors still raise).
    with quiet_transformers("modeling_utils", "distributed.tensor_parallel"):
        return without_pooler(AutoModel.from_pretrained(path, config=config))


def fresh_encoder(config: dict[str, Any]) -> PreTrainedModel:
    """A randomly initialised encoder of the given config (ALBERT unless ``model_type`` says otherwise)."""
    model_type = config.get("model_type", "albert")
    if config.get("hidden_act", "gelu_new" if model_type == "albert" else None) == "gelu_new":
        config = {**config, "hidden_act": FUSED_GELU}
    if model_type == "albert":
        return AlbertModel(AlbertConfig(**config), add_pooling_layer=False)
    values = {k: v for k, v in config.items() if k != "model_type"}
    return without_pooler(AutoModel.from_config(AutoConfig.for_model(model_type, **values)))


def without_pooler(encoder: PreTrainedModel) -> PreTrainedModel:
    """Drop the [CLS] pooler: SRL never reads it, and a fine-tuned model must hold the same weights
    whether its encoder came from a checkpoint or from ``fresh_encoder`` (as ``from_pretrained`` does)."""
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler = None
        if hasattr(encoder, "pooler_activation"):
            encoder.pooler_activation = None
    return encoder


class SRLModel(nn.Module):
    """Predicate-aware encoder → word states → argument / sense / predicate heads (+ CRF).

    With ``fusion_layers`` = k below the encoder's depth L, a batch's distinct windows run the lower
    L - k layers once; each unit row (a window with one predicate, or none for predicate
    identification) adds a learned mark to its predicate's subwords and runs the top k layers.
    """

    def __init__(self, config: ModelConfig, encoder: PreTrainedModel | None = None) -> None:
        super().__init__()
        self.encoder = encoder if encoder is not None else fresh_encoder(config.encoder)
        # The config as built: the encoder's full config, and a window never longer than its positions.
        positions = getattr(self.encoder.config, "max_position_embeddings", config.max_length)
        max_length = min(config.max_length, positions)
        config = replace(
            config,
            encoder=self.encoder.config.to_dict(),
            max_length=max_length,
            stride=min(config.stride, max_length // 2),
        )
        self.config = config
        hidden = self.encoder.config.hidden_size
        embedding = self.encoder.get_input_embeddings().embedding_dim
        depth = self.encoder.config.num_hidden_layers
        fusion = config.fusion_layers
        if fusion is not None and not 0 <= fusion <= depth:
            raise ValueError(f"fusion_layers {fusion}: allowed from 0 to the encoder's {depth} layers")
        self.late = fusion is not None and fusion < depth
        check_fusion(config, self.encoder, self.late)
        # Plain lists: the layers are the encoder's own modules, registered there.
        stack = layers.transformer_layers(self.encoder) if self.late else []
        self.lower, self.upper = stack[: depth - (fusion or 0)], stack[depth - (fusion or 0) :]
        self.predicate_mark = nn.Embedding(2, hidden, padding_idx=0) if self.late and fusion else None
        if self.predicate_mark is not None:
            # On the scale of the layer-normed states it is added to, so the top layers see it at once.
            nn.init.normal_(self.predicate_mark.weight, std=0.3)
            self.predicate_mark.weight.data[0].zero_()
        self.pair = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.GELU()) if fusion == 0 else None
        early_indicator = not self.late and config.predicate_awareness == "indicator"
        self.indicator = nn.Embedding(2, embedding) if early_indicator else None
        if self.indicator is not None:
            nn.init.normal_(self.indicator.weight, std=0.02)
        self.dropout = nn.Dropout(config.dropout)
        self.argument_head = nn.Linear(hidden, len(config.labels))
        self.sense_head = nn.Linear(hidden, len(config.senses))
        self.predicate_head = nn.Linear(hidden, 2)
        self.pos_head = nn.Linear(hidden, len(POS_TAGS)) if config.syntax_head else None
        allowed = torch.tensor([tag in config.predicate_pos for tag in POS_TAGS])
        self.register_buffer("predicate_pos_mask", allowed, persistent=False)
        self.crf = ConstrainedCRF(config.labels) if config.head == "crf" else None

    def lower_states(self, batch: Batch) -> torch.Tensor | None:
        """The states of every window after the lower layers (R, S, H); ``None`` with early fusion."""
        if not self.late:
            return None
        hidden = layers.embed(self.encoder, batch.input_ids)
        return layers.run_layers(self.encoder, self.lower, hidden, batch.attention_mask)

    def unit_states(self, batch: Batch, lower: torch.Tensor | None = None) -> torch.Tensor:
        """Encoder states of every unit row: (U, S, H). ``lower`` (from ``lower_states``) saves the lower
        layers where they ran already on these windows."""
        if not self.late:
            return self.encode_whole(batch)
        hidden = (lower if lower is not None else self.lower_states(batch))[batch.unit_row]
        if self.predicate_mark is not None:
            hidden = hidden + self.predicate_mark(batch.predicate_mark)
        return layers.run_layers(self.encoder, self.upper, hidden, batch.attention_mask[batch.unit_row])

    def encode_whole(self, batch: Batch) -> torch.Tensor:
        """Early fusion: every unit row through the whole encoder, marked at its input."""
        ids, mask = batch.input_ids[batch.unit_row], batch.attention_mask[batch.unit_row]
        inputs: dict[str, torch.Tensor] = {"attention_mask": mask}
        if self.indicator is not None:
            embeddings = self.encoder.get_input_embeddings()(ids)
            inputs["inputs_embeds"] = embeddings + self.indicator(batch.predicate_mark)
        else:
            inputs["input_ids"] = ids
        if getattr(self.encoder.config, "type_vocab_size", 0) > 1:
            inputs["token_type_ids"] = batch.token_type_ids
        return self.encoder(**inputs).last_hidden_state

    def word_states(self, batch: Batch, lower: torch.Tensor | None = None) -> torch.Tensor:
        """Encoder states of each word's first subword: (B, W, H)."""
        if self.late and self.upper and not self.training:
            return self.marked_word_states(batch, lower)
        hidden = self.unit_states(batch, lower)  # (U, S, H)
        rows, width, size = hidden.shape
        flat = batch.word_row * width + batch.word_position  # (B, W)
        states = hidden.reshape(rows * width, size)[flat.reshape(-1)].reshape(*flat.shape, size)
        return self.dropout(states)

    def marked_word_states(self, batch: Batch, lower: torch.Tensor | None = None) -> torch.Tensor:
        """``word_states`` for inference with late fusion: the same states, with the top layers' shared
        work done once a window and their last block run only at the subwords the words read
        (``layers.run_marked``); training keeps the layers' own forward, and its dropout."""
        lower = lower if lower is not None else self.lower_states(batch)
        rows, width = len(batch.unit_row), batch.attention_mask.size(1)
        flat = batch.word_row * width + batch.word_position  # (B, W)
        read = torch.zeros(rows * width, dtype=torch.bool, device=flat.device)
        read[flat[batch.word_mask]] = True
        read = read.view(rows, width)
        count = max(int(read.sum(1).max()), 1)
        # Each row's read positions first, in order; the padding after them points at unread positions.
        queries = torch.sort((~read).to(torch.uint8), dim=1, stable=True).indices[:, :count]
        slot = (read.cumsum(1) - 1).clamp(min=0).view(-1)  # a read position's place among its row's
        marks = None if self.predicate_mark is None else (self.predicate_mark.weight, batch.predicate_mark)
        states = layers.run_marked(self.upper, lower, batch.unit_row, batch.attention_mask, queries, marks)
        index = batch.word_row * count + slot[flat]
        return states.reshape(rows * count, -1)[index.reshape(-1)].reshape(*flat.shape, -1)

    def argument_states(self, states: torch.Tensor, predicate: torch.Tensor) -> torch.Tensor:
        """The word states the argument head reads (B', W, H); with ``fusion_layers: 0`` each word's state
        is fused here with its predicate's."""
        if self.pair is None:
            return states
        at_predicate = states[torch.arange(len(states), device=states.device), predicate]
        return self.pair(torch.cat([states, at_predicate.unsqueeze(1).expand_as(states)], dim=-1))

    def forward(self, batch: Batch) -> SRLOutput:
        states = self.word_states(batch)
        is_argument = batch.predicate >= 0
        argument_loss = sense_loss = predicate_loss = pos_loss = None
        if is_argument.any():
            rows = is_argument.nonzero().squeeze(1)
            tags, mask, predicate = batch.tags[rows], batch.word_mask[rows], batch.predicate[rows]
            arg_states = self.argument_states(states[rows], predicate)
            emissions = self.argument_head(arg_states).float()
            if self.crf is not None:
                likelihood = self.crf(
                    emissions, tags.clamp(min=0), mask, predicate_index=predicate, reduction="sum"
                )
                argument_loss = -likelihood / len(rows)
            else:
                argument_loss = F.cross_entropy(emissions[mask], tags[mask], ignore_index=-100)
            predicate_state = arg_states[torch.arange(len(rows), device=rows.device), predicate]
            sense_loss = F.cross_entropy(
                self.sense_head(predicate_state).float(), batch.senses[rows], ignore_index=-100
            )
        if (~is_argument).any():
            rows = (~is_argument).nonzero().squeeze(1)
            mask = batch.word_mask[rows]
            logits = self.predicate_head(states[rows]).float()
            predicate_loss = F.cross_entropy(
                logits[mask], batch.predicate_flags[rows][mask], ignore_index=-100
            )
            pos = batch.pos[rows][mask]
            if self.pos_head is not None and (pos >= 0).any():
                pos_loss = F.cross_entropy(self.pos_head(states[rows][mask]).float(), pos, ignore_index=-100)
        losses = (argument_loss, sense_loss, predicate_loss, pos_loss)
        total = sum((loss for loss in losses if loss is not None), torch.zeros((), device=states.device))
        return SRLOutput(total, argument_loss, sense_loss, predicate_loss, pos_loss)

    @torch.no_grad()
    def decode(self, batch: Batch, lower: torch.Tensor | None = None) -> Decoded:
        """Best tags (constrained Viterbi or argmax), senses and predicate flags, all on tensors."""
        states = self.word_states(batch, lower)
        size, width = batch.word_mask.shape
        tags = torch.zeros(size, width, dtype=torch.long, device=states.device)
        senses = torch.zeros(size, dtype=torch.long, device=states.device)
        flags = torch.zeros(size, width, dtype=torch.long, device=states.device)
        is_argument = batch.predicate >= 0
        if is_argument.any():
            rows = is_argument.nonzero().squeeze(1)
            predicate = batch.predicate[rows]
            arg_states = self.argument_states(states[rows], predicate)
            emissions = self.argument_head(arg_states).float()
            if self.crf is not None:
                tags[rows] = self.crf.decode(emissions, batch.word_mask[rows], predicate_index=predicate)
            else:
                tags[rows] = emissions.argmax(-1) * batch.word_mask[rows]
            predicate_state = arg_states[torch.arange(len(rows), device=rows.device), predicate]
            senses[rows] = self.sense_head(predicate_state).argmax(-1)
        if (~is_argument).any():
            rows = (~is_argument).nonzero().squeeze(1)
            flags[rows] = self.predicate_head(states[rows]).argmax(-1) * batch.word_mask[rows]
            if self.pos_head is not None and self.config.predicate_pos:
                pos = self.pos_head(states[rows]).argmax(-1)  # (B', W)
                flags[rows] *= self.predicate_pos_mask[pos]
        return Decoded(tags, senses, flags)


def check_fusion(config: ModelConfig, encoder: PreTrainedModel, late: bool) -> None:
    """What each kind of fusion needs of the encoder; a ``ValueError`` saying what to choose instead."""
    if late and not layers.runs_in_parts(encoder):
        raise ValueError(
            f"fusion_layers {config.fusion_layers}: a {encoder.config.model_type} encoder runs whole, "
            "so only early fusion (fusion_layers null) works with it"
        )
    if late and config.predicate_awareness == "pair":
        raise ValueError(
            "predicate_awareness 'pair' appends the predicate to the input: it needs early fusion"
        )
    if not late and config.predicate_awareness == "segment" and encoder.config.type_vocab_size < 2:
        raise ValueError(
            f"predicate_awareness 'segment' needs two token types; this {encoder.config.model_type} encoder "
            "has one: choose 'indicator', or late fusion (fusion_layers below its depth)"
        )
