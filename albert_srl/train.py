"""Fine-tuning an ``SRLModel`` on CoNLL data: the training loop, dev evaluation, checkpoints and DDP.

``train(config)`` reads the data, builds (or loads) the tokenizer and the model, and trains with AdamW
(separate learning rates for the ALBERT encoder and the heads, linear warm-up then decay, gradient
clipping) on length-bucketed token-budget batches. After every epoch it scores the dev set with the
project's scorer, keeps the best model in ``output_dir/best`` and stops early after ``patience`` epochs
without a better F1.

Checkpoints (``output_dir/checkpoints/step-*``) hold the model and optimizer tensors as safetensors and
the rest (step, epoch, scheduler, best score, RNG states) as JSON; nothing is pickled. The batch order of
an epoch is a function of the seed and the epoch alone, so ``train(config, resume=True)`` after a crash
skips the batches already trained and ends with the same weights as a run that never stopped.

Under ``torchrun`` (``WORLD_SIZE`` set) every rank builds the same batches and trains on its share of
each one inside ``DistributedDataParallel``; only rank 0 writes files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import load_file, load_model, save_file, save_model
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm
from transformers import get_linear_schedule_with_warmup

from albert_srl import formats
from albert_srl.config import TrainConfig, load_config
from albert_srl.data import Sentence
from albert_srl.encoding import (
    Instance,
    collate,
    instances_from_sentences,
    label_set,
    make_batches,
    sense_number,
    sense_set,
)
from albert_srl.model import ModelConfig, SRLModel, encoder_from_pretrained
from albert_srl.scorer import score
from albert_srl.tagger import SRLTagger
from albert_srl.tokenizer import load_tokenizer, train_sentencepiece

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight")


@dataclass
class Runtime:
    """Where this process trains: its device, its rank among ``world_size`` and whether bf16 is on."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    bf16: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def autocast(self) -> AbstractContextManager[Any]:
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.bf16 else nullcontext()


@dataclass
class TrainerState:
    """The loop's position and history; saved as JSON in every checkpoint."""

    epoch: int = 0  # the epoch being trained
    batches_done: int = 0  # batches of ``epoch`` already trained
    step: int = 0  # optimizer steps in all
    best_f1: float = -1.0
    best_epoch: int | None = None
    bad_epochs: int = 0  # epochs since the best one
    finished: bool = False


@dataclass
class TrainingData:
    """Sentences and instances for one run, and the label sets the model is built with."""

    train: list[Instance]
    dev: list[Sentence]
    labels: list[str]
    senses: list[str]
    lemmas: dict[str, str]  # predicate word form (lower-cased) -> its most frequent roleset lemma


def main_train(config_path: str, overrides: Sequence[str] = (), resume: bool = False) -> int:
    """``albert-srl train``: load the config, train, print the best model's directory."""
    best = train(load_config(config_path, overrides), resume=resume)
    print(best)
    return 0


def train(
    config: TrainConfig,
    resume: bool = False,
    on_evaluate: Callable[[int, dict[str, float]], None] | None = None,
) -> Path:
    """Train a model as ``config`` says and return its best directory, ``output_dir/best``.

    ``resume=True`` continues from the last checkpoint in ``output_dir`` (a fresh start when there is
    none); without it, old checkpoints in ``output_dir`` are removed first. ``on_evaluate(epoch,
    metrics)`` is called after each dev evaluation, once the epoch's checkpoint is on disk; an exception
    it raises (a tuner's ``TrialPruned``) ends the run there.
    """
    runtime = start_runtime(config)
    try:
        return _train(config, resume, runtime, on_evaluate)
    finally:
        if runtime.world_size > 1:
            dist.destroy_process_group()


