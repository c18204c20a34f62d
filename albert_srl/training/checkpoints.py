"""Checkpoints that resume exactly: tensors as safetensors (files under 16 MiB), everything else as JSON,
written aside and renamed into place, so that a killed run leaves the previous checkpoint intact. The
two newest checkpoints are kept: when the newest cannot be read (a damaged disk, a file cut short), a
resumed run warns and goes on from the one before.

A checkpoint directory ``output/checkpoints/step-<step>`` holds ``model-*.safetensors`` (parameters; a
tied weight once), ``optimizer-*.safetensors`` (the optimizer's tensors) and ``trainer_state.json``: the
loop's state, the optimizer's scalars, the scheduler and every rank's RNG states. Nothing is pickled.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import random
import shutil
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from albert_srl.errors import SRLFormatError
from albert_srl.files import replaced

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
STATE = "trainer_state.json"
SHARD_LIMIT = 15 * 2**20  # bytes per safetensors file: every file stays under 16 MiB


class Stepped(Protocol):
    """What a checkpoint needs of the loop's state: its optimizer step."""

    step: int


State = TypeVar("State", bound=Stepped)


def save_checkpoint(
    output: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    state: Any,
    rng_states: list[dict[str, Any]],
) -> Path:
    """Write ``output/checkpoints/step-<state.step>`` atomically and drop all but it and the one before.

    ``state`` is the loop's dataclass; ``rng_states`` every rank's ``rng_state()``. Weights stay float32
    here so that a resumed run continues exactly.
    """
    root = output / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{state.step:09d}"
    with replaced(final, directory=True) as staging:
        parameters = dict(model.named_parameters())
        save_tensors(parameters, staging, "model")
        tensors, optimizer_json = split_optimizer_state(optimizer.state_dict())
        save_tensors(tensors, staging, "optimizer")
        trainer_json = {
            "state": dataclasses.asdict(state),
            "optimizer": optimizer_json,
            "scheduler": scheduler.state_dict(),
            "rng": rng_states,
            # What the tensor files hold, so that a deleted or emptied file is found missing, not
            # replaced by a fresh optimizer.
            "tensors": {"model": sorted(parameters), "optimizer": sorted(tensors)},
        }
        (staging / STATE).write_text(json.dumps(trainer_json), encoding="utf-8")
    keep = set(saved_checkpoints(output)[:KEEP])
    for old in root.iterdir():
        if old != final and old not in keep:
            shutil.rmtree(old, ignore_errors=True)
    log.debug("checkpoint %s", final)
    return final


KEEP = 2  # checkpoints kept: the newest and a fallback


def saved_checkpoints(output: Path) -> list[Path]:
    """The complete checkpoint directories, newest first (half-written ones are hidden: ``.step-*``)."""
    return sorted((output / CHECKPOINTS).glob("step-*"), reverse=True)


# What a damaged checkpoint raises while it is read: a cut-short or garbled safetensors file, bad JSON, a
# missing key, a value of the wrong type or a tensor of the wrong shape.
DAMAGE = (OSError, ValueError, KeyError, TypeError, IndexError, RuntimeError, SafetensorError)


def load_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    state_type: type[State],
    device: torch.device,
    rank: int = 0,
    world_size: int = 1,
) -> State:
    """Restore model, optimizer, scheduler and this rank's RNG states from ``path``; returns the loop's
    state as a ``state_type``. Everything is read and checked before the model is touched; a damaged
    checkpoint raises one of ``DAMAGE``."""
    parameters = load_tensors(path, "model", device)
    saved = json.loads((path / STATE).read_text(encoding="utf-8"))
    state = read_state(state_type, saved["state"])
    optimizer_tensors = load_tensors(path, "optimizer", device)
    check_tensors(saved, state, parameters, optimizer_tensors)
    check_like(saved["optimizer"]["param_groups"], optimizer.state_dict()["param_groups"], "param_groups")
    check_like(saved["scheduler"], scheduler.state_dict(), "scheduler")
    if saved["scheduler"]["last_epoch"] != state.step:  # the schedule steps once an optimizer step
        raise ValueError(f"step {state.step}, but the schedule is at step {saved['scheduler']['last_epoch']}")
    check_optimizer_shapes(optimizer, optimizer_tensors)
    restore_parameters(model, parameters)
    optimizer.load_state_dict(join_optimizer_state(optimizer_tensors, saved["optimizer"]))
    scheduler.load_state_dict(saved["scheduler"])
    rng = saved["rng"]
    if len(rng) == world_size:
        set_rng_state(rng[rank])
    else:
        log.warning("checkpoint from %d ranks resumed on %d: RNG streams start anew", len(rng), world_size)
    return state


