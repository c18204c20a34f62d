"""Where a pretraining run is: what its checkpoints save, and what its export reports."""

from __future__ import annotations

from dataclasses import dataclass, field

from albert_srl.training.loop import LoopState


@dataclass
class PretrainState(LoopState):
    """The pretraining loop's position and running numbers; saved as JSON in every checkpoint."""

    tokens_seen: int = 0  # non-padding subwords trained on
    last: dict[str, float] = field(default_factory=dict)  # training loss/accuracies, last report
    held_out: dict[str, float] = field(default_factory=dict)  # at the end of training
