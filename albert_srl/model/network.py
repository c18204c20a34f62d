"""The network: a predicate-aware ALBERT encoder, word-level heads, and the constrained CRF.

Three heads share one encoder: argument tags (emissions for the CRF, or a softmax for the ablation),
the predicate's sense number, and predicate identification (run on the sentence with no predicate
marked, so one pass a sentence finds all its predicates).
"""

from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import torch
from torch import nn
from torch.nn import functional as F

from albert_srl.config import (
    ALBERT_SIZES,
    EncoderConfig,
    Head,
    PredicateAwareness,
    TrainConfig,
    check_encoder_shape,
)
from albert_srl.errors import SRLFormatError
from albert_srl.model.albert_form import albert_spec
from albert_srl.model.crf import ConstrainedCRF
from albert_srl.model.encoder import Encoder, Mark, Read, take
from albert_srl.model.encoding import POS_TAGS, Batch
from albert_srl.settings import ConfigError, build, check_instance, like, setting, settings_of


@dataclass
class ModelConfig:
    """Everything needed to rebuild the network and its preprocessing; stored in ``config.json`` (its
    ``srl`` section). The settings a training config shares are declared there, and checked alike."""

    labels: list[str] = setting(doc="argument tags, BIO (O, B-ROLE, I-ROLE)")
    senses: list[str] = setting(doc="predicate sense labels")
    predicate_awareness: PredicateAwareness | None = like(TrainConfig, "predicate_awareness")
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


# What a model directory's config.json may say: an architecture that loads into the ALBERT form
# (``albert_form.SUPPORTED``), and an activation by name from ``encoder.ACTIVATIONS`` (tested to match).
EncoderType = Literal["albert", "bert", "roberta", "xlm-roberta", "electra", "mpnet"]
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
    """The keys of a model's ``encoder`` section (a Hugging Face config) checked before the encoder is
    built, beside ``EncoderConfig``'s sizes; other keys pass through. Defaults are ALBERT's."""

    model_type: EncoderType = setting("albert", doc="the encoder's architecture")
    hidden_act: Activation = setting("gelu_new", doc="activation, by name (gelu, gelu_new, relu, ...)")
    inner_group_num: int = setting(1, low=1, high=16, doc="layers in a group of shared weights")
    type_vocab_size: int = setting(2, low=1, high=16, doc="segment ids")
    hidden_dropout_prob: float | None = like(EncoderConfig, "dropout", doc="hidden dropout")
    attention_probs_dropout_prob: float | None = like(EncoderConfig, "dropout", doc="attention dropout")
    classifier_dropout_prob: float | None = like(EncoderConfig, "dropout", 0.1, doc="classifier dropout")
    layer_norm_eps: float = setting(1e-12, low=0, high=1, above=True, doc="layer norm epsilon")
    pad_token_id: int = setting(0, low=0, high=1_000_000, doc="the padding token's id (below vocab_size)")
    initializer_range: float = setting(0.02, low=0, high=1, doc="standard deviation of initial weights")
    position_offset: int = setting(
        0, low=0, high=65_536, doc="position of the first subword (RoBERTa, MPNet)"
    )
    relative_attention_num_buckets: int = setting(
        0, low=0, high=1024, doc="buckets of MPNet's relative-position attention bias; 0: none"
    )
    relative_attention_max_distance: int = setting(
        128, low=1, high=65_536, doc="distance the relative-position buckets reach"
    )


ENCODER_SIZES = {"vocab_size", *ALBERT_SIZES}
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
    depth = encoder.get("num_hidden_layers")
    if config.fusion_layers is not None and isinstance(depth, int) and config.fusion_layers > depth:
        message = (
            f"srl.fusion_layers {config.fusion_layers}: allowed from 0 to encoder.num_hidden_layers ({depth})"
        )
        raise ConfigError(SOURCE, None, message)
    return config


