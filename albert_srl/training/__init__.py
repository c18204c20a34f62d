"""One training runtime under fine-tuning and pretraining.

- ``runtime``: device, DDP rank, bf16, seeds, AdamW parameter groups, the wall-clock deadline;
- ``checkpoints``: atomic safetensors + JSON checkpoints with every rank's RNG states;
- ``loop``: the step loop (resume, progress bar, step checkpoints, ``max_steps``, deadline);
- ``finetune`` / ``evaluation``: SRL fine-tuning on CoNLL data and its dev scores.

``from albert_srl.training import train`` is the stable entry point of fine-tuning (``albert-srl train``);
pretraining (``albert_srl.pretraining``) runs on the same runtime.
"""

from albert_srl.training.finetune import train

__all__ = ["train"]
