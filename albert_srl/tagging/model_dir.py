"""A model directory: find it, read and check every file of it, write it.

A model directory is the Hugging Face habit: ``config.json`` (the encoder's config, the label sets and
the preprocessing choices), ``lemmas.json`` (the lemma table), ``model.safetensors`` (loaded without
unpickling anything), the tokenizer files, and a ``README.md`` model card. Whatever is wrong with one is
one ``SRLFormatError`` naming the file, raised before anything of the config's size is allocated where
it can be.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from albert_srl.errors import SRLFormatError
from albert_srl.files import parse_json, refuse_special_files
from albert_srl.model.albert_form import albert_model_state
from albert_srl.model.hub import local_directory
from albert_srl.model.network import ModelConfig, SRLModel, fresh_encoder, model_config_from_json
from albert_srl.model.tokenizer import Tokenizer, load_tokenizer
from albert_srl.settings import setting_of

DEFAULT_MODEL = Path(__file__).parents[1] / "models" / "default"
CONFIG, WEIGHTS, CARD = "config.json", "model.safetensors", "README.md"
# The lemma table (predicate word form -> roleset lemma) has its own file; a model saved before it did
# keeps the table inline in config.json (``srl.lemmas``), and still loads.
LEMMAS = "lemmas.json"


@dataclass
class SavedModel:
    """What a model directory holds: the network (on the CPU, in eval mode), its tokenizer and its card."""

    model: SRLModel
    tokenizer: Tokenizer
    card: str | None = None


def model_dir(path: str | Path | None) -> Path:
    """The local directory of a model: ``None`` is the shipped default, else a directory or a hub id
    (``hub.local_directory``)."""
    return local_directory(path if path is not None else DEFAULT_MODEL)


def read_model_dir(path: str | Path | None) -> SavedModel:
    """Read and check a model directory (``model_dir``'s rule for ``path``): its config, lemmas, weights
    (float32, whatever they were stored in), tokenizer and card. A FIFO or device in it is never opened."""
    directory = model_dir(path)
    refuse_special_files(directory)
    config_path = directory / CONFIG
    config = read_config(config_path)
    if (directory / LEMMAS).is_file():
        config = replace(config, lemmas=read_lemmas(directory / LEMMAS))
    weights_path = directory / WEIGHTS
    weights = read_weights(weights_path)
    model = build_model(config, config_path)
    kind = config.encoder.get("model_type", "albert")
    if kind != "albert":  # a model saved with another architecture's tensor names
        weights = albert_model_state(weights, kind, model.encoder.spec, str(weights_path))
    load_weights(model, weights, weights_path)
    card_path = directory / CARD
    card = card_path.read_text(encoding="utf-8") if card_path.exists() else None
    tokenizer = load_tokenizer(directory)
    check_vocabulary(tokenizer, model, directory)
    return SavedModel(model.eval(), tokenizer, card)


def write_model_dir(directory: str | Path, saved: SavedModel) -> Path:
    """Write ``config.json``, ``lemmas.json``, ``model.safetensors``, the tokenizer files and the card."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    values = saved.model.config.to_dict()
    encoder, lemmas = values.pop("encoder"), values.pop("lemmas")
    config = {"model_type": "albert-srl", "srl": values, "encoder": encoder}
    (out / CONFIG).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / LEMMAS).write_text(json.dumps(lemmas, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
    # Shared (tied) tensors are stored once per name: safetensors refuses aliasing storage.
    state = {k: v.detach().cpu().contiguous().clone() for k, v in saved.model.state_dict().items()}
    save_file(state, str(out / WEIGHTS), metadata={"format": "pt"})
    saved.tokenizer.save_pretrained(out)
    if saved.card is not None:
        (out / CARD).write_text(saved.card, encoding="utf-8")
    return out


def read_config(path: Path) -> ModelConfig:
    """A model's ``config.json``, every value checked (``network.model_config_from_json``)."""
    if not path.is_file():
        raise SRLFormatError(str(path), None, "missing: a model directory needs config.json")
    try:
        return model_config_from_json(parse_json(path.read_text(encoding="utf-8"), path))
    except (ValueError, UnicodeDecodeError) as error:  # SRLFormatError (bad JSON) is a ValueError
        message = error.message if isinstance(error, SRLFormatError) else str(error)
        raise SRLFormatError(str(path), None, f"not an albert-srl model config: {message}") from None


def read_lemmas(path: Path) -> dict[str, str]:
    """A model directory's lemma table, checked as ``ModelConfig.lemmas`` is (a JSON object of strings)."""
    try:
        values = parse_json(path.read_text(encoding="utf-8"), path)
        return setting_of(ModelConfig, "lemmas").check(values, str(path))  # type: ignore[no-any-return]
    except UnicodeDecodeError as error:
        raise SRLFormatError(str(path), None, f"not UTF-8 text: {error}") from None


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The model's tensors, as stored (bfloat16 for the shipped encoder, or float32)."""
    if not path.exists():
        raise SRLFormatError(str(path), None, "missing: a model directory needs model.safetensors")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise SRLFormatError(str(path), None, f"corrupt weights file: {error}") from error


def build_model(config: ModelConfig, config_path: Path) -> SRLModel:
    """``SRLModel(config)`` whose encoder is not randomly initialised: the weights file's tensors become
    its parameters (``load_weights``), and initialising 22 M weights was a third of loading's time.
    Settings it cannot take together, and sizes in range that still cannot be allocated, are one error
    naming the config."""
    try:
        return SRLModel(config, fresh_encoder(config.encoder, initialize=False))
    except ValueError as error:  # settings the network cannot take together (network.check_fusion)
        raise SRLFormatError(str(config_path), None, f"not an albert-srl model config: {error}") from None
    except (RuntimeError, MemoryError) as error:  # torch's allocator raises RuntimeError
        first_line = str(error).strip().split("\n")[0] or type(error).__name__
        message = f"the model's sizes cannot be allocated in memory: {first_line}"
        raise SRLFormatError(str(config_path), None, message) from None


def load_weights(model: SRLModel, weights: dict[str, torch.Tensor], path: Path) -> None:
    """The weights become the model's parameters, in float32 (``assign``: no copy), each one the shape the
    config gives and none missing or left over."""
    floats = {k: v.float() if v.is_floating_point() else v for k, v in weights.items()}
    try:
        missing, unexpected = model.load_state_dict(floats, strict=False, assign=True)
    except RuntimeError as error:  # a tensor of another shape than the config says
        message = str(error).split("\n\t", 1)[-1].split("\n")[0]
        raise SRLFormatError(str(path), None, f"weights do not fit the config: {message}") from None
    if missing or unexpected:
        raise SRLFormatError(
            str(path),
            None,
            f"weights do not fit the config: missing {missing[:3]}, unexpected {unexpected[:3]}",
        )


def check_vocabulary(tokenizer: Tokenizer, model: SRLModel, directory: Path) -> None:
    """The tokenizer must not give ids past the encoder's embeddings, and a SentencePiece vocabulary is
    its ALBERT's embedding table: a tokenizer of another size belongs to another model."""
    pieces, rows = len(tokenizer), model.encoder.embeddings.word_embeddings.num_embeddings
    if pieces > rows or (tokenizer.is_sentencepiece and pieces != rows):
        raise SRLFormatError(
            str(directory / "tokenizer.json"),
            None,
            f"a tokenizer of {pieces} pieces for an encoder of {rows} (config.json encoder.vocab_size): "
            "the tokenizer belongs to another model",
        )
