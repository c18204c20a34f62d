"""Fine-tuning an ``SRLModel`` on CoNLL data, on the shared runtime of ``albert_srl.training``.

``train(config)`` reads the data, builds (or loads) the tokenizer and the model, and trains with AdamW
(separate learning rates for the encoder and the heads, linear warm-up then decay, gradient clipping) on
length-bucketed token-budget batches. Silver sentences (the ``silver`` section, ``training.silver``) join
the gold ones in the same shuffled stream, each loss a weighted mean with ``silver.weight`` on theirs.
After every epoch it scores the dev set with ``SRLTagger`` and the project's scorer, keeps the best model
in ``output_dir/best`` and stops early after ``patience`` epochs without a better F1. ``max_minutes``
stops it cleanly at a wall-clock deadline: the current weights are scored and kept when better, so
``best`` exists even when the deadline comes inside the first epoch.

The batch order of an epoch is a function of the seed and the epoch alone, so ``train(config,
resume=True)`` after a crash skips the batches already trained and ends with the same weights as a run
that never stopped. Under ``torchrun`` (``WORLD_SIZE`` set) every rank builds the same batches and trains
on its share of each one inside ``DistributedDataParallel``; only rank 0 writes files.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from transformers import get_linear_schedule_with_warmup

from albert_srl import formats
from albert_srl.config import TrainConfig
from albert_srl.data import Sentence
from albert_srl.errors import SRLFormatError
from albert_srl.files import replaced, write_atomic
from albert_srl.model.encoder_dir import encoder_from_pretrained
from albert_srl.model.encoding import (
    Batch,
    EncodedSentence,
    collate,
    encode,
    instances_from_sentences,
    label_set,
    make_batches,
    sense_set,
)
from albert_srl.model.network import ModelConfig, SRLModel, SRLOutput, weights_digest
from albert_srl.model.tokenizer import Tokenizer, load_tokenizer, train_sentencepiece
from albert_srl.tagging.model_dir import read_model_dir
from albert_srl.tagging.tagger import SRLTagger
from albert_srl.training.evaluation import evaluate
from albert_srl.training.loop import LoopState, Trainer
from albert_srl.training.runtime import Runtime, build_optimizer, seed_everything, start_runtime
from albert_srl.training.silver import SilverData, read_silver

log = logging.getLogger(__name__)

METRICS = "metrics.jsonl"
OnEvaluate = Callable[[int, dict[str, float]], None]


@dataclass
class FineTuneState(LoopState):
    """The fine-tuning loop's position and history; saved as JSON in every checkpoint."""

    best_f1: float = -1.0
    best_epoch: int | None = None
    bad_epochs: int = 0  # epochs since the best one
    # The epoch's losses so far: a run resumed mid-epoch reports the mean of all its batches.
    loss_sum: float = 0.0
    loss_batches: int = 0


@dataclass
class TrainingData:
    """Sentences and instances for one run, and the label sets the model is built with."""

    train: list[EncodedSentence]  # tokenized once, read by every epoch
    dev: list[Sentence]
    labels: list[str]
    senses: list[str]
    lemmas: dict[str, str]  # predicate word form (lower-cased) -> its most frequent roleset lemma
    predicate_pos: list[str]  # the gold POS tags of the training predicates (seen twice or more)
    silver: SilverData  # the silver sentences among ``train`` (none without a silver section)


def train(config: TrainConfig, resume: bool = False, on_evaluate: OnEvaluate | None = None) -> Path:
    """Train a model as ``config`` says and return its best directory, ``output_dir/best``.

    ``resume=True`` continues from the last checkpoint in ``output_dir`` (a fresh start when there is
    none); without it, old checkpoints in ``output_dir`` are removed first. ``on_evaluate(epoch,
    metrics)`` is called after every dev evaluation (on every rank) with the dev scores in percent:
    ``"f1"`` (span F1 with gold predicates), ``"precision"``, ``"recall"``, ``"sense_accuracy"``,
    ``"predicate_f1"`` (when that head is trained) and ``"train_loss"``. It runs once the evaluated
    epoch's checkpoint is on disk, so an exception it raises (a tuner pruning the trial) ends the run
    with nothing lost: it propagates out of ``train``.
    """
    runtime = start_runtime(config)
    try:
        return _train(config, resume, runtime, on_evaluate)
    finally:
        runtime.close()


