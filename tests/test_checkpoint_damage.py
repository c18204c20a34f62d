"""A damaged newest checkpoint (cut short, emptied, bad JSON, a missing key, wrong shapes) is skipped with
a warning and the run resumes from the one before; a half-written metrics line is dropped."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from transformers import get_linear_schedule_with_warmup

from albert_srl.errors import SRLFormatError
from albert_srl.training.checkpoints import load_newest_checkpoint, rng_state, save_checkpoint
from albert_srl.training.finetune import FineTuneState, trim_metrics

CPU = torch.device("cpu")


def toy(seed: int = 0) -> tuple[torch.nn.Module, torch.optim.Optimizer, object]:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model(torch.randn(2, 4)).sum().backward()
    optimizer.step()
    return model, optimizer, get_linear_schedule_with_warmup(optimizer, 2, 10)


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
    from safetensors.torch import save_file

    other = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    save_file(dict(other.named_parameters()), str(path / "model-00000.safetensors"))


@pytest.mark.parametrize("damage", [truncate, empty, bad_json, missing_key, wrong_shapes])
def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(
    tmp_path: Path, damage: Callable[[Path], None], caplog: pytest.LogCaptureFixture
) -> None:
    model, optimizer, scheduler = toy()
    save_checkpoint(tmp_path, model, optimizer, scheduler, FineTuneState(step=1), [rng_state()])
    previous = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)
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
