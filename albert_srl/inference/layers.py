"""An encoder run in two parts: its embeddings and lower layers, then its top layers.

transformers offers no supported way to run a range of a model's layers, so this module is the one place
that reaches into its modules: the embedding module, ALBERT's embedding-to-hidden mapping (ELECTRA's
projection), the list of layers (ALBERT's shared groups expanded to one entry a layer), the attention
mask in the form the layers take, and, for inference, each layer's linear maps and norms
(``run_marked``, which computes only what a marked row does not share with its window).
``tests/test_layers.py`` checks that the parts together give the whole model's output, and ``run_marked``
the layers' own, for every encoder type that runs in parts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
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


@dataclass(frozen=True)
class Block:
    """One post-norm transformer block's pieces, as its forward uses them (BERT's and ALBERT's alike)."""

    query: nn.Module
    key: nn.Module
    value: nn.Module
    attention_output: nn.Module
    attention_norm: nn.Module
    intermediate: nn.Module
    activation: Callable[[torch.Tensor], torch.Tensor]
    output: nn.Module
    output_norm: nn.Module
    heads: int


def blocks(layer: nn.Module) -> list[Block]:
    """The blocks of one entry of ``transformer_layers`` (an ALBERT group holds one or more). Looked up
    on each call: int8 quantization replaces the linear modules in place."""
    if hasattr(layer, "albert_layers"):
        return [
            Block(
                a.attention.query,
                a.attention.key,
                a.attention.value,
                a.attention.dense,
                a.attention.LayerNorm,
                a.ffn,
                a.activation,
                a.ffn_output,
                a.full_layer_layer_norm,
                a.attention.num_attention_heads,
            )
            for a in layer.albert_layers
        ]
    attention = layer.attention
    return [
        Block(
            attention.self.query,
            attention.self.key,
            attention.self.value,
            attention.output.dense,
            attention.output.LayerNorm,
            layer.intermediate.dense,
            layer.intermediate.intermediate_act_fn,
            layer.output.dense,
            layer.output.LayerNorm,
            attention.self.num_attention_heads,
        )
    ]


def run_marked(
    stack: list[nn.Module],
    lower: torch.Tensor,
    rows: torch.Tensor,
    attention_mask: torch.Tensor,
    queries: torch.Tensor,
    marks: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """``stack`` run on rows of ``lower`` each with an offset added, for inference (no dropout): the
    output (U, Q, H) at the positions ``queries`` (U, Q) of each row.

    Row u is ``lower[rows[u]]`` plus ``table[ids[u]]`` where ``marks = (table (M, H), ids (U, S))``, id 0
    adding nothing (an embedding's padding row): a window with its predicate marked. Two things are
    computed once instead of once a row: the first block's query, key and value maps of the unmarked
    window (a linear map of a sum is the sum of the maps, so the table's maps are added after, at the
    marked subwords alone), and the last block's query, attention output and feed-forward run only at
    ``queries``, the positions something reads, not at padding, [CLS], [SEP] or later subwords. Equal to
    the layers' own forward up to float rounding (tests/test_layers.py)."""
    steps = [block for layer in stack for block in blocks(layer)]
    allowed = attention_mask[rows].bool()[:, None, None, :]  # (U, 1, 1, S): the keys a row attends to
    table, ids = marks if marks is not None else (None, None)
    hidden = add_at_marks(lower[rows], ids, table)
    first = steps[0]
    shared = [
        add_at_marks(m(lower)[rows], ids, offsets(m, table)) for m in (first.query, first.key, first.value)
    ]
    for i, block in enumerate(steps):
        key, value = shared[1:] if i == 0 else (block.key(hidden), block.value(hidden))
        query = shared[0] if i == 0 else None  # a later block maps the states it runs at
        if i == len(steps) - 1:  # only where something reads
            hidden = at(hidden, queries)
            query = None if query is None else at(query, queries)
        query = block.query(hidden) if query is None else query
        hidden = block_forward(block, hidden, query, key, value, allowed)
    return hidden


def offsets(linear: nn.Module, table: torch.Tensor | None) -> torch.Tensor | None:
    """What ``linear`` adds to its output for each row of the mark table (its bias left out)."""
    if table is None:
        return None
    return linear(table) - linear(torch.zeros_like(table[:1]))


def add_at_marks(states: torch.Tensor, ids: torch.Tensor | None, added: torch.Tensor | None) -> torch.Tensor:
    """``states`` (U, S, D), in place, plus ``added[id]`` at each position whose mark ``id`` is not 0."""
    if ids is None or added is None:
        return states
    flat = ids.reshape(-1)
    where = flat.nonzero().squeeze(1)
    states.view(-1, states.size(-1)).index_add_(0, where, added[flat[where]].to(states.dtype))
    return states


def at(states: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """``states`` (U, S, D) at ``positions`` (U, Q): (U, Q, D)."""
    return states.gather(1, positions.unsqueeze(2).expand(-1, -1, states.size(2)))


def block_forward(
    block: Block,
    hidden: torch.Tensor,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    allowed: torch.Tensor,
) -> torch.Tensor:
    """One block at the positions of ``hidden``/``query`` (U, Q, H), attending to ``key``/``value``
    (U, S, H) where ``allowed``."""

    def heads(x: torch.Tensor) -> torch.Tensor:
        return x.view(x.size(0), x.size(1), block.heads, -1).transpose(1, 2)

    context = F.scaled_dot_product_attention(heads(query), heads(key), heads(value), attn_mask=allowed)
    context = context.transpose(1, 2).reshape(hidden.shape[0], hidden.shape[1], -1)
    attended = block.attention_norm(hidden + block.attention_output(context))
    return block.output_norm(attended + block.output(block.activation(block.intermediate(attended))))