def _train(
    config: TrainConfig,
    resume: bool,
    runtime: Runtime,
    on_evaluate: Callable[[int, dict[str, float]], None] | None = None,
) -> Path:
    output = Path(config.output_dir)
    if runtime.is_main:
        output.mkdir(parents=True, exist_ok=True)
        if not resume:  # a fresh run owes nothing to an earlier one in the same directory
            shutil.rmtree(output / CHECKPOINTS, ignore_errors=True)
            shutil.rmtree(output / "tokenizer", ignore_errors=True)
            (output / "metrics.jsonl").unlink(missing_ok=True)
    seed_everything(config.seed + runtime.rank)
    train_sentences = read_sentences(config.train_path, config.max_train_sentences)
    tokenizer = prepare_tokenizer(config, train_sentences, runtime)
    data = prepare_data(config, train_sentences)
    model = build_model(config, data, tokenizer).to(runtime.device)
    total_steps = planned_steps(config, data, tokenizer, runtime)
    optimizer = build_optimizer(model, config)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, round(config.warmup_ratio * total_steps), total_steps
    )
    state = TrainerState()
    checkpoint = latest_checkpoint(output) if resume else None
    if checkpoint is not None:
        state = load_checkpoint(checkpoint, model, optimizer, scheduler, runtime)
        log.info("resuming from %s (epoch %d, step %d)", checkpoint, state.epoch + 1, state.step)
        if runtime.is_main:
            trim_metrics(output / "metrics.jsonl", state.epoch)
    elif resume:
        log.warning("no checkpoint in %s: starting afresh", output / CHECKPOINTS)
    trainable = (
        DistributedDataParallel(model, find_unused_parameters=True) if runtime.world_size > 1 else model
    )

    while not state.finished:
        loss = train_epoch(trainable, optimizer, scheduler, data, tokenizer, config, state, runtime)
        metrics = end_epoch(model, tokenizer, data, config, state, runtime, loss)
        rng = gather_rng_states(runtime)
        if runtime.is_main:
            save_checkpoint(output, model, optimizer, scheduler, state, rng)
        if on_evaluate is not None:
            on_evaluate(state.epoch, metrics)
    log.info("rank %d: final weights sha256 %s", runtime.rank, weights_digest(model))
    log.info("best dev F1 %.2f after epoch %s; model in %s", state.best_f1, state.best_epoch, output / "best")
    return output / "best"


# ---------------------------------------------------------------------------------------------------
# Set-up


def start_runtime(config: TrainConfig) -> Runtime:
    """Pick the device, set the thread count and, under ``torchrun``, join the process group."""
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    cuda = config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available())
    rank, world_size = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world_size > 1:
        dist.init_process_group("nccl" if cuda else "gloo")
        log.info("rank %d of %d on %s", rank, world_size, device)
    bf16 = cuda if config.bf16 is None else config.bf16 and cuda
    if config.bf16 and not cuda:
        log.warning("bf16 is for CUDA training; training in float32 on the CPU")
    return Runtime(device=device, rank=rank, world_size=world_size, bf16=bf16)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def read_sentences(path: str, limit: int | None) -> list[Sentence]:
    """The first ``limit`` sentences (all when ``None``) of a file in any format the readers take."""
    sentences = list(islice(formats.read(path), limit))
    log.info("read %d sentences from %s", len(sentences), path)
    return sentences


def prepare_tokenizer(config: TrainConfig, sentences: list[Sentence], runtime: Runtime) -> Any:
    """The pretrained encoder's tokenizer, the configured one, or one trained on the training words.

    A trained tokenizer is kept in ``output_dir/tokenizer`` and reused when resuming; under DDP rank 0
    trains it while the other ranks wait.
    """
    encoder = config.encoder
    if encoder.pretrained is not None or encoder.tokenizer is not None:
        return load_tokenizer(encoder.tokenizer or encoder.pretrained)
    directory = Path(config.output_dir) / "tokenizer"
    if runtime.is_main and not directory.exists():
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".tokenizer-", dir=directory.parent))
        lines = (" ".join(s.words) for s in sentences)
        train_sentencepiece(lines, staging, vocab_size=encoder.vocab_size, lowercase=encoder.lowercase)
        os.replace(staging, directory)  # complete or absent, even if the run is killed meanwhile
        log.info("trained a %d-piece SentencePiece model in %s", encoder.vocab_size, directory)
    if runtime.world_size > 1:
        dist.barrier()
    return load_tokenizer(directory)