def _train(config: TrainConfig, resume: bool, runtime: Runtime, on_evaluate: OnEvaluate | None) -> Path:
    output = Path(config.output_dir)
    if runtime.is_main:
        output.mkdir(parents=True, exist_ok=True)
        if not resume:  # a fresh run owes nothing to an earlier one in the same directory
            shutil.rmtree(output / "tokenizer", ignore_errors=True)
            (output / METRICS).unlink(missing_ok=True)
    seed_everything(config.seed + runtime.rank)
    train_sentences = read_sentences(config.train_path, config.max_train_sentences)
    silver = read_silver(config.silver)
    start = read_model_dir(config.init_model) if config.init_model is not None else None
    tokenizer = start.tokenizer if start else prepare_tokenizer(config, train_sentences, runtime)
    data = prepare_data(config, train_sentences, tokenizer, silver)
    if start:
        model, data = continued_model(start.model, str(config.init_model), data)
    else:
        model = build_model(config, data, tokenizer)
    model = model.to(runtime.device)
    total_steps = planned_steps(config, data, runtime)
    optimizer = finetune_optimizer(model, config)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, round(config.warmup_ratio * total_steps), total_steps
    )
    trainer = Trainer(model, optimizer, scheduler, runtime, config, output)
    state = trainer.resume(FineTuneState, resume)
    if resume:
        state.finished = run_is_over(config, state)  # a finished run resumed with more epochs goes on
        if runtime.is_main:
            trim_metrics(output / METRICS, state.epoch)
    if runtime.world_size > 1:
        trainer.trainable = DistributedDataParallel(model)

    while not state.finished:
        loss = train_epoch(trainer, data, tokenizer, config, state)
        metrics = end_epoch(trainer, tokenizer, data, config, state, loss)
        trainer.checkpoint(state)
        if on_evaluate is not None:
            on_evaluate(state.epoch if not state.out_of_time else state.epoch + 1, metrics)
        if state.out_of_time:
            break
    digests = runtime.gather(weights_digest(model))
    for rank, digest in enumerate(digests):
        log.info("rank %d: final weights sha256 %s", rank, digest)
    log.info("best dev F1 %.2f after epoch %s; model in %s", state.best_f1, state.best_epoch, output / "best")
    return output / "best"


# ---------------------------------------------------------------------------------------------------
# Set-up


def read_sentences(path: str, limit: int | None) -> list[Sentence]:
    """The first ``limit`` sentences (all when ``None``) of a file in any format the readers take."""
    sentences = list(islice(formats.read(path), limit))
    log.info("read %d sentences from %s", len(sentences), path)
    return sentences


def prepare_tokenizer(config: TrainConfig, sentences: list[Sentence], runtime: Runtime) -> Tokenizer:
    """The pretrained encoder's tokenizer, the configured one, or one trained on the training words.

    A trained tokenizer is kept in ``output_dir/tokenizer`` and reused when resuming; under DDP rank 0
    trains it while the other ranks wait.
    """
    encoder = config.encoder
    source = encoder.tokenizer or encoder.pretrained
    if source is not None:
        return load_tokenizer(source)
    directory = Path(config.output_dir) / "tokenizer"
    if runtime.is_main and not directory.exists():
        directory.parent.mkdir(parents=True, exist_ok=True)
        for stale in directory.parent.glob(".tokenizer-*"):  # left by a run killed while training one
            shutil.rmtree(stale, ignore_errors=True)
        lines = (" ".join(s.words) for s in sentences)
        with replaced(directory, directory=True) as staging:  # complete or absent, even if killed
            train_sentencepiece(
                lines, staging, encoder.vocab_size, encoder.lowercase, source=config.train_path
            )
        log.info("trained a %d-piece SentencePiece model in %s", encoder.vocab_size, directory)
    runtime.barrier()
    return load_tokenizer(directory)


