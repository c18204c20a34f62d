"""An encoder directory as an ALBERT encoder directory (``albert-srl convert-encoder``).

Any architecture ``albert_form`` supports converts: a BERT is ALBERT's "not-shared" variant (one hidden
group per layer, an embedding size equal to the hidden size, an identity embedding-to-hidden mapping),
and so, with their own extras, are RoBERTa, ELECTRA and MPNet. Converted that way the ALBERT gives the
source's outputs exactly. With a smaller embedding size ``E`` the embeddings are factorized: every embedding
table is projected onto the top ``E`` right singular vectors of sampled embedding sums, and the
embedding-to-hidden mapping is fitted by least squares so that ALBERT's embedding output comes as close
as it can to BERT's (the layer norm moves from the hidden space into the smaller one, so it is not
exact; ``Conversion.embedding_error`` says how close it came).

Only safetensors weights are read: a directory holding pickled weights alone is refused. The source is
checked before anything of its size is allocated (its ``config.json`` through the ranges a model
directory's encoder has, then against the weights' own shapes) and never written: the output is a new or
empty directory elsewhere (``force`` replaces a non-empty one), written aside and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from albert_srl.errors import SRLFormatError
from albert_srl.files import refuse_output_directory, refuse_special_files, replaced
from albert_srl.model.albert_form import SHARD_INDEX, WEIGHTS, read_weights
from albert_srl.model.encoder import EncoderSpec
from albert_srl.model.encoder_dir import read_pretrained
from albert_srl.model.tokenizer import load_tokenizer

log = logging.getLogger(__name__)

EMBEDDING_TABLES = ("word_embeddings", "position_embeddings", "token_type_embeddings")
# Samples of (word, position, token type) the factorized embedding mapping is fitted on.
FIT_SAMPLES = 20_000


@dataclass
class Conversion:
    """What ``convert_encoder`` wrote and how close the factorized embeddings came (0.0 when exact)."""

    directory: Path
    source_sha256: str
    embedding_size: int
    hidden_size: int
    embedding_error: float  # relative L2 error of the embedding output against BERT's, on random samples


def convert_encoder(
    source: str | Path,
    out: str | Path,
    embedding_size: int | None = None,
    sha256: str | None = None,
    seed: int = 0,
    force: bool = False,
) -> Conversion:
    """Convert the encoder in ``source`` (any architecture ``albert_form`` supports) into an ALBERT encoder
    directory ``out`` (weights, config, tokenizer files and a model card). ``embedding_size`` defaults to
    the source's own (exact); ``sha256`` is the digest ``model.safetensors`` must have. ``out`` must be
    new or empty, and neither ``source`` nor inside it; ``force`` replaces a non-empty one whole. The
    source is read and checked before anything of its size is allocated (``read_pretrained``) and never
    written. Raises ``SRLFormatError`` naming the file."""
    source, out = Path(source), Path(out)
    refuse_output_directory(out, [source], force)
    pretrained = read_pretrained(source)
    spec, state = pretrained.spec, {k: v.float() for k, v in pretrained.state.items()}
    weights_path = source / WEIGHTS
    digest = file_sha256(weights_path if weights_path.is_file() else source / SHARD_INDEX)
    if sha256 is not None and digest != sha256.lower():
        raise SRLFormatError(
            str(weights_path), None, f"sha256 is {digest}, not the {sha256.lower()} asked for: another file"
        )
    hidden = spec.hidden_size
    size = spec.embedding_size if embedding_size is None else embedding_size
    factorizable = spec.embedding_size == hidden  # an identity map to factorize (not ELECTRA's projection)
    if size != spec.embedding_size and not (factorizable and 1 <= size <= hidden):
        allowed = f"from 1 to {hidden}" if factorizable else f"only its own, {spec.embedding_size}"
        raise SRLFormatError(str(source), None, f"embedding size {size}: allowed {allowed}")
    error = 0.0
    if size != spec.embedding_size:
        state, error = factorize_embeddings(state, spec, size, seed)
        spec = replace(spec, embedding_size=size)
    tokenizer = load_tokenizer(source)
    conversion = Conversion(out, digest, size, hidden, error)
    with replaced(out, directory=True) as staging:  # all of it or nothing, whatever was there before
        (staging / "config.json").write_text(json.dumps(spec.to_dict(), indent=2) + "\n", encoding="utf-8")
        save_file({k: v.contiguous() for k, v in state.items()}, str(staging / WEIGHTS), {"format": "pt"})
        tokenizer.save_pretrained(staging)
        (staging / "README.md").write_text(card(source, pretrained.config, conversion), encoding="utf-8")
    log.info("converted %s into %s (embedding size %d, embedding error %.4f)", source, out, size, error)
    return conversion


def read_config(path: Path, whose: str) -> Any:
    """A ``config.json``'s JSON; one error naming it when it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SRLFormatError(str(path), None, f"cannot read {whose} config: {error}") from None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def factorize_embeddings(
    state: dict[str, torch.Tensor], spec: EncoderSpec, size: int, seed: int
) -> tuple[dict[str, torch.Tensor], float]:
    """Project the embedding tables (of the hidden size, mapped by the identity) onto the top ``size``
    singular directions of their sums, and fit the embedding-to-hidden mapping (after a plain layer
    norm in the small space) to the source's embedding output; returns the state and the fit's relative
    error."""
    eps = spec.layer_norm_eps
    tables = {name: state[f"embeddings.{name}.weight"] for name in EMBEDDING_TABLES}
    gamma, beta = state["embeddings.LayerNorm.weight"], state["embeddings.LayerNorm.bias"]
    generator = torch.Generator().manual_seed(seed)
    sample = [
        torch.randint(len(tables[name]), (FIT_SAMPLES,), generator=generator) for name in EMBEDDING_TABLES
    ]
    full = torch.stack([tables[name][ids] for name, ids in zip(EMBEDDING_TABLES, sample, strict=True)]).sum(0)
    # The directions of the summed embeddings as the layer norm sees them (mean removed): on
    # all-MiniLM-L6-v2 at E=256 they leave a third less error than the word table's own (0.32 vs 0.47).
    _, _, right = torch.linalg.svd(full - full.mean(1, keepdim=True), full_matrices=False)
    projection = right[:size].T  # (H, E), orthonormal columns
    target = torch.nn.functional.layer_norm(full, (full.shape[1],), gamma, beta, eps)  # (N, H)
    small = torch.nn.functional.layer_norm(full @ projection, (size,), eps=eps)  # (N, E)
    design = torch.cat([small, torch.ones(len(small), 1)], dim=1)
    solution = torch.linalg.lstsq(design.double(), target.double()).solution  # (E + 1, H)
    # The layer norm's output sums to zero, so the design has a null direction (all E columns alike) that
    # least squares fills with rounding noise at any scale (singular values of 1e5 on all-MiniLM-L6-v2):
    # harmless on these inputs, but the first optimizer step on the layer norm's bias walks into it and
    # fine-tuning collapsed (dev F1 0). Removing it leaves the fitted output as it is.
    solution[:size] -= solution[:size].mean(0, keepdim=True)
    solution = solution.float()
    fitted = design @ solution
    error = float((fitted - target).norm() / target.norm())
    for name in EMBEDDING_TABLES:
        state[f"embeddings.{name}.weight"] = tables[name] @ projection
    state["embeddings.LayerNorm.weight"] = torch.ones(size)
    state["embeddings.LayerNorm.bias"] = torch.zeros(size)
    state["encoder.embedding_hidden_mapping_in.weight"] = solution[:size].T.contiguous()
    state["encoder.embedding_hidden_mapping_in.bias"] = solution[size].contiguous()
    return state, error