def prepare_data(config: TrainConfig, train_sentences: list[Sentence]) -> TrainingData:
    """Training instances, their label sets, and the dev sentences (dev labels unseen in training warned)."""
    instances = instances_from_sentences(
        train_sentences, predicate_identification=config.predicate_identification
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
    return TrainingData(train=instances, dev=dev, labels=labels, senses=senses, lemmas=lemmas)


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


def build_model(config: TrainConfig, data: TrainingData, tokenizer: Any) -> SRLModel:
    """A fresh ALBERT of the configured size (its vocabulary the tokenizer's), or the pretrained encoder,
    under new heads."""
    encoder = encoder_from_pretrained(config.encoder.pretrained) if config.encoder.pretrained else None
    sizes = dataclasses.asdict(config.encoder)
    for key in ("pretrained", "tokenizer", "lowercase"):
        sizes.pop(key)
    sizes["vocab_size"] = len(tokenizer)
    encoder_config = encoder.config.to_dict() if encoder is not None else sizes
    model_config = ModelConfig(
        labels=data.labels,
        senses=data.senses,
        predicate_awareness=config.predicate_awareness,
        head=config.head,
        max_length=config.max_length,
        stride=config.stride,
        encoder=encoder_config,
        dropout=config.dropout,
        lemmas=data.lemmas,
    )
    return SRLModel(model_config, encoder=encoder)


def build_optimizer(model: SRLModel, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with ``encoder_lr`` for the ALBERT encoder and ``head_lr`` for the rest; no weight decay on
    biases and layer norms, as BERT/ALBERT fine-tuning does."""
    encoder_ids = {id(p) for p in model.encoder.parameters()}
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            key = (id(parameter) in encoder_ids, name.endswith(NO_DECAY))
            groups.setdefault(key, []).append(parameter)
    return torch.optim.AdamW(
        [
            {
                "params": params,
                "lr": config.encoder_lr if in_encoder else config.head_lr,
                "weight_decay": 0.0 if no_decay else config.weight_decay,
            }
            for (in_encoder, no_decay), params in sorted(groups.items())
        ]
    )


def planned_steps(config: TrainConfig, data: TrainingData, tokenizer: Any, runtime: Runtime) -> int:
    """Optimizer steps the schedule spans: all epochs, or ``max_steps`` when that comes first."""
    per_epoch = len(epoch_batches(config, data, tokenizer, 0, runtime))
    total = per_epoch * config.epochs
    return max(1, min(total, config.max_steps) if config.max_steps is not None else total)


def epoch_batches(
    config: TrainConfig, data: TrainingData, tokenizer: Any, epoch: int, runtime: Runtime
) -> list[list[int]]:
    """The batches (instance indices) of ``epoch``: the same on every rank and every run for a seed.

    Batches too small to give every rank an instance are left out, on all ranks alike.
    """
    batches = make_batches(
        data.train, tokenizer, config, config.max_tokens, shuffle=True, seed=config.seed + epoch
    )
    return [batch for batch in batches if len(batch) >= runtime.world_size]


# ---------------------------------------------------------------------------------------------------
# The loop


def train_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    data: TrainingData,
    tokenizer: Any,
    config: TrainConfig,
    state: TrainerState,
    runtime: Runtime,
) -> float:
    """Train the rest of ``state.epoch``; returns the mean loss of its batches trained in this call.

    Stops early (and marks the run finished) at ``max_steps``; writes step checkpoints on rank 0.
    """
    batches = epoch_batches(config, data, tokenizer, state.epoch, runtime)
    inner = model.module if isinstance(model, DistributedDataParallel) else model
    label_index = {label: i for i, label in enumerate(data.labels)}
    sense_index = {sense: i for i, sense in enumerate(data.senses)}
    model.train()
    progress = tqdm(
        total=len(batches),
        initial=state.batches_done,
        desc=f"epoch {state.epoch + 1}",
        disable=not (runtime.is_main and sys.stderr.isatty()),
    )
    losses: list[float] = []
    started, seen = time.perf_counter(), 0
    for batch_ids in batches[state.batches_done :]:
        share = [data.train[i] for i in batch_ids[runtime.rank :: runtime.world_size]]
        batch = collate(share, tokenizer, inner.config, label_index, sense_index)
        losses.append(train_step(model, optimizer, scheduler, batch, config, runtime))
        state.step += 1
        state.batches_done += 1
        seen += len(batch_ids)
        progress.update()
        progress.set_postfix(loss=f"{losses[-1]:.3f}", inst_s=f"{seen / (time.perf_counter() - started):.0f}")
        if config.max_steps is not None and state.step >= config.max_steps:
            state.finished = True
            break
        if config.checkpoint_every and state.step % config.checkpoint_every == 0:
            rng = gather_rng_states(runtime)
            if runtime.is_main:
                save_checkpoint(Path(config.output_dir), inner, optimizer, scheduler, state, rng)
    progress.close()
    log.debug("epoch %d: %.1f instances/s", state.epoch + 1, seen / (time.perf_counter() - started))
    return sum(losses) / len(losses) if losses else 0.0


def train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    batch: Any,
    config: TrainConfig,
    runtime: Runtime,
) -> float:
    """One optimizer step on ``batch`` (an ``encoding.Batch``); returns its loss."""
    batch = batch.to(runtime.device)
    with runtime.autocast():
        output = model(batch)
    loss = weighted_loss(output, config)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimizer.step()
    scheduler.step()
    return loss.item()


def weighted_loss(output: Any, config: TrainConfig) -> torch.Tensor:
    """The training objective: the model's three losses under the configured weights."""
    weights = config.loss_weights
    parts = [
        (weights.argument, output.argument_loss),
        (weights.sense, output.sense_loss),
        (weights.predicate, output.predicate_loss),
    ]
    return sum(
        (w * loss for w, loss in parts if loss is not None), torch.zeros((), device=output.loss.device)
    )


def end_epoch(
    model: SRLModel,
    tokenizer: Any,
    data: TrainingData,
    config: TrainConfig,
    state: TrainerState,
    runtime: Runtime,
    loss: float,
) -> dict[str, float]:
    """Score the dev set, keep the best model, log the epoch and decide whether to go on; returns the
    dev metrics.

    Every rank scores the dev set (the same numbers everywhere), so all ranks stop together.
    """
    metrics = evaluate(model, tokenizer, data.dev, config)
    model.train()
    improved = metrics["f1"] > state.best_f1
    if improved:
        state.best_f1, state.best_epoch, state.bad_epochs = metrics["f1"], state.epoch + 1, 0
    else:
        state.bad_epochs += 1
    record = {"epoch": state.epoch + 1, "step": state.step, "train_loss": loss, **metrics}
    if runtime.is_main:
        summary = ", ".join(f"{k} {v:.4g}" for k, v in record.items() if k != "epoch")
        log.info("epoch %d: %s", state.epoch + 1, summary)
        with open(Path(config.output_dir) / "metrics.jsonl", "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
        if improved:
            save_best(model, tokenizer, config, metrics, state)
    state.epoch += 1
    state.batches_done = 0
    if state.bad_epochs >= config.patience:
        log.info("no better dev F1 for %d epochs: stopping", state.bad_epochs)
        state.finished = True
    if state.epoch >= config.epochs:
        state.finished = True
    return metrics


# ---------------------------------------------------------------------------------------------------
# Evaluation


def evaluate(model: SRLModel, tokenizer: Any, dev: list[Sentence], config: TrainConfig) -> dict[str, float]:
    """Dev scores in percent: span P/R/F1 with gold predicates (srl-eval.pl's overall line), sense
    accuracy, and predicate-identification F1 when that head is trained."""
    model.eval()
    tagger = SRLTagger(model, tokenizer)
    words = [sentence.words for sentence in dev]
    gold_predicates = [[frame.predicate.index for frame in sentence.frames] for sentence in dev]
    tagged = tagger.tag(words, predicates=gold_predicates, max_tokens=config.eval_max_tokens)
    copy_gold_lemmas(dev, tagged)
    result = score(dev, tagged, gold_path=config.dev_path, pred_path="dev predictions")
    metrics = {"precision": result.precision, "recall": result.recall, "f1": result.f1}
    metrics["sense_accuracy"] = sense_accuracy(dev, tagged)
    if config.predicate_identification:
        found = tagger.tag(words, max_tokens=config.eval_max_tokens)
        metrics["predicate_f1"] = predicate_f1(dev, found)
    return metrics


def copy_gold_lemmas(gold: Iterable[Sentence], pred: Iterable[Sentence]) -> None:
    """Give predicted frames their gold predicate's lemma, as CoNLL systems copy the target column, so
    that the score is that of the arguments given the gold predicates (the scorer drops a proposition
    whose lemmas differ)."""
    for gold_sentence, pred_sentence in zip(gold, pred, strict=True):
        lemmas = {frame.predicate.index: frame.predicate.lemma for frame in gold_sentence.frames}
        for frame in pred_sentence.frames:
            frame.predicate.lemma = lemmas.get(frame.predicate.index, frame.predicate.lemma)


def sense_accuracy(gold: Iterable[Sentence], pred: Iterable[Sentence]) -> float:
    """Percent of gold predicates whose predicted sense number is right."""
    right = total = 0
    for gold_sentence, pred_sentence in zip(gold, pred, strict=True):
        predicted = {f.predicate.index: sense_number(f.predicate.sense) for f in pred_sentence.frames}
        for frame in gold_sentence.frames:
            total += 1
            right += predicted.get(frame.predicate.index) == sense_number(frame.predicate.sense)
    return 100 * right / total if total else 0.0


def predicate_f1(gold: Iterable[Sentence], pred: Iterable[Sentence]) -> float:
    """F1 (percent) of predicted predicate positions against the gold ones."""
    correct = n_gold = n_pred = 0
    for gold_sentence, pred_sentence in zip(gold, pred, strict=True):
        gold_positions = {f.predicate.index for f in gold_sentence.frames}
        pred_positions = {f.predicate.index for f in pred_sentence.frames}
        correct += len(gold_positions & pred_positions)
        n_gold += len(gold_positions)
        n_pred += len(pred_positions)
    return 200 * correct / (n_gold + n_pred) if n_gold + n_pred else 0.0


def save_best(
    model: SRLModel, tokenizer: Any, config: TrainConfig, metrics: dict[str, float], state: TrainerState
) -> None:
    """Replace ``output_dir/best`` with the current model and its card (written aside, then swapped in)."""
    output = Path(config.output_dir)
    staging = Path(tempfile.mkdtemp(prefix=".best-", dir=output))
    SRLTagger(model, tokenizer).save_pretrained(staging, card=model_card(config, metrics, state))
    shutil.rmtree(output / "best", ignore_errors=True)
    os.replace(staging, output / "best")


def model_card(config: TrainConfig, metrics: dict[str, float], state: TrainerState) -> str:
    """The README.md of a trained model: data, command, dev scores, config."""
    scores = "\n".join(f"| {name} | {value:.2f} |" for name, value in metrics.items())
    settings = json.dumps(dataclasses.asdict(config), indent=2)
    return f"""# albert-srl model

PropBank semantic role labeller: ALBERT encoder, BIO head ({config.head}), predicate awareness
`{config.predicate_awareness}`. Trained with albert-srl.

## Training data

- train: `{config.train_path}`{_slice_note(config.max_train_sentences)}
- dev: `{config.dev_path}`{_slice_note(config.max_dev_sentences)}

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

## Training config

```json
{settings}
```
"""


def _slice_note(limit: int | None) -> str:
    return f" (first {limit} sentences)" if limit else ""


# ---------------------------------------------------------------------------------------------------
# Checkpoints: safetensors for tensors, JSON for the rest, written aside and renamed into place


def save_checkpoint(
    output: Path,
    model: SRLModel,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    state: TrainerState,
    rng_states: list[dict[str, Any]],
) -> Path:
    """Write ``output/checkpoints/step-<step>-epoch-<epoch>`` atomically and drop the older ones."""
    root = output / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    save_model(model, str(staging / "model.safetensors"))
    tensors, optimizer_json = split_optimizer_state(optimizer.state_dict())
    save_file(tensors, str(staging / "optimizer.safetensors"))
    trainer_json = {
        "state": dataclasses.asdict(state),
        "optimizer": optimizer_json,
        "scheduler": scheduler.state_dict(),
        "rng": rng_states,
    }
    (staging / "trainer_state.json").write_text(json.dumps(trainer_json), encoding="utf-8")
    for path in staging.iterdir():
        fsync(path)
    final = root / f"step-{state.step:09d}-epoch-{state.epoch:04d}"
    os.replace(staging, final)
    fsync(root)
    for old in root.iterdir():
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    log.debug("checkpoint %s", final)
    return final


def trim_metrics(path: Path, epochs_done: int) -> None:
    """Forget metrics of epochs that a resumed run trains again (those after its checkpoint)."""
    if path.exists():
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        path.write_text("".join(x for x in lines if json.loads(x)["epoch"] <= epochs_done), encoding="utf-8")


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 of every parameter and buffer, in name order: equal digests mean equal weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def fsync(path: Path) -> None:
    """Flush a file or a directory entry to disk, so a rename never exposes a half-written file."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def latest_checkpoint(output: Path) -> Path | None:
    """The newest complete checkpoint directory (half-written ones are still named ``.tmp-*``)."""
    done = sorted((output / CHECKPOINTS).glob("step-*"))
    return done[-1] if done else None


def load_checkpoint(
    path: Path,
    model: SRLModel,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    runtime: Runtime,
) -> TrainerState:
    """Restore model, optimizer, scheduler and RNG states from ``path``; returns the loop's state."""
    load_model(model, str(path / "model.safetensors"), device=str(runtime.device))
    saved = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    tensors = load_file(str(path / "optimizer.safetensors"), device=str(runtime.device))
    optimizer.load_state_dict(join_optimizer_state(tensors, saved["optimizer"]))
    scheduler.load_state_dict(saved["scheduler"])
    rng = saved["rng"]
    if len(rng) == runtime.world_size:
        set_rng_state(rng[runtime.rank])
    else:
        log.warning(
            "checkpoint from %d ranks resumed on %d: RNG streams start anew", len(rng), runtime.world_size
        )
    return TrainerState(**saved["state"])


def split_optimizer_state(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimizer ``state_dict`` as flat tensors (``"<param>.<name>"``) plus the JSON-able rest."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for param, values in state_dict["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{param}.{name}"] = value.contiguous()
            else:
                scalars.setdefault(str(param), {})[name] = value
    return tensors, {"state": scalars, "param_groups": state_dict["param_groups"]}


def join_optimizer_state(tensors: dict[str, torch.Tensor], rest: dict[str, Any]) -> dict[str, Any]:
    """The inverse of ``split_optimizer_state``."""
    state: dict[int, dict[str, Any]] = {int(p): dict(values) for p, values in rest["state"].items()}
    for key, tensor in tensors.items():
        param, name = key.split(".", 1)
        state.setdefault(int(param), {})[name] = tensor
    groups = [
        {**group, "betas": tuple(group["betas"])} if "betas" in group else group
        for group in rest["param_groups"]
    ]
    return {"state": state, "param_groups": groups}


def rng_state() -> dict[str, Any]:
    """This process's Python, NumPy, torch (and CUDA) RNG states as JSON-able lists."""
    version, internal, gauss = random.getstate()
    name, keys, position, has_gauss, cached = np.random.get_state()
    return {
        "python": [version, list(internal), gauss],
        "numpy": [name, keys.tolist(), int(position), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state().tolist(),
        "cuda": [s.tolist() for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
    }


def set_rng_state(saved: dict[str, Any]) -> None:
    version, internal, gauss = saved["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, position, has_gauss, cached = saved["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), position, has_gauss, cached))
    torch.set_rng_state(torch.tensor(saved["torch"], dtype=torch.uint8))
    if saved["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in saved["cuda"]])


def gather_rng_states(runtime: Runtime) -> list[dict[str, Any]]:
    """Every rank's RNG states, in rank order (a collective call under DDP: all ranks must make it)."""
    if runtime.world_size == 1:
        return [rng_state()]
    states: list[Any] = [None] * runtime.world_size
    dist.all_gather_object(states, rng_state())
    return states