def prepare_data(
    config: TrainConfig,
    train_sentences: list[Sentence],
    tokenizer: Tokenizer,
    silver: SilverData | None = None,
) -> TrainingData:
    """Training instances (tokenized once): the gold ones and the silver ones (loss weight
    ``silver.weight``) in one list, which every epoch shuffles; their label and sense sets; the dev
    sentences (dev labels unseen in training warned). The lemma table and the predicates' POS tags come
    from the gold sentences alone."""
    silver = silver or SilverData()
    gold = instances_from_sentences(train_sentences, predicate_identification=config.predicate_identification)
    if not any(instance.predicate is not None for instance in gold):
        raise SRLFormatError(config.train_path, None, "no training sentence has a predicate to learn from")
    instances = gold + instances_from_sentences(
        silver.sentences, config.predicate_identification, weight=config.silver.weight
    )
    labels, senses = label_set(instances), sense_set(instances)
    dev = read_sentences(config.dev_path, config.max_dev_sentences)
    unseen = set(label_set(instances_from_sentences(dev, predicate_identification=False))) - set(labels)
    if unseen:
        log.warning(
            "%s: dev labels never seen in training (the model cannot predict them): %s",
            config.dev_path,
            ", ".join(sorted(unseen)),
        )
    log.info("%d training instances, %d labels, %d senses", len(instances), len(labels), len(senses))
    lemmas = lemma_table(train_sentences)
    predicate_pos = predicate_pos_tags(train_sentences)
    return TrainingData(encode(tokenizer, instances), dev, labels, senses, lemmas, predicate_pos, silver)


def predicate_pos_tags(sentences: Iterable[Sentence], min_count: int = 2) -> list[str]:
    """The gold part-of-speech tags of the predicates of ``sentences`` (a tag seen once is taken for an
    annotation slip), for the syntax head to keep predicate identification to words that can be one."""
    counts = Counter(s.pos[f.predicate.index] for s in sentences if s.pos for f in s.frames)
    return sorted(tag for tag, count in counts.items() if count >= min_count)


def lemma_table(sentences: Iterable[Sentence]) -> dict[str, str]:
    """The roleset lemma each predicate word form has most often in ``sentences`` (``"got"`` -> ``"get"``),
    for the tagger to name the rolesets it predicts."""
    counts: dict[str, Counter[str]] = {}
    for sentence in sentences:
        for frame in sentence.frames:
            if frame.predicate.lemma:
                form = sentence.words[frame.predicate.index].lower()
                counts.setdefault(form, Counter())[frame.predicate.lemma] += 1
    return {form: lemmas.most_common(1)[0][0] for form, lemmas in sorted(counts.items())}


def build_model(config: TrainConfig, data: TrainingData, tokenizer: Tokenizer) -> SRLModel:
    """A fresh ALBERT of the configured size (its vocabulary the tokenizer's), or the pretrained encoder,
    under new heads."""
    pretrained = config.encoder.pretrained
    encoder = encoder_from_pretrained(pretrained) if pretrained else None
    model_config = ModelConfig(
        labels=data.labels,
        senses=data.senses,
        predicate_awareness=config.predicate_awareness,
        fusion_layers=config.fusion_layers,
        head=config.head,
        max_length=config.max_length,
        stride=config.stride,
        encoder=encoder.spec.to_dict() if encoder else config.encoder.albert_config(len(tokenizer)),
        dropout=config.dropout,
        lemmas=data.lemmas,
        syntax_head=config.loss_weights.syntax > 0,
        predicate_pos=data.predicate_pos if config.loss_weights.syntax > 0 else [],
    )
    try:
        return SRLModel(model_config, encoder=encoder)
    except ValueError as error:  # a fusion the encoder cannot take: say so against the encoder it names
        raise SRLFormatError(pretrained or "encoder", None, str(error)) from None


