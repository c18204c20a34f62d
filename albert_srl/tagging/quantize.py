"""int8 on the CPU: a loaded model's encoder linear layers quantized dynamically, in place.

Dynamic quantization stores a linear layer's weight in int8, one scale per output channel, and quantizes
its input on the fly, one scale per call; the matrix product runs in int8 (fbgemm). It applies to a
loaded float model, on the CPU only, and a quantized model is never saved (its packed weights are no
safetensors; the model directory keeps its float weights).

``SRLTagger(..., int8=True)``, ``from_pretrained(..., int8=True)`` and ``--int8`` on ``tag``, ``predict``
and ``serve`` take it; it is never the default. Measured on the shipped model and the whole EWT dev set
(2026-12-02, docs/benchmarks.md "int8 on the CPU"), it costs 0.10 dev F1 with gold predicates (76.35 ->
76.25) and 0.02 end to end, within the 0.3 that issue 26 allows, and tags 1.2-1.4x faster on two
threads; a model of your own is worth measuring with ``benchmarks/dev_scores.py --int8`` first.

What is quantized: with late fusion, the linear layers of the top ``fusion_layers``, which run once per
predicate; the lower layers run once a sentence and stay float. Quantizing them too (the whole encoder
but the embedding mapping, this module's earlier default and ``lower_float=False``) was 1.4x faster
than float but cost 0.50 dev F1 on the shipped model, over the 0.3 allowed. With early fusion every
layer runs per predicate and all are quantized but the embedding mapping (``KEEP_FLOAT``: keeping it
float cost 0.16 less on the shipped model). The heads (argument, sense, predicate, part of speech, pair)
stay float, a sliver of the time. Weights are int8 per output channel (per-tensor ones cost 1-3 F1 more),
and inputs use all 8 bits where the CPU has VNNI (``FullRangeLinear``): torch's dynamic layers use 7
(``reduce_range``, which keeps CPUs without VNNI from overflowing 16-bit sums), which cost 0.9-2.3 F1 more
on first-epoch checkpoints and 0.92 on the shipped model. Keeping the top layers, the attention output or
the FFN output float cost more than 8-bit inputs and kept less speed.

``torch.ao.quantization.quantize_dynamic`` is deprecated in favour of torchao, but torchao 0.18's
``quantize_`` runs its int8 layers slower than float on a CPU in eager mode (fast only under
``torch.compile``, tens of seconds a shape), so this module keeps the torch one and silences its
deprecation warnings.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Collection

import torch
from torch import nn
from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

from albert_srl.model.encoder import Encoder

log = logging.getLogger(__name__)

# Encoder linear layers left in float: those whose name ends with one of these (the embedding mapping), and
# those of the top ``KEEP_TOP_LAYERS`` transformer layers (none; docs/benchmarks.md: what each choice costs).
KEEP_FLOAT: tuple[str, ...] = ("embedding_hidden_mapping_in",)
KEEP_TOP_LAYERS = 0


def quantizable(
    model: nn.Module,
    keep_float: Collection[str] = KEEP_FLOAT,
    keep_top: int = KEEP_TOP_LAYERS,
    lower_float: bool = True,
) -> list[str]:
    """The names of the encoder's ``nn.Linear`` modules that ``quantize_int8`` quantizes: with late
    fusion and ``lower_float``, those of the top ``fusion_layers`` (they run once a predicate; the lower
    layers, once a sentence, stay float); otherwise every one; in both cases but those whose name ends
    with a ``keep_float`` entry and those inside the top ``keep_top`` layers. An ALBERT layer group shared
    by lower and top layers is quantized for both. The heads (argument, sense, predicate, part of speech,
    pair) read the encoder's states and stay float."""
    encoder: Encoder = model.encoder  # type: ignore[assignment]
    upper: list[nn.Module] = model.upper  # type: ignore[assignment]
    scope: list[nn.Module] = upper if lower_float and upper else [encoder]
    inside = {id(m) for part in scope for m in part.modules()}
    top: list[nn.Module] = list(encoder.layers()[-keep_top:]) if keep_top > 0 else []
    kept = {id(m) for layer in top for m in layer.modules()}
    return [
        f"encoder.{name}"
        for name, module in encoder.named_modules()
        if isinstance(module, nn.Linear)
        and id(module) in inside
        and id(module) not in kept
        and not any(name.endswith(suffix) for suffix in keep_float)
    ]


def quantize_int8(
    model: nn.Module,
    names: Collection[str] | None = None,
    per_channel: bool = True,
    full_range: bool | None = None,
) -> list[str]:
    """Quantize ``model``'s linear layers ``names`` (default: ``quantizable(model)``) to dynamic int8 in
    place, for inference on the CPU; returns their names. ``full_range``: 8-bit inputs (``None``: where
    the CPU has VNNI, else torch's 7). The model must be on the CPU and is not trainable afterwards.
    Never save the result: tagging reads it, the model directory stays float."""
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig, quantize_dynamic

    if any(p.device.type != "cpu" for p in model.parameters()):
        raise ValueError("int8 quantization runs on the CPU: load the model with device='cpu'")
    names = list(quantizable(model) if names is None else names)
    qconfig = per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig
    with warnings.catch_warnings():
        # torch.ao.quantization says it is deprecated (module docstring), and so are its qint8 tensors.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.ao\..*")
        warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization is deprecated.*")
        warnings.filterwarnings("ignore", message=r".*quantize_per_(tensor|channel).*deprecated.*")
        quantize_dynamic(model, dict.fromkeys(names, qconfig), dtype=torch.qint8, inplace=True)
    if full_range is None:
        full_range = has_vnni()
        if not full_range:
            log.warning(
                "this CPU has no AVX-512 VNNI: int8 layers take 7-bit inputs, which cost about 1-2 dev F1 "
                "where 8-bit ones cost 0.0-0.2 (docs/benchmarks.md)"
            )
    if full_range:
        modules = dict(model.named_modules())
        for name in names:
            modules[name].__class__ = FullRangeLinear
    log.debug("int8: %d linear layers quantized, %d-bit inputs", len(names), 8 if full_range else 7)
    return names


def has_vnni() -> bool:
    """Whether the CPU sums 8-bit products in 32 bits (AVX-512 VNNI), where 8-bit inputs cannot overflow."""
    check = getattr(torch.cpu, "_is_vnni_supported", None)
    return bool(check()) if check is not None else False


def is_quantized(module: nn.Module) -> bool:
    """A dynamically quantized int8 linear layer."""
    return isinstance(module, DynamicLinear)


class FullRangeLinear(DynamicLinear):
    """A dynamic int8 linear layer whose inputs use all 8 bits; torch's use 7 (``reduce_range``), which
    keeps CPUs without VNNI from overflowing 16-bit sums, at twice the rounding error."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        packed = self._packed_params._packed_params
        return torch.ops.quantized.linear_dynamic(x, packed, reduce_range=False).to(x.dtype)
