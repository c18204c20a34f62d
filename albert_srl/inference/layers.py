"""An encoder run in two parts: its embeddings and lower layers, then its top layers.

transformers offers no supported way to run a range of a model's layers, so this module is the one place
that reaches into its modules: the embedding module, ALBERT's embedding-to-hidden mapping (ELECTRA's
projection), the list of layers (ALBERT's shared groups expanded to one entry a layer), and the
attention mask in the form the layers take. ``tests/test_layers.py`` checks that the parts together give
the whole model's output for every encoder type that runs in parts.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AlbertModel, PreTrainedModel
from transformers.masking_utils import create_bidirectional_mask

# Encoders whose layers take only (hidden states, attention mask); DeBERTa's also need its relative
# positions, so it runs whole (early fusion only).
LAYERED_TYPES = frozenset({"albert", "bert", "roberta", "xlm-roberta", "electra"})


def runs_in_parts(encoder: PreTrainedModel) -> bool:
    return encoder.config.model_type in LAYERED_TYPES


def transformer_layers(encoder: PreTrainedModel) -> list[nn.Module]:
    """The encoder's layers in the order they run; ALBERT's groups repeated as its forward repeats them."""
    if isinstance(encoder, AlbertModel):
        config = encoder.config
        groups = encoder.encoder.albert_layer_groups
        per_group = config.num_hidden_layers / config.num_hidden_groups
        return [groups[int(i / per_group)] for i in range(config.num_hidden_layers)]
    if not runs_in_parts(encoder):
        raise ValueError(f"a {encoder.config.model_type} encoder runs whole: its layers cannot run apart")
    return list(encoder.encoder.layer)


def embed(
    encoder: PreTrainedModel,
    input_ids: torch.Tensor | None,
    token_type_ids: torch.Tensor | None = None,
    inputs_embeds: torch.Tensor | None = None,
) -> torch.Tensor:
    """The input of the first layer (R, S, H): embeddings, mapped to the hidden size where they differ."""
    hidden = encoder.embeddings(
        input_ids=input_ids, token_type_ids=token_type_ids, inputs_embeds=inputs_embeds
    )
    if isinstance(encoder, AlbertModel):
        return encoder.encoder.embedding_hidden_mapping_in(hidden)
    projection = getattr(encoder, "embeddings_project", None)  # ELECTRA with a smaller embedding
    return projection(hidden) if projection is not None else hidden


def run_layers(
    encoder: PreTrainedModel, layers: list[nn.Module], hidden: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """``hidden`` (R, S, H) through ``layers``, attending where ``attention_mask`` (R, S) is 1."""
    if not layers:
        return hidden
    mask = create_bidirectional_mask(
        config=encoder.config, inputs_embeds=hidden, attention_mask=attention_mask
    )
    for layer in layers:
        hidden = layer(hidden, mask)
    return hidden