def source_licence(source: Path) -> str:
    """The ``license:`` of the source's model card front matter, or ``unknown``."""
    readme = source / "README.md"
    text = readme.read_text(encoding="utf-8", errors="replace") if readme.is_file() else ""
    found = re.search(r"^license:\s*(\S+)", text.split("\n---", 1)[0], re.MULTILINE)
    return found.group(1) if found else "unknown (see the source's card)"


def card(source: Path, config: dict, conversion: Conversion) -> str:
    licence = source_licence(source)
    name = config.get("_name_or_path") or source.name
    kind = config.get("model_type", "albert")
    exact = conversion.embedding_size == conversion.hidden_size
    how = (
        f"so it gives the {kind}'s outputs exactly"
        if exact
        else f"with embedding size {conversion.embedding_size} (factorized by SVD; the embedding output's "
        f"relative error against the {kind}'s is {conversion.embedding_error:.4f}): fine-tune it before use"
    )
    return f"""---
license: {licence}
library_name: albert-srl
tags: [albert, albert-srl]
---

# {name}, in ALBERT form

The {kind} encoder `{name}` converted by `albert-srl convert-encoder` into ALBERT form, which
`encoder.pretrained` loads: one hidden group per layer ({config.get("num_hidden_layers")} layers, hidden size
{conversion.hidden_size}), {how}. Without a position offset or a relative-position bias in its
`config.json` (a BERT's, an ELECTRA's), `transformers.AlbertModel.from_pretrained` loads it too.

- Source: `{source}` (`{name}`), licence: {licence}.
- Source weights: `model.safetensors`, sha256 `{conversion.source_sha256}`.
- Tokenizer: the source's own files, unchanged.
"""