def load_newest_checkpoint(
    output: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    state_type: type[State],
    device: torch.device,
    rank: int = 0,
    world_size: int = 1,
) -> tuple[Path, State]:
    """``load_checkpoint`` of the newest checkpoint that can be read, warning about each damaged one
    skipped; returns its path and state. When none can be read, raises ``SRLFormatError``."""
    for checkpoint in saved_checkpoints(output):
        try:
            return checkpoint, load_checkpoint(
                checkpoint, model, optimizer, scheduler, state_type, device, rank, world_size
            )
        except DAMAGE as error:
            log.warning("checkpoint %s is damaged (%s): resuming from the one before", checkpoint, error)
    raise SRLFormatError(
        str(output / CHECKPOINTS), None, "no checkpoint can be read: train again without --resume"
    )


# ---------------------------------------------------------------------------------------------------
# Checks: a damaged value is refused as the checkpoint is read, not met later as a crash (a learning rate
# that is a string) or a run that silently differs (a fresh optimizer, NaN weights, skipped batches)


def read_state(state_type: type[State], values: Any) -> State:
    """``state_type`` from its JSON ``values``, each of its declared type; counts are not negative and
    the batches done in the epoch are not more than the steps taken."""
    if not isinstance(values, dict):
        raise TypeError(f"state is {type(values).__name__}, not an object")
    hints = typing.get_type_hints(state_type)
    for name, value in values.items():
        if name not in hints:
            raise KeyError(f"state has an unknown field {name!r}")
        if not fits(value, hints[name]):
            raise TypeError(f"state.{name} is {value!r}, not {hints[name]}")
        if isinstance(value, int) and not isinstance(value, bool) and value < 0:
            raise ValueError(f"state.{name} is {value}: a count is never negative")
    state = state_type(**values)
    batches_done, step = getattr(state, "batches_done", 0), getattr(state, "step", 0)
    if batches_done > step:
        raise ValueError(f"state.batches_done {batches_done} is more than the {step} steps")
    return state


def fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value is of the declared type ``hint`` (numbers finite; ``int`` is a float too)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, option) for option in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    if origin is dict:
        key, item = typing.get_args(hint)
        return isinstance(value, dict) and all(fits(k, key) and fits(v, item) for k, v in value.items())
    return True


def check_like(saved: Any, fresh: Any, where: str) -> None:
    """``saved`` (read from JSON) has the structure of ``fresh`` (the live object's ``state_dict``): the
    same lengths, and a finite number, a bool or a string wherever ``fresh`` has one. Only the keys of
    both are compared: another torch version may add or drop one, and ``load_state_dict`` copes."""
    if fresh is None:
        return
    if isinstance(fresh, bool):
        ok = isinstance(saved, bool)
    elif isinstance(fresh, int | float):
        ok = fits(saved, float)
    elif isinstance(fresh, str):
        ok = isinstance(saved, str)
    elif isinstance(fresh, dict):
        ok = isinstance(saved, dict)
        for key in sorted(fresh.keys() & saved.keys(), key=str) if ok else ():
            check_like(saved[key], fresh[key], f"{where}.{key}")
    elif isinstance(fresh, list | tuple):
        ok = isinstance(saved, list | tuple) and len(saved) == len(fresh)
        for i, (old, new) in enumerate(zip(saved, fresh, strict=True) if ok else ()):
            check_like(old, new, f"{where}[{i}]")
    else:
        return
    if not ok:
        raise TypeError(f"{where} is {saved!r}, where {fresh!r} belongs")


