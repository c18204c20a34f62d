"""The step loop that fine-tuning and pretraining share: resume, optimizer steps with gradient clipping,
the progress bar, step checkpoints, ``max_steps`` and the wall-clock deadline.

A run that diverges stops: a loss or gradient norm that is not finite (nan, inf) raises
``TrainingDiverged`` before the optimizer applies it, and weights that are not finite (an update that
overflowed) raise it before they are checkpointed or handed back at an epoch's end, so that no checkpoint
and no best model ever holds them (docs/reliability.md).

A run's batches are a function of its seed and epoch alone, so the loop's position (``LoopState``: the
epoch and the batches of it already trained) is all a resumed run needs to go on where it stopped.
"""

from __future__ import annotations

import logging
import math
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import torch
from tqdm import tqdm

from albert_srl.config import RunConfig
from albert_srl.errors import TrainingDiverged
from albert_srl.training.checkpoints import (
    CHECKPOINTS,
    load_newest_checkpoint,
    rng_state,
    save_checkpoint,
    saved_checkpoints,
)
from albert_srl.training.runtime import Deadline, Runtime

log = logging.getLogger(__name__)


@dataclass
class LoopState:
    """The loop's position; saved as JSON in every checkpoint (subclasses add their own history)."""

    step: int = 0  # optimizer steps in all
    epoch: int = 0  # the epoch being trained
    batches_done: int = 0  # batches of ``epoch`` already trained
    seconds: float = 0.0  # training wall time, over all runs of a resumed job
    finished: bool = False  # no more steps to take: ``max_steps`` reached or the run's own end
    out_of_time: bool = False  # the last run stopped at its ``max_minutes`` deadline


State = TypeVar("State", bound=LoopState)
Model = TypeVar("Model", bound=torch.nn.Module)