def continued_model(model: SRLModel, init_model: str, data: TrainingData) -> tuple[SRLModel, TrainingData]:
    """``model`` (read from ``init_model``), to train on, and ``data`` in its label and sense order.

    Its label sets must hold the data's (a head row cannot be added without changing what it learned);
    its lemma table takes the training data's entries over its own.
    """
    built = model.config
    for kind, known, needed in (("labels", built.labels, data.labels), ("senses", built.senses, data.senses)):
        unknown = sorted(set(needed) - set(known))
        if unknown:
            shown = ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else "")
            message = f"init_model: the training data has {kind} the model lacks ({shown}): train it afresh"
            raise SRLFormatError(init_model, None, message)
    model.config = replace(built, lemmas={**built.lemmas, **data.lemmas})
    return model, replace(data, labels=list(built.labels), senses=list(built.senses))


def planned_steps(config: TrainConfig, data: TrainingData, runtime: Runtime) -> int:
    """Optimizer steps the schedule spans: all epochs, or ``max_steps`` when that comes first."""
    per_epoch = len(epoch_batches(config, data, 0, runtime))
    total = per_epoch * config.epochs
    return max(1, min(total, config.max_steps) if config.max_steps is not None else total)


def epoch_batches(config: TrainConfig, data: TrainingData, epoch: int, runtime: Runtime) -> list[list[int]]:
    """The batches (instance indices) of ``epoch``: the same on every rank and every run for a seed.

    Batches too small to give every rank an instance are left out, on all ranks alike.
    """
    batches = make_batches(
        data.train, config, max_tokens=config.max_tokens, shuffle=True, seed=config.seed + epoch
    )
    return [batch for batch in batches if len(batch) >= runtime.world_size]


# ---------------------------------------------------------------------------------------------------
# The loop


def train_epoch(
    trainer: Trainer, data: TrainingData, tokenizer: Tokenizer, config: TrainConfig, state: FineTuneState
) -> float:
    """Train the rest of ``state.epoch``; returns the mean loss of all its batches (those trained before
    a resume included: their sum is in ``state``)."""
    runtime = trainer.runtime
    batches = epoch_batches(config, data, state.epoch, runtime)
    model_config = trainer.model.config
    label_index = {label: i for i, label in enumerate(data.labels)}
    sense_index = {sense: i for i, sense in enumerate(data.senses)}
    last = 0.0

    def loss_of(index: int) -> torch.Tensor:
        share = [data.train[i] for i in batches[index][runtime.rank :: runtime.world_size]]
        batch = collate(share, tokenizer, model_config, label_index, sense_index)
        loss = training_loss(trainer.trainable, batch, config, runtime)
        if runtime.world_size > 1:  # every head in every step's graph: DDP needs no unused-parameter search
            loss = loss + 0.0 * sum(p.view(-1)[0] for p in trainer.trainable.parameters())
        nonlocal last
        last = loss.item()
        state.loss_sum += last
        state.loss_batches += 1
        return loss

    def show_loss(progress: Any) -> None:
        progress.set_postfix(loss=f"{last:.3f}")

    trainer.run_epoch(state, len(batches), loss_of, f"epoch {state.epoch + 1}", show_loss)
    return state.loss_sum / state.loss_batches if state.loss_batches else 0.0


