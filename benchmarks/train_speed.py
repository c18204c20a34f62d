"""Training speed: instances per second of the training step on a slice of EWT train.

Run by hand (never by CI):  python benchmarks/train_speed.py [--instances 2000] [--config configs/ewt.yaml]
Needs ``../shared/corpora``. Builds the model of the config (a fresh ALBERT, SentencePiece trained on the
slice's words unless the config names a tokenizer), then times whole optimizer steps (collation, forward,
backward, clipping, AdamW) over the slice's length-bucketed batches on the CPU and, when there is one, on
CUDA (bf16 autocast). Prints one markdown table.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from transformers import get_linear_schedule_with_warmup

from albert_srl.config import TrainConfig, load_dataclass
from albert_srl.model import encoding
from albert_srl.training.finetune import (
    build_model,
    finetune_optimizer,
    prepare_data,
    prepare_tokenizer,
    read_sentences,
    training_loss,
)
from albert_srl.training.loop import Trainer
from albert_srl.training.runtime import Runtime, seed_everything

REPO = Path(__file__).resolve().parents[1]


def time_device(config: TrainConfig, runtime: Runtime, data, tokenizer, limit: int) -> tuple[int, float]:
    """Instances trained and seconds taken for one pass over the first ``limit`` instances' batches."""
    seed_everything(config.seed)
    model = build_model(config, data, tokenizer).to(runtime.device)
    optimizer = finetune_optimizer(model, config)
    scheduler = get_linear_schedule_with_warmup(optimizer, 0, 10_000)
    trainer = Trainer(model, optimizer, scheduler, runtime, config, Path(config.output_dir))

    def train_step(batch: encoding.Batch) -> None:
        trainer.step(training_loss(model, batch, config, runtime))

    instances = data.train[:limit]
    batches = encoding.make_batches(instances, config, max_tokens=config.max_tokens, shuffle=True, seed=0)
    label_index = {label: i for i, label in enumerate(data.labels)}
    sense_index = {sense: i for i, sense in enumerate(data.senses)}
    model.train()
    warm = encoding.collate(
        [instances[i] for i in batches[0]], tokenizer, model.config, label_index, sense_index
    )
    train_step(warm)  # first-call allocations, kernels
    if runtime.device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for ids in batches:
        batch = encoding.collate(
            [instances[i] for i in ids], tokenizer, model.config, label_index, sense_index
        )
        train_step(batch)
    if runtime.device.type == "cuda":
        torch.cuda.synchronize()
    return len(instances), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "ewt.yaml"))
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="config overrides")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as scratch:
        config = load_dataclass(TrainConfig, args.config, args.set)
        # Sentences enough for the slice (EWT has ~3.2 predicates a sentence) and a token dev file.
        config = replace(config, output_dir=scratch, max_train_sentences=args.instances, max_dev_sentences=1)
        sentences = read_sentences(config.train_path, config.max_train_sentences)
        cpu = Runtime(device=torch.device("cpu"))
        tokenizer = prepare_tokenizer(config, sentences, cpu)
        data = prepare_data(config, sentences, tokenizer)
        rows = [("cpu", cpu, f"{args.threads} threads")]
        if torch.cuda.is_available():
            rows.append(
                ("cuda", Runtime(device=torch.device("cuda"), bf16=True), torch.cuda.get_device_name())
            )
        print(
            f"config {args.config}, max_tokens {config.max_tokens}, {len(data.train)} instances available\n"
        )
        print("| device | detail | instances | seconds | instances/s |")
        print("| --- | --- | --- | --- | --- |")
        for name, runtime, detail in rows:
            count, seconds = time_device(config, runtime, data, tokenizer, args.instances)
            print(f"| {name} | {detail} | {count} | {seconds:.1f} | {count / seconds:.1f} |")


if __name__ == "__main__":
    main()