class Trainer(Generic[Model]):
    """One run's training machinery around ``model``: its optimizer and schedule, the runtime, the
    deadline, and the checkpoints in ``output/checkpoints``.

    ``trainable`` is what the forward pass runs (``model`` itself, or its ``DistributedDataParallel``
    wrapper); ``model`` is what checkpoints hold. Under DDP every rank makes the same calls; only rank 0
    writes files.
    """

    def __init__(
        self,
        model: Model,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        runtime: Runtime,
        config: RunConfig,
        output: Path,
    ) -> None:
        self.model = model
        self.trainable: torch.nn.Module = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.runtime = runtime
        self.config = config
        self.output = output
        self.deadline = Deadline(config.max_minutes)
        self._clock = time.perf_counter()

    def resume(self, state_type: type[State], resume: bool) -> State:
        """The state of the newest checkpoint (weights, optimizer and RNGs restored) when ``resume``,
        else a fresh state after removing old checkpoints."""
        candidates = saved_checkpoints(self.output) if resume else []
        if not resume and self.runtime.is_main:
            shutil.rmtree(self.output / CHECKPOINTS, ignore_errors=True)
        if not candidates:
            if resume:
                log.warning("no checkpoint in %s: starting afresh", self.output / CHECKPOINTS)
            return state_type()
        checkpoint, state = load_newest_checkpoint(
            self.output, self.model, self.optimizer, self.scheduler, state_type,
            self.runtime.device, self.runtime.rank, self.runtime.world_size,
        )  # fmt: skip
        state.out_of_time = False
        log.info("resuming from %s (epoch %d, step %d)", checkpoint, state.epoch + 1, state.step)
        return state

    def run_epoch(
        self,
        state: LoopState,
        batches: int,
        loss_of: Callable[[int], torch.Tensor],
        description: str,
        after_step: Callable[[tqdm], None] | None = None,
    ) -> bool:
        """Train batches ``state.batches_done .. batches - 1`` of ``state.epoch``; ``loss_of(index)`` runs
        the forward pass of one. Returns whether the epoch was trained to its end.

        Stops early, leaving the caller to checkpoint, at ``max_steps`` (``state.finished``) and at the
        deadline (``state.out_of_time``); writes a checkpoint every ``checkpoint_every`` steps. Raises
        ``TrainingDiverged`` at a step that is not finite, and when it would return weights that are not.
        """
        trained = self._run_epoch(state, batches, loss_of, description, after_step)
        self.refuse_diverged_weights(state)
        return trained

    def _run_epoch(
        self,
        state: LoopState,
        batches: int,
        loss_of: Callable[[int], torch.Tensor],
        description: str,
        after_step: Callable[[tqdm], None] | None,
    ) -> bool:
        progress = tqdm(
            total=batches,
            initial=state.batches_done,
            desc=description,
            disable=not (self.runtime.is_main and sys.stderr.isatty()),
        )
        self.trainable.train()
        every, max_steps = self.config.checkpoint_every, self.config.max_steps
        try:
            for index in range(state.batches_done, batches):
                try:
                    self.step(loss_of(index))
                except TrainingDiverged as error:  # say where, and what is left on disk
                    raise self.diverged(state, state.step + 1, error.message) from None
                state.step, state.batches_done = state.step + 1, index + 1
                progress.update()
                if after_step is not None:
                    after_step(progress)
                if max_steps is not None and state.step >= max_steps:
                    state.finished = True
                    return False
                if self.deadline.end is not None and self.runtime.any_rank(self.deadline.passed()):
                    log.info("the time budget of %g minutes is spent: stopping", self.deadline.max_minutes)
                    state.out_of_time = True
                    return False
                if every and state.step % every == 0:
                    self.checkpoint(state)
            return True
        finally:
            progress.close()

    def step(self, loss: torch.Tensor) -> None:
        """One optimizer step: gradients of ``loss``, clipped to ``grad_clip``, then the schedule. A loss or
        gradient norm that is not finite raises ``TrainingDiverged`` before the weights change."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.trainable.parameters(), self.config.grad_clip)
        # One transfer for both numbers; under DDP the gradients are all-reduced, but the losses are each
        # rank's own, so every rank learns whether any diverged and all stop together.
        loss_value, norm_value = torch.stack([loss.detach().float(), norm.float()]).tolist()
        if self.runtime.any_rank(not (math.isfinite(loss_value) and math.isfinite(norm_value))):
            raise TrainingDiverged(
                str(self.output), f"the loss is {loss_value:g} and the gradient norm {norm_value:g}"
            )
        self.optimizer.step()
        self.scheduler.step()

    def refuse_diverged_weights(self, state: LoopState) -> None:
        """Raise ``TrainingDiverged`` when a weight is nan or infinite (the same on every rank)."""
        parameters = [p.detach() for p in self.model.parameters()]
        if parameters and not torch.stack([p.isfinite().all() for p in parameters]).all():
            message = "weights are no longer finite (an update overflowed)"
            raise self.diverged(state, state.step, message)

    def diverged(self, state: LoopState, step: int, what: str) -> TrainingDiverged:
        """The error of a run that diverged at ``step``: what was not finite, what is kept, what to do."""
        kept = saved_checkpoints(self.output)
        last = f"newest checkpoint: {kept[0]}" if kept else "no checkpoint yet"
        return TrainingDiverged(
            str(self.output),
            f"training diverged at step {step} (epoch {state.epoch + 1}): {what}; stopped with nothing of "
            f"it written ({last}): lower the learning rate",
        )

    def checkpoint(self, state: LoopState) -> Path | None:
        """Write a checkpoint of ``state`` (on rank 0; every rank must call this, to gather RNG states);
        ``TrainingDiverged`` instead when its weights are not finite."""
        self.refuse_diverged_weights(state)
        now = time.perf_counter()
        state.seconds += now - self._clock
        self._clock = now
        rng = self.runtime.gather(rng_state())
        if not self.runtime.is_main:
            return None
        return save_checkpoint(self.output, self.model, self.optimizer, self.scheduler, state, rng)