# ---------------------------------------------------------------------------------------------------
# An albert-srl model's encoder, on its own


def export_encoder(model_dir: str | Path, out: str | Path, dtype: torch.dtype | None = None) -> Path:
    """Write the encoder of the albert-srl model directory ``model_dir`` as a Hugging Face encoder
    directory ``out`` that ``AutoModel.from_pretrained`` (and ``encoder.pretrained``) loads: the model's
    ``encoder.*`` tensors without their prefix, its config's ``encoder`` section as ``config.json``, its
    tokenizer files and a card. ``dtype`` casts the floating tensors (``None`` keeps them as stored).
    Raises ``SRLFormatError`` naming the file that is not an albert-srl model's."""
    model_dir, out = Path(model_dir), Path(out)
    refuse_special_files(model_dir)
    config = srl_encoder_config(model_dir)
    state = encoder_state(read_weights(model_dir), model_dir / WEIGHTS, dtype)
    if dtype is not None:
        config["dtype"] = str(dtype).removeprefix("torch.")
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    save_file(state, str(out / WEIGHTS), {"format": "pt"})
    load_tokenizer(model_dir).save_pretrained(out)  # with the model's own vocabulary files
    (out / "README.md").write_text(export_card(model_dir, config, len(state)), encoding="utf-8")
    log.info("exported the encoder of %s into %s (%d tensors)", model_dir, out, len(state))
    return out


def srl_encoder_config(model_dir: Path) -> dict:
    """The ``encoder`` section of an albert-srl model's ``config.json`` (a Hugging Face config)."""
    path = model_dir / "config.json"
    config = read_config(path, "the model's")
    encoder = config.get("encoder") if isinstance(config, dict) else None
    if (
        not isinstance(config, dict)
        or config.get("model_type") != "albert-srl"
        or not isinstance(encoder, dict)
    ):
        raise SRLFormatError(str(path), None, "not an albert-srl model config (model_type, encoder)")
    return dict(encoder)


def encoder_state(
    state: dict[str, torch.Tensor], path: Path, dtype: torch.dtype | None
) -> dict[str, torch.Tensor]:
    """The ``encoder.*`` tensors without the prefix, floating ones cast to ``dtype`` when given."""
    kept = {}
    for key, value in state.items():
        if key.startswith("encoder."):
            cast = dtype is not None and value.is_floating_point()
            kept[key.removeprefix("encoder.")] = (value.to(dtype) if cast else value).contiguous()
    if not kept:
        raise SRLFormatError(str(path), None, "no encoder.* tensors: not an albert-srl model's weights")
    return kept


def export_card(model_dir: Path, config: dict, tensors: int) -> str:
    kind = config.get("model_type", "albert")
    return f"""---
library_name: transformers
tags: [{kind}, albert-srl]
---

# The encoder of `{model_dir.name}`

The {kind} encoder of the albert-srl model `{model_dir}` ({tensors} tensors, its `encoder.*` weights),
written by `albert_srl.conversion.export_encoder` with the model's own tokenizer files. It was fine-tuned
for semantic role labelling as part of that model: see the model's card for where it came from.
"""