def finetune_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with the heads at ``head_lr`` and the encoder at ``encoder_lr``, decayed by
    ``layer_lr_decay`` for each layer a parameter sits below the top one (``layer_depth``)."""
    depths = {name: layer_depth(name) for name, _ in model.named_parameters() if name.startswith("encoder.")}
    top = max((d for d in depths.values() if d is not None), default=0)

    def learning_rate(name: str) -> float:
        if name not in depths:
            return config.head_lr
        depth = depths[name]
        return config.encoder_lr * config.layer_lr_decay ** (top - (top if depth is None else depth))

    return build_optimizer(model, config.weight_decay, learning_rate)


def layer_depth(name: str) -> int | None:
    """Where an encoder parameter sits: 0 for the embeddings, i + 1 for layer i (an ALBERT layer group
    counts as a layer: with one shared group every layer learns at the top rate), ``None`` for the rest
    (a pooler, DeBERTa's relative embeddings), which learn at the top rate."""
    layer = re.search(r"\.(?:layer|albert_layer_groups)\.(\d+)\.", name)
    if layer:
        return int(layer.group(1)) + 1
    return 0 if ".embeddings." in name or "embedding_hidden_mapping_in" in name else None


def training_loss(
    model: torch.nn.Module, batch: Batch, config: TrainConfig, runtime: Runtime
) -> torch.Tensor:
    """The objective of one batch (moved to the run's device): the forward pass under the run's autocast,
    its losses weighted by ``loss_weights`` (``weighted_loss``)."""
    with runtime.autocast():
        output = model(batch.to(runtime.device))
    return weighted_loss(output, config)


def weighted_loss(output: SRLOutput, config: TrainConfig) -> torch.Tensor:
    """The training objective: the model's losses under the configured weights."""
    weights = config.loss_weights
    parts = [
        (weights.argument, output.argument_loss),
        (weights.sense, output.sense_loss),
        (weights.predicate, output.predicate_loss),
        (weights.syntax, output.pos_loss),
    ]
    return sum(
        (w * loss for w, loss in parts if loss is not None), torch.zeros((), device=output.loss.device)
    )


def end_epoch(
    trainer: Trainer,
    tokenizer: Tokenizer,
    data: TrainingData,
    config: TrainConfig,
    state: FineTuneState,
    loss: float,
) -> dict[str, float]:
    """Score the dev set, keep the best model, log the epoch and decide whether to go on; returns the
    epoch's metrics.

    Every rank scores the dev set (the same numbers everywhere), so all ranks stop together. At the
    deadline the epoch is left unfinished (a resumed run completes it) and the run ends.
    """
    model, runtime = trainer.model, trainer.runtime
    metrics = evaluate(SRLTagger(model, tokenizer), data.dev, config)
    improved = metrics["f1"] > state.best_f1
    if improved:
        state.best_f1, state.best_epoch, state.bad_epochs = metrics["f1"], state.epoch + 1, 0
    elif not state.out_of_time:
        state.bad_epochs += 1
    record = {"epoch": state.epoch + 1, "step": state.step, "train_loss": loss, **metrics}
    if runtime.is_main:
        summary = ", ".join(f"{k} {v:.4g}" for k, v in record.items() if k != "epoch")
        log.info("epoch %d%s: %s", state.epoch + 1, " (cut short)" if state.out_of_time else "", summary)
        with open(Path(config.output_dir) / METRICS, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
        if improved:
            save_best(model, tokenizer, config, metrics, state, data.silver)
        elif state.out_of_time:
            note_time_budget(Path(config.output_dir) / "best" / "README.md", config, state)
    if state.out_of_time:
        return {**metrics, "train_loss": loss}
    state.epoch += 1
    state.batches_done = 0
    state.loss_sum, state.loss_batches = 0.0, 0
    if state.bad_epochs >= config.patience:
        log.info("no better dev F1 for %d epochs: stopping", state.bad_epochs)
    state.finished = run_is_over(config, state)
    return {**metrics, "train_loss": loss}


def run_is_over(config: TrainConfig, state: FineTuneState) -> bool:
    """All epochs done, ``max_steps`` reached, or ``patience`` epochs without a better dev F1."""
    steps_done = config.max_steps is not None and state.step >= config.max_steps
    return state.epoch >= config.epochs or steps_done or state.bad_epochs >= config.patience


def save_best(
    model: SRLModel,
    tokenizer: Tokenizer,
    config: TrainConfig,
    metrics: dict[str, float],
    state: FineTuneState,
    silver: SilverData,
) -> None:
    """Replace ``output_dir/best`` with the current model and its card (written aside, then swapped in)."""
    with replaced(Path(config.output_dir) / "best", directory=True) as staging:
        card = model_card(config, model.config, metrics, state, silver)
        SRLTagger(model, tokenizer).save_pretrained(staging, card=card)


def note_time_budget(card: Path, config: TrainConfig, state: FineTuneState) -> None:
    """Add to the best model's card that its run stopped at the time budget (written aside, renamed)."""
    if card.exists():
        write_atomic(card, card.read_text(encoding="utf-8") + time_budget_note(config, state))


def trim_metrics(path: Path, epochs_done: int) -> None:
    """Forget metrics of epochs that a resumed run trains again (those after its checkpoint), and a line
    that a killed run left half-written."""
    if not path.exists():
        return
    kept = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        try:
            epoch = json.loads(line)["epoch"]
        except (ValueError, KeyError, TypeError, RecursionError):
            log.warning("%s:%d: not a metrics line (a run killed while writing it?): dropped", path, number)
            continue
        if isinstance(epoch, int) and epoch <= epochs_done:
            kept.append(line + "\n")
    write_atomic(path, "".join(kept))


# ---------------------------------------------------------------------------------------------------
# The model card


def model_card(
    config: TrainConfig,
    built: ModelConfig,
    metrics: dict[str, float],
    state: FineTuneState,
    silver: SilverData,
) -> str:
    """The README.md of a trained model: data, command, dev scores, config."""
    scores = "\n".join(f"| {name} | {value:.2f} |" for name, value in metrics.items())
    settings = json.dumps(dataclasses.asdict(config), indent=2)
    stopped = time_budget_note(config, state) if state.out_of_time else ""
    return f"""# albert-srl model

PropBank semantic role labeller: ALBERT encoder, BIO head ({config.head}), predicate awareness
`{built.predicate_awareness}`, fusion layers `{built.fusion_layers}`. Trained with albert-srl.

## Training data

{_init_note(config.init_model)}- train: `{config.train_path}`{_slice_note(config.max_train_sentences)}
{silver_note(config, silver)}- dev: `{config.dev_path}`{_slice_note(config.max_dev_sentences)}

The English Web Treebank PropBank data (unified PropBank release and Universal Dependencies
English-EWT) is licensed CC BY-SA 4.0; a model trained on it must credit both.

## Command

```
{" ".join(sys.argv)}
```

## Dev scores (epoch {state.epoch + 1}, step {state.step}; percent, gold predicates)

| metric | score |
| --- | --- |
{scores}
{stopped}
## Training config

```json
{settings}
```
"""


def time_budget_note(config: TrainConfig, state: FineTuneState) -> str:
    return (
        f"\n## Stopped on its time budget\n\nTraining stopped at its wall-clock budget (`max_minutes` ="
        f" {config.max_minutes:g}) after step {state.step}, in epoch {state.epoch + 1}"
        f" ({state.batches_done} batches of it trained); `albert-srl train --resume` goes on from there.\n"
    )


def silver_note(config: TrainConfig, silver: SilverData) -> str:
    """The card's line on the silver data, where the run had some: files, sentences, how chosen."""
    settings = config.silver
    if not settings.path:
        return ""
    chosen = [
        f"{len(silver.sentences):,} sentences used of {silver.read:,} read",
        f"loss weight {settings.weight:g}",
    ]
    if settings.min_confidence is not None:
        chosen.append(f"min_confidence {settings.min_confidence:g} ({silver.below_confidence:,} left out)")
    if settings.max_sentences is not None:
        chosen.append(f"whole documents until max_sentences {settings.max_sentences:,}")
    return f"- silver: {', '.join(f'`{path}`' for path in settings.path)}: {'; '.join(chosen)}\n"


def _init_note(init_model: str | None) -> str:
    return f"- started from the trained model `{init_model}` (continued training)\n" if init_model else ""


def _slice_note(limit: int | None) -> str:
    return f" (first {limit} sentences)" if limit else ""
