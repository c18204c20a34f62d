"""Where and how a training run runs: device, DDP rank, precision, seeds, the AdamW parameter groups and
the wall-clock deadline. Fine-tuning and pretraining both start here.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from albert_srl.config import RunConfig
from albert_srl.model.network import autocast, resolve_device

log = logging.getLogger(__name__)

# Parameters trained without weight decay, as BERT/ALBERT training does: biases and layer norms.
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
        return autocast(self.device, self.bf16)

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def any_rank(self, flag: bool) -> bool:
        """Whether ``flag`` is true on any rank (a collective call under DDP: all ranks must make it)."""
        if self.world_size == 1:
            return flag
        value = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value``, in rank order (a collective call under DDP)."""
        if self.world_size == 1:
            return [value]
        values: list[Any] = [None] * self.world_size
        dist.all_gather_object(values, value)
        return values

    def close(self) -> None:
        if self.world_size > 1 and dist.is_initialized():
            dist.destroy_process_group()


def start_runtime(config: RunConfig) -> Runtime:
    """Pick the device, set the thread count and, under ``torchrun``, join the process group."""
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    device = resolve_device(config.device)
    cuda = device.type == "cuda"
    rank, world_size = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    if cuda:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    if world_size > 1:
        dist.init_process_group("nccl" if cuda else "gloo")
        log.info("rank %d of %d on %s", rank, world_size, device)
    bf16 = cuda if config.bf16 is None else config.bf16 and cuda
    if config.bf16 and not cuda:
        log.warning("bf16 is for CUDA training; training in float32 on the CPU")
    return Runtime(device=device, rank=rank, world_size=world_size, bf16=bf16)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (CUDA's too): the one seeding of a run, done
    before its model is built (fine-tuning adds the DDP rank to the config's seed)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_optimizer(
    model: torch.nn.Module,
    weight_decay: float,
    learning_rate: Callable[[str], float],
    **adamw: Any,
) -> torch.optim.AdamW:
    """AdamW over ``model``'s trainable parameters, grouped by learning rate (``learning_rate(name)``)
    and by weight decay: none on biases and layer norms (names ending in ``NO_DECAY``)."""
    groups: dict[tuple[float, bool], list[torch.nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            key = (learning_rate(name), name.endswith(NO_DECAY))
            groups.setdefault(key, []).append(parameter)
    return torch.optim.AdamW(
        [
            {"params": params, "lr": lr, "weight_decay": 0.0 if no_decay else weight_decay}
            for (lr, no_decay), params in sorted(groups.items(), key=lambda item: (-item[0][0], item[0][1]))
        ],
        **adamw,
    )


class Deadline:
    """The wall-clock budget of a run (``max_minutes``; ``None``: no budget), counted from its start."""

    def __init__(self, max_minutes: float | None) -> None:
        self.max_minutes = max_minutes
        self.end = None if max_minutes is None else time.monotonic() + 60 * max_minutes

    def passed(self) -> bool:
        return self.end is not None and time.monotonic() >= self.end