def check_encoder(encoder: dict[str, Any], prefix: str = "encoder.") -> None:
    """An encoder's Hugging Face config (a model's ``encoder`` section, or with ``prefix`` "" an encoder
    directory's ``config.json``), checked before the encoder is built from it."""
    declared = [
        *(s for s in settings_of(EncoderConfig, prefix) if s.name in ENCODER_SIZES),
        *settings_of(EncoderChecks, prefix),
    ]
    for setting_ in declared:
        if encoder.get(setting_.name) is not None:
            setting_.check(encoder[setting_.name], SOURCE)
    sizes = {name: encoder.get(name, 1) for name in ALBERT_SIZES}
    check_encoder_shape(sizes, SOURCE, prefix)
    pad, vocabulary = encoder.get("pad_token_id"), encoder.get("vocab_size")
    if pad is not None and vocabulary is not None and pad >= vocabulary:
        raise ConfigError(SOURCE, None, f"{prefix}pad_token_id {pad}: allowed below {prefix}vocab_size")


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
    # (B,) the probability of each argument row's tags given its predicate: the CRF path's
    # exp(score - log Z) (the softmax head: the product of each word's); 0 on identification rows
    tag_probability: torch.Tensor
    # (B, W) the predicate head's probability that the word is a predicate (identification rows; else 0)
    predicate_probability: torch.Tensor


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


def fresh_encoder(config: dict[str, Any], initialize: bool = True) -> Encoder:
    """A randomly initialised encoder of the given config (any supported architecture; ALBERT unless
    ``model_type`` says otherwise), in ALBERT form; ``initialize=False`` where weights will replace
    its values."""
    return Encoder(albert_spec(config, SOURCE), initialize)