def check_tensors(
    saved: dict[str, Any], state: Any, parameters: dict[str, torch.Tensor], optimizer: dict[str, torch.Tensor]
) -> None:
    """Every tensor the checkpoint lists is there, and every tensor is finite."""
    listed = saved.get("tensors")
    if listed is not None:
        for stem, tensors in (("model", parameters), ("optimizer", optimizer)):
            if sorted(tensors) != listed[stem]:
                missing = sorted(set(listed[stem]) - tensors.keys())
                raise ValueError(f"{stem} tensors missing or unlisted: {missing[:5] or sorted(tensors)[:5]}")
    elif state.step > 0 and not optimizer:  # written before the list was kept: an optimizer has state
        raise ValueError("no optimizer state, after optimizer steps")
    for stem, tensors in (("model", parameters), ("optimizer", optimizer)):
        for name, tensor in tensors.items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise ValueError(f"{stem} tensor {name} holds NaN or infinite values")


def check_optimizer_shapes(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    """Each saved optimizer tensor (but scalars, such as Adam's step) has its parameter's shape."""
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    for key, tensor in tensors.items():
        index = key.split(".", 1)[0]
        if not 0 <= int(index) < len(parameters):
            raise ValueError(f"optimizer tensor {key} is for parameter {index}, of {len(parameters)}")
        shape = parameters[int(index)].shape
        if tensor.dim() and tensor.shape != shape:
            raise ValueError(f"optimizer tensor {key} has shape {tuple(tensor.shape)}, not {tuple(shape)}")


# ---------------------------------------------------------------------------------------------------
# Tensors


def save_tensors(tensors: Mapping[str, torch.Tensor], directory: Path, stem: str) -> list[str]:
    """Write ``tensors`` to ``stem-00000.safetensors``, ... each under ``SHARD_LIMIT`` bytes."""
    files: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        nbytes = tensor.numel() * tensor.element_size()
        if files[-1] and size + nbytes > SHARD_LIMIT:
            files.append({})
            size = 0
        files[-1][name] = tensor
        size += nbytes
    names = [f"{stem}-{i:05d}.safetensors" for i in range(len(files))]
    for name, part in zip(names, files, strict=True):
        save_file(part, str(directory / name))
    return names


def load_tensors(directory: Path, stem: str, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for path in sorted(directory.glob(f"{stem}-*.safetensors")):
        tensors.update(load_file(str(path), device=str(device)))
    return tensors


def restore_parameters(model: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Copy saved parameters into ``model``; tied parameters were saved once, under their first name."""
    parameters = dict(model.named_parameters())
    if parameters.keys() != tensors.keys():
        difference = parameters.keys() ^ tensors.keys()
        raise ValueError(f"checkpoint parameters differ from the model's: {sorted(difference)[:5]}")
    for name, tensor in tensors.items():
        if tensor.shape != parameters[name].shape:
            raise ValueError(
                f"checkpoint tensor {name} has shape {tuple(tensor.shape)}, the model's is "
                f"{tuple(parameters[name].shape)}"
            )
    with torch.no_grad():
        for name, tensor in tensors.items():
            parameters[name].copy_(tensor)


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


# ---------------------------------------------------------------------------------------------------
# Random number generators, as JSON


def rng_state() -> dict[str, Any]:
    """This process's Python, NumPy, torch (and CUDA) RNG states as JSON-able lists."""
    version, internal, gauss = random.getstate()
    legacy = np.random.get_state(legacy=True)
    assert isinstance(legacy, tuple)  # the global RandomState is an MT19937: its legacy state is a tuple
    name, keys, position, has_gauss, cached = legacy
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
    if saved["cuda"] and torch.cuda.is_available() and len(saved["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in saved["cuda"]])
