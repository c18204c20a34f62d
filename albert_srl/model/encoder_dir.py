"""An encoder directory read and checked, for ``encoder.pretrained`` (training starts from it) and
``albert-srl convert-encoder``: any supported architecture (``albert_form``), by path or hub id, its
config through the declared ranges of a model's ``encoder`` section and its weights against the shapes
the config gives, before anything of the config's size is allocated."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from albert_srl.errors import SRLFormatError
from albert_srl.files import refuse_special_files
from albert_srl.model.albert_form import (
    DEFAULTS,
    WEIGHTS,
    albert_spec,
    albert_state,
    architecture,
    read_weights,
)
from albert_srl.model.encoder import Encoder, EncoderSpec
from albert_srl.model.hub import local_directory
from albert_srl.model.network import SOURCE, check_encoder
from albert_srl.settings import ConfigError

GROUP = re.compile(r"encoder\.albert_layer_groups\.\d+\.")


@dataclass
class PretrainedEncoder:
    """An encoder directory read and checked: its config, its ALBERT form, and its weights under ALBERT's
    names; nothing of its size built yet."""

    directory: Path
    config: dict[str, Any]
    spec: EncoderSpec
    state: dict[str, torch.Tensor]


def read_pretrained(path: str | Path) -> PretrainedEncoder:
    """An encoder directory (or hub id) of any supported architecture, for ``encoder.pretrained`` and
    ``albert-srl convert-encoder`` alike: ``config.json`` through the declared ranges of a model's
    ``encoder`` section, the safetensors weights renamed (``albert_form``) and checked against the shapes
    the config gives, all before anything of the config's size is allocated. One error naming the file for
    anything it cannot load; a FIFO or device in the directory is never opened."""
    directory = local_directory(path)
    refuse_special_files(directory)
    config_path = directory / SOURCE
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SRLFormatError(str(config_path), None, f"cannot read the encoder's config: {error}") from None
    if not isinstance(config, dict):
        raise SRLFormatError(str(config_path), None, "the config must be a JSON object")
    kind = architecture(config, str(config_path))
    try:
        check_encoder({**DEFAULTS[kind], **config}, prefix="")  # what the config leaves out is its default
    except ConfigError as error:
        raise SRLFormatError(str(config_path), None, error.message) from None
    spec = albert_spec(config, str(config_path))
    weights_path = str(directory / WEIGHTS)
    state = albert_state(read_weights(directory), kind, spec, weights_path)
    check_fits(spec, state, weights_path)
    return PretrainedEncoder(directory, config, spec, state)


def check_fits(spec: EncoderSpec, state: dict[str, torch.Tensor], source: str) -> None:
    """The weights are the ones the config describes, tensor by tensor (the encoder is built on the meta
    device for its shapes: no memory of the config's size is taken)."""
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in Encoder(spec).state_dict().items()}
    groups = {m.group(0) for k in state if (m := GROUP.match(k))}
    if len(groups) != spec.num_hidden_groups:
        message = f"{len(groups)} layer groups, where config.json gives {spec.num_hidden_groups}"
        raise SRLFormatError(source, None, f"the weights are not those config.json describes: {message}")
    missing = sorted(expected.keys() - state.keys())
    unexpected = sorted(state.keys() - expected.keys())
    wrong = [k for k in sorted(expected.keys() & state.keys()) if tuple(state[k].shape) != expected[k]]
    if missing or unexpected or wrong:
        found = (
            f"{wrong[0]} is {tuple(state[wrong[0]].shape)}, config.json gives {expected[wrong[0]]}"
            if wrong
            else f"missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
        raise SRLFormatError(source, None, f"the weights are not those config.json describes: {found}")


def encoder_from_pretrained(path: str | Path) -> Encoder:
    """``read_pretrained``'s encoder, its weights in place."""
    pretrained = read_pretrained(path)
    encoder = Encoder(pretrained.spec, initialize=False)  # the weights replace its values
    floats = {k: v.float() if v.is_floating_point() else v for k, v in pretrained.state.items()}
    encoder.load_state_dict(floats, strict=True, assign=True)
    return encoder