class SRLModel(nn.Module):
    """Predicate-aware encoder → word states → argument / sense / predicate heads (+ CRF).

    With ``fusion_layers`` = k below the encoder's depth L, a batch's distinct windows run the lower
    L - k layers once; each unit row (a window with one predicate, or none for predicate
    identification) adds a learned mark to its predicate's subwords and runs the top k layers. The
    last layer computes only the subwords the words are read from. Training and tagging run the same
    code.
    """

    predicate_pos_mask: torch.Tensor  # (POS tags,) bool: the tags a predicate may have

    def __init__(self, config: ModelConfig, encoder: Encoder | None = None) -> None:
        super().__init__()
        self.encoder = encoder if encoder is not None else fresh_encoder(config.encoder)
        spec = self.encoder.spec
        # The config as built: the encoder's full config, and a window never longer than its positions.
        max_length = min(config.max_length, spec.max_position_embeddings - spec.position_offset)
        awareness = config.predicate_awareness or ("segment" if spec.type_vocab_size > 1 else "indicator")
        config = replace(
            config,
            encoder=spec.to_dict(),
            predicate_awareness=awareness,
            max_length=max_length,
            stride=min(config.stride, max_length // 2),
        )
        self.config = config
        hidden, depth, fusion = spec.hidden_size, spec.num_hidden_layers, config.fusion_layers
        if fusion is not None and not 0 <= fusion <= depth:
            raise ValueError(f"fusion_layers {fusion}: allowed from 0 to the encoder's {depth} layers")
        self.late = fusion is not None and fusion < depth
        check_fusion(config, spec.type_vocab_size, self.late)
        # Layers [0, split) run once a window; [split, depth) once a unit row.
        self.split = depth - (fusion or 0) if self.late else 0
        self.predicate_mark = nn.Embedding(2, hidden, padding_idx=0) if self.late and fusion else None
        if self.predicate_mark is not None:
            # On the scale of the layer-normed states it is added to, so the top layers see it at once.
            nn.init.normal_(self.predicate_mark.weight, std=0.3)
            self.predicate_mark.weight.data[0].zero_()
        self.pair = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.GELU()) if fusion == 0 else None
        early_indicator = not self.late and config.predicate_awareness == "indicator"
        self.indicator = nn.Embedding(2, spec.embedding_size) if early_indicator else None
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

    @property
    def upper(self) -> list[nn.Module]:
        """The blocks run once a unit row (late fusion's top layers; every block with early fusion)."""
        return list(self.encoder.blocks(self.split))

    def lower_states(self, batch: Batch) -> torch.Tensor | None:
        """The states of every window after the lower layers (R, S, H); ``None`` with early fusion."""
        return self._lower(batch) if self.late else None

    def _lower(self, batch: Batch) -> torch.Tensor:
        return self.encoder.run(self.encoder.embed(batch.input_ids), batch.attention_mask, 0, self.split)

    def unit_states(
        self, batch: Batch, lower: torch.Tensor | None = None, read: Read | None = None
    ) -> torch.Tensor:
        """Encoder states of every unit row, (U, S, H), or at ``read`` only: (N_read, H). ``lower``
        (from ``lower_states``) saves the lower layers where they ran already on these windows."""
        mask = batch.attention_mask[batch.unit_row]
        if not self.late:
            ids = batch.input_ids[batch.unit_row]
            added = None if self.indicator is None else self.indicator(batch.predicate_mark)
            # Token types are 0 but for segment and pair marking, which need two of them (check_fusion).
            embedded = self.encoder.embed(ids, batch.token_type_ids, added)
            return self.encoder.run(embedded, mask, read=read)
        windows = lower if lower is not None else self._lower(batch)
        if self.predicate_mark is None:  # fusion_layers 0: no top layers, the predicate meets the head
            return self.encoder.run(windows[batch.unit_row], mask, self.split, read=read)
        mark = Mark(batch.unit_row, batch.predicate_mark, self.predicate_mark.weight)
        return self.encoder.run(windows, batch.attention_mask, self.split, mark=mark, read=read)

    def word_states(self, batch: Batch, lower: torch.Tensor | None = None) -> torch.Tensor:
        """Encoder states of each word's first subword: (B, W, H). The last layer runs only at the
        subwords read."""
        rows, width = len(batch.unit_row), batch.attention_mask.size(1)
        flat = batch.word_row * width + batch.word_position  # (B, W)
        mask = torch.zeros(rows * width, dtype=torch.bool, device=flat.device)
        mask[flat[batch.word_mask]] = True
        read = Read(mask.view(rows, width))
        states = self.unit_states(batch, lower, read)  # (N_read, H)
        return self.dropout(take(states, read.positions.place[flat]))

    def argument_states(self, states: torch.Tensor, predicate: torch.Tensor) -> torch.Tensor:
        """The word states the argument head reads (B', W, H); with ``fusion_layers: 0`` each word's state
        is fused here with its predicate's."""
        if self.pair is None:
            return states
        at_predicate = states[torch.arange(len(states), device=states.device), predicate]
        return self.pair(torch.cat([states, at_predicate.unsqueeze(1).expand_as(states)], dim=-1))

    def forward(self, batch: Batch) -> SRLOutput:
        """The losses of a batch: each the mean over the instances (or words) it applies to, weighted by
        ``batch.weight`` where the batch has one."""
        states = self.word_states(batch)
        is_argument = batch.predicate >= 0
        argument_loss = sense_loss = predicate_loss = pos_loss = None
        if is_argument.any():
            rows = is_argument.nonzero().squeeze(1)
            tags, mask, predicate = batch.tags[rows], batch.word_mask[rows], batch.predicate[rows]
            weight = None if batch.weight is None else batch.weight[rows]
            arg_states = self.argument_states(states[rows], predicate)
            emissions = self.argument_head(arg_states).float()
            if self.crf is not None:
                likelihood = self.crf(
                    emissions, tags.clamp(min=0), mask, predicate_index=predicate, reduction="none"
                )
                argument_loss = -weighted_mean(likelihood, weight)
            else:
                argument_loss = cross_entropy(emissions[mask], tags[mask], word_weights(weight, mask))
            predicate_state = arg_states[torch.arange(len(rows), device=rows.device), predicate]
            sense_loss = cross_entropy(self.sense_head(predicate_state).float(), batch.senses[rows], weight)
        if (~is_argument).any():
            rows = (~is_argument).nonzero().squeeze(1)
            mask = batch.word_mask[rows]
            weight = word_weights(None if batch.weight is None else batch.weight[rows], mask)
            logits = self.predicate_head(states[rows]).float()
            predicate_loss = cross_entropy(logits[mask], batch.predicate_flags[rows][mask], weight)
            pos = batch.pos[rows][mask]
            if self.pos_head is not None and (pos >= 0).any():
                pos_loss = cross_entropy(self.pos_head(states[rows][mask]).float(), pos, weight)
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
        tag_probability = torch.zeros(size, device=states.device)
        predicate_probability = torch.zeros(size, width, device=states.device)
        is_argument = batch.predicate >= 0
        if is_argument.any():
            rows = is_argument.nonzero().squeeze(1)
            predicate, mask = batch.predicate[rows], batch.word_mask[rows]
            arg_states = self.argument_states(states[rows], predicate)
            emissions = self.argument_head(arg_states).float()
            if self.crf is not None:
                best, probability = self.crf.decode_with_probability(emissions, mask, predicate)
            else:
                word_best = emissions.log_softmax(-1).max(-1)
                best, probability = word_best.indices * mask, (word_best.values * mask).sum(1).exp()
            tags[rows], tag_probability[rows] = best, probability
            predicate_state = arg_states[torch.arange(len(rows), device=rows.device), predicate]
            senses[rows] = self.sense_head(predicate_state).argmax(-1)
        if (~is_argument).any():
            rows = (~is_argument).nonzero().squeeze(1)
            mask = batch.word_mask[rows]
            logits = self.predicate_head(states[rows]).float()
            flags[rows] = logits.argmax(-1) * mask
            predicate_probability[rows] = logits.softmax(-1)[..., 1] * mask
            if self.pos_head is not None and self.config.predicate_pos:
                pos = self.pos_head(states[rows]).argmax(-1)  # (B', W)
                flags[rows] *= self.predicate_pos_mask[pos]
        return Decoded(tags, senses, flags, tag_probability, predicate_probability)


