"""Pretraining an ALBERT encoder (MLM + sentence-order prediction) on the shared training runtime.

``pretrain(config)`` makes the vocabulary and the packed corpus when their directories hold none, then
trains ``transformers.AlbertForPreTraining`` with ``albert_srl.training``'s loop until ``max_steps`` (or
the ``max_minutes`` deadline), checkpointing every ``checkpoint_every`` steps. With ``encoder.pretrained``
it continues an exported encoder instead of starting afresh: its weights (MLM / SOP heads too when the
directory has them, else fresh ones), its vocabulary and sizes; the steps and tokens it had seen carry on
in the new export's ``pretraining.json`` and card. The MLM head runs on the
masked positions only (the same loss, without (B, T, V) logits). The dropout RNG is saved with each
checkpoint, so ``pretrain(config, resume=True)`` after an interruption ends with the same weights as a
run that never stopped. The last ``eval_documents`` documents are held out; the card reports MLM and SOP
accuracy on them. The result, ``output_dir``, is an ALBERT model directory (``export_encoder``).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers import AlbertConfig, AlbertForPreTraining, get_linear_schedule_with_warmup

from albert_srl.config import PretrainConfig
from albert_srl.errors import SRLFormatError
from albert_srl.model.tokenizer import Tokenizer, load_tokenizer
from albert_srl.pretraining.corpus import Corpus, prepare_corpus, prepare_tokenizer
from albert_srl.pretraining.export import add_run, encoder_card, export_encoder, read_record
from albert_srl.pretraining.instances import (
    IGNORE,
    Batch,
    Pairs,
    Vocabulary,
    batch_pairs,
    batch_rng,
    collate,
    epoch_plan,
    make_pairs,
)
from albert_srl.pretraining.state import PretrainState
from albert_srl.training.loop import Trainer
from albert_srl.training.runtime import Deadline, Runtime, build_optimizer, seed_everything, start_runtime

log = logging.getLogger(__name__)

# ALBERT's "gelu_new" is the tanh approximation of GELU written as five tensor operations; transformers'
# "gelu_pytorch_tanh" computes the same function (to 1e-6) in one fused kernel, ten times faster on a CPU.
FUSED_GELU = "gelu_pytorch_tanh"


def pretrain(config: PretrainConfig, resume: bool = True) -> Path:
    """Pretrain an ALBERT as ``config`` says and return ``output_dir``, an HF ALBERT model directory.

    ``resume`` continues from the last checkpoint in ``output_dir/checkpoints`` (without it, those are
    removed).
    """
    runtime = start_runtime(config)
    if runtime.world_size > 1:
        runtime.close()
        raise SRLFormatError(config.output_dir, None, "pretraining runs in one process (no torchrun)")
    output = Path(config.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    tokenizer_dir = prepare_tokenizer(config)
    tokenizer = load_tokenizer(tokenizer_dir)
    try:
        vocabulary = Vocabulary.from_tokenizer(tokenizer)
    except ValueError as error:
        raise SRLFormatError(str(tokenizer_dir), None, str(error)) from None
    corpus = prepare_corpus(config, tokenizer_dir)
    held_out = held_out_documents(config, corpus)
    training = range(corpus.documents - held_out)
    log.info("corpus: %d documents (%d held out), %d tokens", corpus.documents, held_out, len(corpus.ids))

    seed_everything(config.seed)
    # transformers wraps PreTrainedModel.to in functools.wraps, whose typeshed stub leaves self unbound
    model = build_model(config, tokenizer, runtime.device).to(runtime.device)  # type: ignore[arg-type]
    optimizer = build_optimizer(
        model, config.weight_decay, lambda name: config.learning_rate, betas=(0.9, 0.999), eps=1e-6
    )
    scheduler = learning_rate_schedule(optimizer, config, Deadline(config.max_minutes))
    trainer = Trainer(model, optimizer, scheduler, runtime, config, output)
    state = trainer.resume(PretrainState, resume)
    train_loop(trainer, config, corpus, training, vocabulary, state)
    evaluation = range(corpus.documents - held_out, corpus.documents)
    state.held_out = evaluate(model, corpus, evaluation, vocabulary, config, runtime)
    log.info("held-out: %s", state.held_out)
    previous = read_record(config.encoder.pretrained) if config.encoder.pretrained else {}
    record = add_run(previous, run_record(config, state, runtime))
    card = encoder_card(config, state, model.config, record)
    return export_encoder(model, tokenizer, card, output, record)


def build_model(config: PretrainConfig, tokenizer: Tokenizer, device: torch.device) -> AlbertForPreTraining:
    """A fresh ALBERT of the configured sizes, or the exported encoder ``encoder.pretrained`` (its heads
    fresh when the directory holds an ``AlbertModel`` alone); SDPA attention on CUDA, eager on CPU."""
    attention = "sdpa" if device.type == "cuda" else "eager"
    source = config.encoder.pretrained
    if source is None:
        return AlbertForPreTraining(albert_config(config, tokenizer, device))
    settings = AlbertConfig.from_pretrained(source)
    if settings.vocab_size != len(tokenizer):
        raise SRLFormatError(
            str(Path(source) / "config.json"), None,
            f"vocab_size {settings.vocab_size} does not match its tokenizer's {len(tokenizer)} pieces",
        )  # fmt: skip
    if settings.hidden_act == "gelu_new":
        settings.hidden_act = FUSED_GELU  # the same function, one fused kernel
    log.info("continuing the pretraining of %s", source)
    return AlbertForPreTraining.from_pretrained(
        source, config=settings, attn_implementation=attention, dtype=torch.float32
    )


def held_out_documents(config: PretrainConfig, corpus: Corpus) -> int:
    """How many of the corpus's last documents are held out for evaluation (at most a tenth of it)."""
    return min(config.eval_documents, corpus.documents // 10)


def albert_config(config: PretrainConfig, tokenizer: Tokenizer, device: torch.device) -> AlbertConfig:
    """The ``AlbertConfig`` of a fresh encoder; SDPA attention on CUDA, eager on CPU."""
    return AlbertConfig(
        **config.encoder.albert_config(len(tokenizer)),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
        # taken through **kwargs, which transformers' dataclass signature of the config does not show
        attn_implementation="sdpa" if device.type == "cuda" else "eager",  # type: ignore[call-arg]
        hidden_act=FUSED_GELU,  # ALBERT's gelu_new, computed by one fused kernel
    )


def learning_rate_schedule(
    optimizer: torch.optim.Optimizer, config: PretrainConfig, deadline: Deadline
) -> torch.optim.lr_scheduler.LRScheduler:
    """Linear warm-up over ``warmup_steps``, then linear decay to 0 at ``max_steps``; with
    ``deadline_schedule`` (and ``max_minutes``), at the deadline when that comes first."""
    if not (config.deadline_schedule and deadline.end is not None):
        return get_linear_schedule_with_warmup(optimizer, config.warmup_steps, config.max_steps)
    budget, warmup = 60 * (config.max_minutes or 0.0), max(1, config.warmup_steps)

    def factor(step: int) -> float:
        if step < warmup:
            return step / warmup
        end = deadline.end  # read at each step: a deadline may be moved
        left_in_time = max(0.0, end - time.monotonic()) / budget if budget and end is not None else 0.0
        left_in_steps = max(0.0, (config.max_steps - step) / max(1, config.max_steps - warmup))
        return min(left_in_time, left_in_steps)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def run_record(config: PretrainConfig, state: PretrainState, runtime: Runtime) -> dict[str, Any]:
    """This run's entry in ``pretraining.json``."""
    device = runtime.device
    return {
        "kind": "mlm+sop",
        "started_from": config.encoder.pretrained,
        "steps": state.step,
        "tokens_seen": state.tokens_seen,
        "seconds": round(state.seconds, 1),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "bf16": runtime.bf16,
        "max_tokens": config.max_tokens,
        "text": [*config.text_paths, *config.text_conll],
        "stopped_on_time": state.out_of_time,
        "held_out": state.held_out,
    }


def train_loop(
    trainer: Trainer,
    config: PretrainConfig,
    corpus: Corpus,
    documents: range,
    vocabulary: Vocabulary,
    state: PretrainState,
) -> None:
    """Train until ``max_steps`` (or the deadline), epoch after epoch; the last checkpoint is written
    where the loop stops."""
    model = trainer.model
    encoder = torch.compile(model.albert, dynamic=True) if config.compile else model.albert
    reporter = Reporter(state, config)
    while state.step < config.max_steps and not state.out_of_time:
        pairs, batches = epoch_plan(corpus, config, state.epoch, documents)
        if not batches:
            packed = config.packed_dir or trainer.output / "packed"
            raise SRLFormatError(str(packed), None, "the corpus has no sentence pairs to train on")
        loss_of = epoch_losses(trainer, config, corpus, pairs, batches, vocabulary, state, encoder, reporter)
        description = f"pretrain, epoch {state.epoch + 1}"
        if trainer.run_epoch(state, len(batches), loss_of, description, reporter.after_step):
            state.epoch, state.batches_done = state.epoch + 1, 0
    trainer.checkpoint(state)


def epoch_losses(
    trainer: Trainer,
    config: PretrainConfig,
    corpus: Corpus,
    pairs: Pairs,
    batches: list[np.ndarray],
    vocabulary: Vocabulary,
    state: PretrainState,
    encoder: Any,
    reporter: Reporter,
) -> Callable[[int], torch.Tensor]:
    """The loss of batch ``index`` of the epoch, its masks drawn from (seed, epoch, index)."""
    runtime = trainer.runtime

    def loss_of(index: int) -> torch.Tensor:
        rng = batch_rng(config, state.epoch, index)
        batch = collate(corpus, pairs, batches[index], vocabulary, rng, config.mask_prob, config.max_ngram)
        with runtime.autocast():
            result = pretraining_loss(trainer.model, batch.to(runtime.device), encoder)
        reporter.meter.add(result, batch.tokens)
        state.tokens_seen += batch.tokens
        return result.loss

    return loss_of


class Reporter:
    """Logs the running MLM / SOP numbers every ``log_every`` steps (and at the last one)."""

    def __init__(self, state: PretrainState, config: PretrainConfig) -> None:
        self.state, self.config = state, config
        self.meter, self.started = Meter(), time.perf_counter()

    def after_step(self, progress: Any) -> None:
        state = self.state
        if state.step % self.config.log_every == 0 or state.step == self.config.max_steps:
            now = time.perf_counter()
            self.report(now - self.started, progress)
            self.meter, self.started = Meter(), now

    def report(self, seconds: float, progress: Any) -> None:
        """Keep the meter's numbers in ``state``, log them and show them on the progress bar."""
        state = self.state
        state.last = self.meter.summary()
        speed = self.meter.tokens / max(seconds, 1e-9)
        progress.set_postfix(
            loss=f"{state.last['loss']:.3f}", mlm=f"{state.last['mlm_accuracy']:.3f}",
            sop=f"{state.last['sop_accuracy']:.3f}", tok_s=f"{speed:.0f}",
        )  # fmt: skip
        log.info(
            "step %d epoch %d: loss %.4f, MLM acc %.4f, SOP acc %.4f, %.0f tokens/s, %d tokens seen",
            state.step, state.epoch, state.last["loss"], state.last["mlm_accuracy"],
            state.last["sop_accuracy"], speed, state.tokens_seen,
        )  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# Loss and metrics


@dataclass
class StepResult:
    """The loss of a batch and what its accuracies are counted from."""

    loss: torch.Tensor
    mlm_correct: int
    mlm_total: int
    sop_correct: int
    sop_total: int


def pretraining_loss(model: AlbertForPreTraining, batch: Batch, encoder: Any = None) -> StepResult:
    """MLM + SOP loss with ``AlbertForPreTraining``'s own heads; equal to ``model(**batch).loss`` but the
    MLM head (and its (·, V) projection) runs on the masked positions only. ``encoder`` is
    ``model.albert`` or a compiled version of it."""
    encoded = (encoder or model.albert)(
        input_ids=batch.input_ids, attention_mask=batch.attention_mask, token_type_ids=batch.token_type_ids
    )
    predicted = batch.labels != IGNORE
    targets = batch.labels[predicted]
    mlm_logits = model.predictions(encoded.last_hidden_state[predicted])  # (M, V)
    sop_logits = model.sop_classifier(encoded.pooler_output)  # (B, 2)
    loss = F.cross_entropy(mlm_logits.float(), targets) + F.cross_entropy(
        sop_logits.float(), batch.sentence_order_label
    )
    with torch.no_grad():
        mlm_correct = int((mlm_logits.argmax(-1) == targets).sum())
        sop_correct = int((sop_logits.argmax(-1) == batch.sentence_order_label).sum())
    return StepResult(loss, mlm_correct, len(targets), sop_correct, len(batch.sentence_order_label))


class Meter:
    """Sums over the steps since the last report: loss, steps, tokens and the accuracy counts."""

    def __init__(self) -> None:
        self.sums: defaultdict[str, float] = defaultdict(float)  # a Counter holds ints; the loss is not

    @property
    def tokens(self) -> int:
        return int(self.sums["tokens"])

    def add(self, result: StepResult, tokens: int) -> None:
        counts = {k: v for k, v in vars(result).items() if k != "loss"}
        counts.update(loss=float(result.loss.detach()), steps=1, tokens=tokens)
        for key, value in counts.items():
            self.sums[key] += value

    def summary(self) -> dict[str, float]:
        sums = self.sums
        return {
            "loss": sums["loss"] / max(1, sums["steps"]),
            "mlm_accuracy": sums["mlm_correct"] / max(1, sums["mlm_total"]),
            "sop_accuracy": sums["sop_correct"] / max(1, sums["sop_total"]),
        }


@torch.inference_mode()
def evaluate(
    model: AlbertForPreTraining,
    corpus: Corpus,
    documents: range,
    vocabulary: Vocabulary,
    config: PretrainConfig,
    runtime: Runtime,
) -> dict[str, float]:
    """MLM / SOP accuracy on held-out ``documents``, with pairs and masks fixed by the seed."""
    if not len(documents):
        return {}
    rng = np.random.default_rng([config.seed, 2**31])
    pairs = make_pairs(corpus, config.max_length, 0.0, rng, documents)
    if not len(pairs.swapped):
        return {}
    model.eval()
    meter = Meter()
    for indices in batch_pairs(pairs.lengths, config.max_tokens, rng):
        batch = collate(corpus, pairs, indices, vocabulary, rng, config.mask_prob, config.max_ngram)
        with runtime.autocast():
            meter.add(pretraining_loss(model, batch.to(runtime.device)), batch.tokens)
    model.train()
    return meter.summary()
