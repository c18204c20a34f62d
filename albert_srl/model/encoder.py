"""The encoder: ALBERT in plain torch, one forward for training and tagging.

ALBERT form: embeddings of size E (word, position and token type, then a layer norm), a linear map up to
the hidden size H, and L post-norm transformer blocks whose weights come in G groups (ALBERT shares a
group across layers; a BERT has one group a layer). Every supported architecture loads into it
(``albert_form``): BERT, RoBERTa and ELECTRA are this network with other names, and MPNet adds a
relative-position attention bias shared by all blocks, which this module computes when its config asks.
The module and parameter names are ``transformers``' ``AlbertModel``'s, so an ALBERT-form safetensors
file loads as it was saved; ``tests/test_encoder.py`` checks every architecture against its
``transformers`` class.

Late fusion runs the blocks in two parts: ``lower`` once a window, then ``upper`` once a unit row with
the predicate mark added to the block's input; early fusion runs them all with the mark in the
embeddings. Both are this module's ``run``; nothing else holds a copy of a block. Within a run the
blocks' position-wise work skips the padding: the states are packed to the real subwords (``Rows``),
and only attention sees them padded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any, cast

import torch
from torch import nn
from torch.nn import functional as F


def quick_gelu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(1.702 * x)


def tanh_gelu(x: torch.Tensor) -> torch.Tensor:
    # One fused kernel; ALBERT's "gelu_new" is the same function written as five operations.
    return F.gelu(x, approximate="tanh")


# A model is data: its activation is a name from this table, never a name resolved to a callable.
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,
    "gelu_new": tanh_gelu,
    "gelu_pytorch_tanh": tanh_gelu,
    "gelu_fast": tanh_gelu,
    "quick_gelu": quick_gelu,
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
    "tanh": torch.tanh,
    "mish": F.mish,
}


@dataclass
class EncoderSpec:
    """An ALBERT-form encoder's hyperparameters: ``transformers``' ``AlbertConfig`` names and defaults,
    plus two of other architectures (``position_offset``, ``relative_attention_num_buckets``). Stored
    as a model's ``encoder`` section; other keys there pass through unread."""

    vocab_size: int = 30000
    embedding_size: int = 128
    hidden_size: int = 4096
    num_hidden_layers: int = 12
    num_hidden_groups: int = 1
    num_attention_heads: int = 64
    intermediate_size: int = 16384
    inner_group_num: int = 1
    hidden_act: str = "gelu_new"
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    # RoBERTa and MPNet number positions from the padding id + 1: position i reads row i + offset.
    position_offset: int = 0
    # MPNet: a learned per-head bias by bucketed relative distance, added to every block's attention.
    relative_attention_num_buckets: int = 0
    relative_attention_max_distance: int = 128
    model_type: str = "albert"

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EncoderSpec:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known and v is not None})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def layers_per_group(self) -> float:
        return self.num_hidden_layers / self.num_hidden_groups