def weights_digest(model: nn.Module) -> str:
    """SHA-256 of every parameter and buffer, in name order: equal digests mean equal weights. (An int8
    model's packed layers are no tensors; its float ones count.)"""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if isinstance(tensor, torch.Tensor):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def weighted_mean(values: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """The mean of ``values`` (N,), or with ``weight`` (N,) their weighted mean; 0 where every weight is 0
    (a batch of weight-0 silver sentences alone teaches nothing)."""
    if weight is None:
        return values.sum() / len(values)
    return (values * weight).sum() / weight.sum().clamp(min=torch.finfo(weight.dtype).tiny)


def cross_entropy(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """The mean cross-entropy over the targets that are not -100, or with ``weight`` (one per target)
    their weighted mean. Without weights it is torch's own mean, exactly as every unweighted batch had."""
    if weight is None:
        return F.cross_entropy(logits, target, ignore_index=-100)
    losses = F.cross_entropy(logits, target, ignore_index=-100, reduction="none")
    return weighted_mean(losses, weight * (target != -100))


def word_weights(weight: torch.Tensor | None, mask: torch.Tensor) -> torch.Tensor | None:
    """Each row's weight (B,) repeated for its words where ``mask`` (B, W) is set, in ``x[mask]`` order."""
    return None if weight is None else weight.unsqueeze(1).expand_as(mask)[mask]


def check_fusion(config: ModelConfig, token_types: int, late: bool) -> None:
    """What each kind of fusion needs of the encoder; a ``ValueError`` saying what to choose instead."""
    if late and config.predicate_awareness == "pair":
        raise ValueError(
            "predicate_awareness 'pair' appends the predicate to the input: it needs early fusion"
        )
    if not late and config.predicate_awareness == "segment" and token_types < 2:
        raise ValueError(
            "predicate_awareness 'segment' needs two token types; this encoder has one: choose "
            "'indicator', or late fusion (fusion_layers below its depth)"
        )
