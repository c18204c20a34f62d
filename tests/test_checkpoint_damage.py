"""A damaged newest checkpoint (cut short, emptied, bad JSON, a missing key, wrong shapes) is skipped with
a warning and the run resumes from the one before; a half-written metrics line is dropped."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import get_linear_schedule_with_warmup

from albert_srl.errors import SRLFormatError
from albert_srl.training.checkpoints import load_newest_checkpoint, rng_state, save_checkpoint
from albert_srl.training.finetune import FineTuneState, trim_metrics

CPU = torch.device("cpu")


def toy(seed: int = 0) -> tuple[torch.nn.Module, torch.optim.Optimizer, Any]:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    return model, optimizer, get_linear_schedule_with_warmup(optimizer, 2, 10)


def step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any) -> None:
    """One training step, as the loop takes it: the optimizer's and the schedule's."""
    model(torch.randn(2, 4)).sum().backward()
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad()


def edit_state(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    """A damage that edits ``trainer_state.json``."""

    def damage(path: Path) -> None:
        saved = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
        change(saved)
        (path / "trainer_state.json").write_text(json.dumps(saved), encoding="utf-8")

    damage.__name__ = change.__name__
    return damage


def truncate(path: Path) -> None:
    weights = path / "model-00000.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])


def empty(path: Path) -> None:
    (path / "model-00000.safetensors").write_bytes(b"")


def bad_json(path: Path) -> None:
    (path / "trainer_state.json").write_text('{"state": {"step": 3', encoding="utf-8")


def missing_key(path: Path) -> None:
    saved = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    del saved["scheduler"]
    (path / "trainer_state.json").write_text(json.dumps(saved), encoding="utf-8")


def wrong_shapes(path: Path) -> None:
    other = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    save_file(dict(other.named_parameters()), str(path / "model-00000.safetensors"))


def optimizer_wrong_shapes(path: Path) -> None:
    tensors = load_file(str(path / "optimizer-00000.safetensors"))
    tensors["0.exp_avg"] = torch.zeros(3, 4)  # the first layer's weight is 8 x 4
    save_file(tensors, str(path / "optimizer-00000.safetensors"))


def optimizer_deleted(path: Path) -> None:
    (path / "optimizer-00000.safetensors").unlink()


def optimizer_emptied(path: Path) -> None:
    (path / "optimizer-00000.safetensors").write_bytes(b"")


def optimizer_without_tensors(path: Path) -> None:
    save_file({}, str(path / "optimizer-00000.safetensors"))  # a valid file, emptied of its tensors


def nan_weights(path: Path) -> None:
    tensors = load_file(str(path / "model-00000.safetensors"))
    save_file(
        {k: torch.full_like(v, float("nan")) for k, v in tensors.items()},
        str(path / "model-00000.safetensors"),
    )


def learning_rate_string(saved: dict[str, Any]) -> None:
    saved["optimizer"]["param_groups"][0]["lr"] = "0.01"


def step_string(saved: dict[str, Any]) -> None:
    saved["state"]["step"] = "2"


def batches_done_huge(saved: dict[str, Any]) -> None:
    saved["state"]["batches_done"] = 1e9


def batches_done_over_steps(saved: dict[str, Any]) -> None:
    saved["state"]["batches_done"] = 1_000_000_000


def step_negative(saved: dict[str, Any]) -> None:
    saved["state"]["step"] = -50


def step_unlike_schedule(saved: dict[str, Any]) -> None:
    saved["state"]["step"] = 7


DAMAGES = [
    truncate, empty, bad_json, missing_key, wrong_shapes, optimizer_wrong_shapes, optimizer_deleted,
    optimizer_emptied, optimizer_without_tensors, nan_weights, *map(edit_state, [
        learning_rate_string, step_string, batches_done_huge, batches_done_over_steps, step_negative,
        step_unlike_schedule,
    ]),
]  # fmt: skip


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda damage: damage.__name__)
def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(
    tmp_path: Path, damage: Callable[[Path], None], caplog: pytest.LogCaptureFixture
) -> None:
    model, optimizer, scheduler = toy()
    step(model, optimizer, scheduler)
    save_checkpoint(tmp_path, model, optimizer, scheduler, FineTuneState(step=1), [rng_state()])
    previous = {k: v.clone() for k, v in model.state_dict().items()}
    step(model, optimizer, scheduler)
    newest = save_checkpoint(tmp_path, model, optimizer, scheduler, FineTuneState(step=2), [rng_state()])
    damage(newest)

    fresh, fresh_optimizer, fresh_scheduler = toy(seed=1)
    with caplog.at_level(logging.WARNING):
        path, state = load_newest_checkpoint(
            tmp_path, fresh, fresh_optimizer, fresh_scheduler, FineTuneState, CPU
        )
    assert state.step == 1 and path.name == "step-000000001"
    assert f"checkpoint {newest} is damaged" in caplog.text
    for name, tensor in fresh.state_dict().items():
        assert torch.equal(tensor, previous[name]), name


def test_no_readable_checkpoint_is_one_clear_error(tmp_path: Path) -> None:
    model, optimizer, scheduler = toy()
    step(model, optimizer, scheduler)
    only = save_checkpoint(tmp_path, model, optimizer, scheduler, FineTuneState(step=1), [rng_state()])
    empty(only)
    with pytest.raises(SRLFormatError, match="no checkpoint can be read"):
        load_newest_checkpoint(tmp_path, model, optimizer, scheduler, FineTuneState, CPU)


def test_a_half_written_last_metrics_line_is_dropped(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.jsonl"
    lines = [json.dumps({"epoch": epoch, "f1": 0.5}) for epoch in (1, 2, 3)]
    metrics.write_text("\n".join(lines) + '\n{"epoch": 4, "f', encoding="utf-8")
    trim_metrics(metrics, 2)
    assert metrics.read_text(encoding="utf-8").splitlines() == lines[:2]