class Embeddings(nn.Module):
    """Word + token type + position embeddings (size E), layer-normed."""

    def __init__(self, spec: EncoderSpec) -> None:
        super().__init__()
        size = spec.embedding_size
        self.word_embeddings = nn.Embedding(spec.vocab_size, size, padding_idx=spec.pad_token_id)
        self.position_embeddings = nn.Embedding(spec.max_position_embeddings, size)
        self.token_type_embeddings = nn.Embedding(spec.type_vocab_size, size)
        self.LayerNorm = nn.LayerNorm(size, eps=spec.layer_norm_eps)
        self.dropout = nn.Dropout(spec.hidden_dropout_prob)
        self.position_offset = spec.position_offset

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        added: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(R, S) ids → (R, S, E); ``added`` (R, S, E) joins the word embeddings (early fusion's mark)."""
        words = self.word_embeddings(input_ids)
        if added is not None:
            words = words + added
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        positions = torch.arange(input_ids.size(1), device=input_ids.device) + self.position_offset
        embeddings = words + self.token_type_embeddings(token_type_ids) + self.position_embeddings(positions)
        return self.dropout(self.LayerNorm(embeddings))


class Rows:
    """Rows padded to one width, and where their real subwords are (``mask`` (R, S), 1 there). The
    blocks' position-wise work (the linear maps, layer norms and feed-forward map) runs on the real
    subwords alone, packed (N, D) in row order; attention alone sees the padded rows. Sorting a batch by
    length still leaves about 8% of its subwords padding (docs/benchmarks.md)."""

    def __init__(self, mask: torch.Tensor) -> None:
        self.mask = mask
        flat = mask.reshape(-1).bool()
        self.real = flat.nonzero().squeeze(1)  # (N,) their flat positions over (R, S); a sync on a GPU
        self.full = len(self.real) == len(flat)  # no padding (one row, say): packing is a reshape
        # (R * S,) each flat position's row in the packed states (a padding position: its row's last real one)
        self.place = (flat.cumsum(0) - 1).clamp(min=0)

    def pack(self, padded: torch.Tensor) -> torch.Tensor:
        """(R, S, D) → (N, D): the real subwords' rows."""
        flat = padded.reshape(-1, padded.size(-1))
        return flat if self.full else take(flat, self.real)

    def unpack(self, packed: torch.Tensor) -> torch.Tensor:
        """(N, D) → (R, S, D). A padding position holds its row's last real subword's state: attention
        masks it and nothing reads it, so it needs no zeros written first."""
        if self.full:
            return packed.view(*self.mask.shape, -1)
        return take(packed, self.place.view(self.mask.shape))


class Read:
    """The positions the last block computes (``mask`` (R, S), true there), and its output: their states
    packed (N_read, H) in row order, a flat position's place there being ``positions.place``. Attention
    lays the queries out by row, (R, Q) of which ``slots`` are real; the rest of the block runs on the
    positions read alone."""

    def __init__(self, mask: torch.Tensor) -> None:
        self.positions = Rows(mask)
        counts = mask.sum(1)
        width = max(int(counts.max()), 1)  # a sync on a GPU
        self.slots = Rows(torch.arange(width, device=mask.device) < counts[:, None])

    def places_in(self, rows: Rows) -> torch.Tensor:
        """Where the positions read lie among ``rows``' packed states (N_read,)."""
        return rows.place[self.positions.real]

    def queries(self) -> torch.Tensor:
        """Each query slot's position in its row (R, Q); a padding slot repeats its row's last."""
        within_row = self.positions.real % self.positions.mask.size(1)
        return self.slots.unpack(within_row[:, None]).squeeze(-1)


@dataclass
class Mark:
    """Late fusion's predicate mark, the input of the first top block: unit row ``u`` is window
    ``rows[u]`` of the lower layers' states with ``table[ids[u, s]]`` added at each subword ``s``. Row 0,
    the unmarked subwords', starts at zero and is learnt like the others: every subword gets its row."""

    rows: torch.Tensor  # (U,) the window each unit row reads
    ids: torch.Tensor  # (U, S) mark ids
    table: torch.Tensor  # (M, H)


class Marking:
    """A ``Mark`` over packed windows: each unit row's real subwords (``units``) read their window's
    (``source``); the few marked ones (id not 0) are kept apart, so that row 0 of the table is added to
    all in place and only they are summed again."""

    def __init__(self, mark: Mark, windows: Rows) -> None:
        self.table = mark.table
        self.units = Rows(windows.mask[mark.rows])
        width = windows.mask.size(1)
        real = self.units.real
        self.source = windows.place[mark.rows[real // width] * width + real % width]  # (N_units,)
        ids = mark.ids.reshape(-1)[real]
        self.marked = ids.nonzero().squeeze(1)  # (P,) a sync on a GPU
        self.marked_ids = ids[self.marked]

    def add(self, windows: torch.Tensor, added: torch.Tensor) -> torch.Tensor:
        """The unit rows over packed ``windows`` (N_windows, D) with ``added[id]`` (a row of the table, or
        of its map) added at every subword: (N_units, D), the sums of ``windows[source] + added[ids]``
        without gathering ``added`` for every subword."""
        rows = take(windows, self.source)
        at_marks = rows[self.marked] + added[self.marked_ids].to(rows.dtype)
        rows.add_(added[0].to(rows.dtype))
        rows[self.marked] = at_marks
        return rows


class Attention(nn.Module):
    """Multi-head self-attention with its output map, residual and layer norm (post-norm)."""

    def __init__(self, spec: EncoderSpec) -> None:
        super().__init__()
        hidden = spec.hidden_size
        self.heads = spec.num_attention_heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.dense = nn.Linear(hidden, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=spec.layer_norm_eps)
        self.attention_dropout = spec.attention_probs_dropout_prob
        self.output_dropout = nn.Dropout(spec.hidden_dropout_prob)

    def forward(
        self,
        hidden: torch.Tensor,
        rows: Rows,
        bias: torch.Tensor,
        read: Read | None = None,
        marking: Marking | None = None,
    ) -> torch.Tensor:
        """The packed real subwords ``hidden`` (N, H) of ``rows`` attending to each other by ``bias`` (a
        mask or an additive bias that broadcasts to (R, heads, S, S)): (N, H), or at the positions
        ``read`` only: (N_read, H).

        With ``marking``, ``hidden`` holds the windows' subwords and ``rows`` are its unit rows. The rows
        of one window differ only by their mark, and a linear map of a sum is the sum of the maps: query,
        key and value run once a window, and the maps of the mark's vectors are added where each row is
        marked: the same sums up to float rounding at a fraction of the work."""

        def split(x: torch.Tensor) -> torch.Tensor:
            return x.view(x.size(0), x.size(1), self.heads, -1).transpose(1, 2)

        def project(linear: nn.Module) -> torch.Tensor:
            if marking is None:
                return linear(hidden)  # type: ignore[no-any-return]
            table = marking.table
            added = linear(table) - linear(torch.zeros_like(table[:1]))  # its map, not its bias
            return marking.add(linear(hidden), added)

        residual = hidden if marking is None else marking.add(hidden, marking.table)
        key, value = project(self.key), project(self.value)
        if read is None:
            query = rows.unpack(project(self.query))
        else:  # the queries of the positions read alone (the map of the marked sum is the sum of maps)
            residual = take(residual, read.places_in(rows))
            query = read.slots.unpack(self.query(residual))
            if bias.size(-2) > 1:  # a bias by query position (MPNet's)
                queries = read.queries()
                bias = bias.expand(len(queries), -1, -1, -1).gather(
                    2, queries[:, None, :, None].expand(-1, bias.size(1), -1, bias.size(-1))
                )
        if bias.dtype != torch.bool:  # an additive bias takes the dtype autocast gave the queries
            bias = bias.to(query.dtype)
        dropout = self.attention_dropout if self.training else 0.0
        key, value = split(rows.unpack(key)), split(rows.unpack(value))
        context = F.scaled_dot_product_attention(split(query), key, value, attn_mask=bias, dropout_p=dropout)
        context = (rows if read is None else read.slots).pack(context.transpose(1, 2).reshape(query.shape))
        return self.LayerNorm(residual + self.output_dropout(self.dense(context)))


class Block(nn.Module):
    """One transformer block: attention, then the feed-forward map with its residual and layer norm.

    As in ``transformers``' ALBERT, the feed-forward output has no dropout of its own."""

    def __init__(self, spec: EncoderSpec) -> None:
        super().__init__()
        self.attention = Attention(spec)
        self.ffn = nn.Linear(spec.hidden_size, spec.intermediate_size)
        self.ffn_output = nn.Linear(spec.intermediate_size, spec.hidden_size)
        self.full_layer_layer_norm = nn.LayerNorm(spec.hidden_size, eps=spec.layer_norm_eps)
        self.activation = ACTIVATIONS[spec.hidden_act]

    def forward(
        self,
        hidden: torch.Tensor,
        rows: Rows,
        bias: torch.Tensor,
        read: Read | None = None,
        marking: Marking | None = None,
    ) -> torch.Tensor:
        """Packed (N, H) → (N, H), or with ``read`` only the positions read: (N_read, H). Every
        subword is a key either way; where nothing reads the rest, their feed-forward work is left out.
        With ``marking`` the input is the windows', the output their marked unit rows' (``Attention``)."""
        attended = self.attention(hidden, rows, bias, read, marking)
        return self.full_layer_layer_norm(attended + self.ffn_output(self.activation(self.ffn(attended))))


class Group(nn.Module):
    """ALBERT's layer group: blocks run in turn, shared by the layers that use the group."""

    def __init__(self, spec: EncoderSpec) -> None:
        super().__init__()
        self.albert_layers = nn.ModuleList(Block(spec) for _ in range(spec.inner_group_num))


class Transformer(nn.Module):
    """The map from embeddings to hidden size, the block groups, and MPNet's relative-position bias."""

    def __init__(self, spec: EncoderSpec) -> None:
        super().__init__()
        self.embedding_hidden_mapping_in = nn.Linear(spec.embedding_size, spec.hidden_size)
        self.albert_layer_groups = nn.ModuleList(Group(spec) for _ in range(spec.num_hidden_groups))
        buckets = spec.relative_attention_num_buckets
        self.relative_attention_bias = nn.Embedding(buckets, spec.num_attention_heads) if buckets else None


class Encoder(nn.Module):
    """The ALBERT-form encoder: ``embed``, then ``run`` its layers, all at once or in parts.
    ``initialize=False`` leaves torch's quick default values where weights will replace them."""

    def __init__(self, spec: EncoderSpec, initialize: bool = True) -> None:
        super().__init__()
        if spec.hidden_act not in ACTIVATIONS:
            raise ValueError(f"hidden_act {spec.hidden_act!r}: allowed {', '.join(ACTIVATIONS)}")
        self.spec = spec
        self.embeddings = Embeddings(spec)
        self.encoder = Transformer(spec)
        if initialize:
            self.initialize()

    @property
    def num_layers(self) -> int:
        return self.spec.num_hidden_layers

    def layers(self) -> list[Group]:
        """The group each layer runs, in order (a group shared by several layers appears for each)."""
        groups = cast(list[Group], list(self.encoder.albert_layer_groups))
        per_group = self.spec.layers_per_group
        return [groups[int(i / per_group)] for i in range(self.num_layers)]

    def blocks(self, start: int = 0, stop: int | None = None) -> list[Block]:
        """The blocks that layers ``start`` to ``stop`` run, in order."""
        return [cast(Block, block) for group in self.layers()[start:stop] for block in group.albert_layers]

    def embed(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        added: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The first layer's input (R, S, H)."""
        return self.encoder.embedding_hidden_mapping_in(self.embeddings(input_ids, token_type_ids, added))

    def attention_bias(self, attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """What attention adds for ``attention_mask`` (R, S), 1 where a key may be attended to: a boolean
        mask (R, 1, 1, S), or with a relative-position bias that bias where allowed and the dtype's
        lowest value elsewhere (R, heads, S, S)."""
        allowed = attention_mask.bool()[:, None, None, :]
        table = self.encoder.relative_attention_bias
        if table is None:
            return allowed
        width = attention_mask.size(1)
        bucket = relative_position_bucket(
            width, table.num_embeddings, self.spec.relative_attention_max_distance, table.weight.device
        )
        bias = table(bucket).permute(2, 0, 1).unsqueeze(0).to(dtype)  # (1, heads, S, S)
        return bias.masked_fill(~allowed, torch.finfo(dtype).min)

    def run(
        self,
        hidden: torch.Tensor,
        attention_mask: torch.Tensor,
        start: int = 0,
        stop: int | None = None,
        mark: Mark | None = None,
        read: Read | None = None,
    ) -> torch.Tensor:
        """``hidden`` (R, S, H) through layers ``start`` to ``stop``, attending where ``attention_mask``
        (R, S) is 1: (R, S, H). With ``mark`` (late fusion's top layers) ``hidden`` and
        ``attention_mask`` are the windows', and the first block's input is the marked unit rows over
        them (U, S, H). ``read``: the last block computes only those positions, and the result is
        their states packed (N_read, H). The blocks run on the real subwords alone (``Rows``)."""
        windows = Rows(attention_mask)
        marking = None if mark is None else Marking(mark, windows)
        rows = windows if marking is None else marking.units
        states = windows.pack(hidden)
        blocks = self.blocks(start, stop)
        if not blocks:
            if marking is not None:
                states = marking.add(states, marking.table)
            return rows.unpack(states) if read is None else take(states, read.places_in(rows))
        bias = self.attention_bias(rows.mask, hidden.dtype)
        for i, block in enumerate(blocks):
            last = i == len(blocks) - 1
            states = block(states, rows, bias, read if last else None, marking if i == 0 else None)
        return rows.unpack(states) if read is None else states

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The whole encoder: (R, S) ids → (R, S, H) states."""
        return self.run(self.embed(input_ids, token_type_ids), attention_mask)

    @torch.no_grad()
    def initialize(self) -> None:
        """``transformers``' initialization: normal weights (``initializer_range``), zero biases and
        padding row, unit layer norms; loading weights replaces it."""
        std = self.spec.initializer_range
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                module.weight.normal_(0.0, std)
            if isinstance(module, nn.Linear) and module.bias is not None:
                module.bias.zero_()
            if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                module.weight[module.padding_idx].zero_()
            if isinstance(module, nn.LayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()


def take(states: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """The rows of ``states`` (N, D) at ``index`` (any shape): (*index.shape, D). By ``index_select``,
    which on a CPU copies rows several times faster than indexing does."""
    return states.index_select(0, index.reshape(-1)).view(*index.shape, states.size(-1))


def relative_position_bucket(
    width: int, buckets: int, max_distance: int, device: torch.device
) -> torch.Tensor:
    """MPNet's (and T5's bidirectional) bucket of each (query, key) distance: (S, S). Half the buckets
    a direction; within one, the nearest distances get a bucket each, farther ones share
    logarithmically wider buckets up to ``max_distance``."""
    positions = torch.arange(width, device=device)
    distance = positions[:, None] - positions[None, :]  # query - key: MPNet's n = -(key - query)
    half = buckets // 2
    bucket = (distance < 0).long() * half
    distance = distance.abs()
    exact = half // 2
    far = (
        exact + (torch.log(distance.float() / exact) / math.log(max_distance / exact) * (half - exact)).long()
    )
    return bucket + torch.where(distance < exact, distance, far.clamp(max=half - 1))
