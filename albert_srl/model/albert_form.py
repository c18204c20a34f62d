"""Hugging Face encoders in ALBERT form: which architectures load, and how their configs and weights map.

An ALBERT, a BERT, a RoBERTa (or XLM-RoBERTa), an ELECTRA and an MPNet are all the one network of
``encoder.py`` under other names: a BERT is ALBERT with one group a layer and an identity map from
embeddings to hidden size, RoBERTa numbers its positions from the padding id + 1, ELECTRA's embedding
projection is ALBERT's map, and MPNet adds a relative-position bias and has no token types. This module
turns each one's ``config.json`` into an ``EncoderSpec`` and its weights into ALBERT's names, so that
``encoder.pretrained``, ``albert-srl convert-encoder`` and a model saved with another architecture's names
all load through one mapping. Weights are read from safetensors only (pickles can run code).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from albert_srl.errors import SRLFormatError
from albert_srl.model.encoder import EncoderSpec

WEIGHTS = "model.safetensors"
SHARD_INDEX = "model.safetensors.index.json"
PICKLED = ("pytorch_model.bin", "tf_model.h5", "flax_model.msgpack", "model.ckpt.index")

# Each architecture's config defaults (``transformers``' config classes; a config.json written with
# ``use_diff`` leaves them out), as far as the ALBERT form reads them.
_BERT = {
    "vocab_size": 30522,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
}
DEFAULTS: dict[str, dict[str, Any]] = {
    "albert": EncoderSpec().to_dict(),
    "bert": _BERT,
    "roberta": {**_BERT, "vocab_size": 50265, "pad_token_id": 1},
    "xlm-roberta": {**_BERT, "pad_token_id": 1},
    "electra": {
        **_BERT,
        "embedding_size": 128,
        "hidden_size": 256,
        "num_attention_heads": 4,
        "intermediate_size": 1024,
    },
    "mpnet": {**_BERT, "vocab_size": 30527, "pad_token_id": 1, "relative_attention_num_buckets": 32},
}
SUPPORTED = tuple(DEFAULTS)
# Architectures whose position ids start after the padding id (fairseq's habit).
OFFSET_POSITIONS = ("roberta", "xlm-roberta", "mpnet")
# Weight-name prefixes of task models around an encoder (``BertForMaskedLM`` holds ``bert.*``).
PREFIXES = ("albert.", "bert.", "roberta.", "electra.", "mpnet.")
# Tensors of a checkpoint that are no part of the encoder: the [CLS] pooler, task heads, buffers.
LEFT_OUT = re.compile(
    r"^(pooler\.|predictions\.|sop_classifier\.|cls\.|lm_head\.|generator_|discriminator_predictions\.|"
    r"classifier\.|qa_outputs\.)|position_ids$|embeddings\.token_type_ids$"
)
# One block's tensors under each architecture's names -> ALBERT's (under ...albert_layers.0.).
BLOCK_NAMES = {
    "attention.self.query": "attention.query",
    "attention.self.key": "attention.key",
    "attention.self.value": "attention.value",
    "attention.output.dense": "attention.dense",
    "attention.output.LayerNorm": "attention.LayerNorm",
    "intermediate.dense": "ffn",
    "output.dense": "ffn_output",
    "output.LayerNorm": "full_layer_layer_norm",
    # MPNet's
    "attention.attn.q": "attention.query",
    "attention.attn.k": "attention.key",
    "attention.attn.v": "attention.value",
    "attention.attn.o": "attention.dense",
    "attention.LayerNorm": "attention.LayerNorm",
}
LAYER = re.compile(r"encoder\.layer\.(\d+)\.(.+)\.(weight|bias)$")


def architecture(config: dict[str, Any], source: str) -> str:
    """The config's ``model_type``, one of ``SUPPORTED``; else one error naming them."""
    kind = config.get("model_type", "albert")
    if kind not in SUPPORTED:
        raise SRLFormatError(
            source,
            None,
            f"model_type {kind!r} is not supported: the encoder must be one of {', '.join(SUPPORTED)}",
        )
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise SRLFormatError(source, None, "only absolute position embeddings are supported")
    return str(kind)


def albert_spec(config: dict[str, Any], source: str) -> EncoderSpec:
    """An encoder's Hugging Face config (any of ``SUPPORTED``) as an ALBERT-form ``EncoderSpec``."""
    kind = architecture(config, source)
    values = {**DEFAULTS[kind], **{k: v for k, v in config.items() if v is not None}}
    if kind == "albert":
        return EncoderSpec.from_dict(values)
    layers, hidden = values["num_hidden_layers"], values["hidden_size"]
    values.update(
        model_type="albert",
        embedding_size=values.get("embedding_size", hidden) if kind == "electra" else hidden,
        num_hidden_groups=layers,
        inner_group_num=1,
    )
    if kind in OFFSET_POSITIONS:
        values["position_offset"] = values["pad_token_id"] + 1
    if kind == "mpnet":
        values["type_vocab_size"] = 1  # no token types: one all-zero row adds nothing
    return EncoderSpec.from_dict(values)


def albert_state(
    state: dict[str, torch.Tensor], kind: str, spec: EncoderSpec, source: str
) -> dict[str, torch.Tensor]:
    """An encoder checkpoint of architecture ``kind`` under ALBERT's tensor names; what ALBERT form has
    and the architecture lacks is filled in (an identity map, an all-zero token type), and the pooler
    and task heads are left out. An unknown tensor is one error naming it."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        key = next((key.removeprefix(p) for p in PREFIXES if key.startswith(p)), key)
        if LEFT_OUT.search(key):
            continue
        layer = LAYER.match(key)
        if layer and layer.group(2) in BLOCK_NAMES:
            index, name, part = layer.groups()
            key = f"encoder.albert_layer_groups.{index}.albert_layers.0.{BLOCK_NAMES[name]}.{part}"
        elif key.startswith("embeddings_project."):  # ELECTRA's map from embedding to hidden size
            key = key.replace("embeddings_project.", "encoder.embedding_hidden_mapping_in.")
        elif not (key.startswith(("embeddings.", "encoder.")) and (kind == "albert" or "layer." not in key)):
            raise SRLFormatError(source, None, f"unexpected tensor {key} for a {kind} encoder")
        out[key] = value
    mapping = "encoder.embedding_hidden_mapping_in"
    if f"{mapping}.weight" not in out and spec.embedding_size == spec.hidden_size:
        out[f"{mapping}.weight"] = torch.eye(spec.hidden_size)
        out[f"{mapping}.bias"] = torch.zeros(spec.hidden_size)
    if "embeddings.token_type_embeddings.weight" not in out and kind == "mpnet":
        out["embeddings.token_type_embeddings.weight"] = torch.zeros(1, spec.embedding_size)
    return out


def albert_model_state(
    state: dict[str, torch.Tensor], kind: str, spec: EncoderSpec, source: str
) -> dict[str, torch.Tensor]:
    """An albert-srl model's weights whose ``encoder.*`` tensors have architecture ``kind``'s names, with
    those renamed (``albert_state``) and the heads' as they are."""
    encoder = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
    renamed = {f"encoder.{k}": v for k, v in albert_state(encoder, kind, spec, source).items()}
    return {**{k: v for k, v in state.items() if not k.startswith("encoder.")}, **renamed}


def read_weights(directory: Path) -> dict[str, torch.Tensor]:
    """A directory's ``model.safetensors``, or the shards its ``model.safetensors.index.json`` names;
    pickled weights are refused, and a missing or damaged file is one error naming it."""
    index = directory / SHARD_INDEX
    if not (directory / WEIGHTS).exists() and index.is_file():
        return {k: v for path in shard_files(index) for k, v in read_safetensors(path).items()}
    path = directory / WEIGHTS
    if not path.is_file():
        pickled = [name for name in PICKLED if (directory / name).exists()]
        if pickled:
            raise SRLFormatError(
                str(directory / pickled[0]),
                None,
                "pickled weights are refused (loading them can run code): convert them to model.safetensors",
            )
        what = "not a regular file" if path.exists() else "missing"
        raise SRLFormatError(str(path), None, f"{what}: the encoder's weights")
    return read_safetensors(path)


def shard_files(index: Path) -> list[Path]:
    """The shard files a safetensors index names, each a file beside it."""
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        names = sorted(set(weight_map.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise SRLFormatError(str(index), None, f"not a safetensors index: {error}") from None
    if not all(isinstance(name, str) and name == Path(name).name for name in names):
        raise SRLFormatError(str(index), None, "a shard must be a file name beside the index")
    return [index.parent / name for name in names]


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        what = "not a regular file" if path.exists() else "missing"
        raise SRLFormatError(str(path), None, f"{what}: the encoder's weights")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise SRLFormatError(
            str(path), None, f"not a readable safetensors file (damaged?): {error}"
        ) from None
