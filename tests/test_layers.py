"""The encoder run in parts (``albert_srl.inference.layers``) gives the whole encoder's output, for every
encoder type that runs in parts; and late fusion runs the lower layers once a sentence (calls counted)."""

from __future__ import annotations

from itertools import islice, permutations
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AlbertConfig, AlbertModel, AutoConfig, AutoModel

from albert_srl.inference import layers
from albert_srl.inference.encoding import Batch, EncodedSentence, Instance, collate
from albert_srl.inference.model import Decoded, ModelConfig, SRLModel
from albert_srl.inference.tagger import SRLTagger
from albert_srl.inference.tokenizer import load_tokenizer

SIZES = {"vocab_size": 50, "hidden_size": 16, "num_attention_heads": 2, "intermediate_size": 32}


def encoders() -> dict[str, Any]:
    torch.manual_seed(0)
    return {
        "albert, one shared group": AlbertModel(
            AlbertConfig(embedding_size=8, num_hidden_layers=4, num_hidden_groups=1, **SIZES)
        ),
        "albert, two groups": AlbertModel(
            AlbertConfig(embedding_size=8, num_hidden_layers=4, num_hidden_groups=2, **SIZES)
        ),
        "bert": AutoModel.from_config(AutoConfig.for_model("bert", num_hidden_layers=3, **SIZES)),
        "roberta": AutoModel.from_config(
            AutoConfig.for_model("roberta", num_hidden_layers=3, type_vocab_size=1, pad_token_id=1, **SIZES)
        ),
        "electra": AutoModel.from_config(
            AutoConfig.for_model("electra", num_hidden_layers=3, embedding_size=8, **SIZES)
        ),
    }


@pytest.mark.parametrize("name", list(encoders()))
def test_the_parts_together_give_the_whole_encoder(name: str) -> None:
    encoder = encoders()[name].eval()
    ids = torch.randint(3, 50, (2, 9), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(2, 9, dtype=torch.long)
    mask[1, 5:] = 0
    stack = layers.transformer_layers(encoder)
    assert len(stack) == encoder.config.num_hidden_layers
    with torch.no_grad():
        whole = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        lower = layers.run_layers(encoder, stack[:1], layers.embed(encoder, ids), mask)
        parts = layers.run_layers(encoder, stack[1:], lower, mask)
    assert (parts - whole)[mask.bool()].abs().max() < 1e-5


@pytest.mark.parametrize("top", [1, 2])
@pytest.mark.parametrize("name", list(encoders()))
def test_run_marked_gives_the_top_layers_own_output_where_it_is_read(name: str, top: int) -> None:
    """Inference's top layers (the first block's maps shared by a window's rows, the last block only at
    the positions read) against the layers' own forward on the marked rows."""
    encoder = encoders()[name].eval()
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for parameter_name, parameter in encoder.named_parameters():
            if parameter_name.endswith("bias"):  # initialised to 0: a bias added twice would not show
                parameter.normal_(std=0.5, generator=generator)
    ids = torch.randint(3, 50, (2, 9), generator=generator)
    mask = torch.ones(2, 9, dtype=torch.long)
    mask[1, 6:] = 0
    rows = torch.tensor([0, 0, 1, 1, 1])  # two rows read window 0, three window 1
    mark_ids = torch.zeros(5, 9, dtype=torch.long)
    for row, (start, end) in enumerate([(1, 2), (3, 5), (1, 2), (2, 3), (4, 6)]):
        mark_ids[row, start:end] = 1
    table = torch.randn(2, SIZES["hidden_size"], generator=generator)
    table[0] = 0  # the padding row
    queries = torch.tensor([[1, 2, 4, 7], [0, 3, 5, 8], [1, 2, 3, 5], [5, 4, 2, 1], [2, 3, 0, 4]])
    stack = layers.transformer_layers(encoder)
    with torch.no_grad():
        lower = layers.run_layers(encoder, stack[:-top], layers.embed(encoder, ids), mask)
        whole = layers.run_layers(encoder, stack[-top:], lower[rows] + table[mark_ids], mask[rows])
        marked = layers.run_marked(stack[-top:], lower, rows, mask, queries, (table, mark_ids))
        unmarked = layers.run_marked(stack[-top:], lower, rows, mask, queries)
        plain = layers.run_layers(encoder, stack[-top:], lower[rows], mask[rows])
    assert (marked - layers.at(whole, queries)).abs().max() < 1e-5
    assert (unmarked - layers.at(plain, queries)).abs().max() < 1e-5
    assert (marked - unmarked).abs().max() > 1e-3  # the marks reach the output


def test_inference_reads_the_same_word_states_as_training() -> None:
    """``word_states`` in eval mode (``run_marked``) gives the training path's states, dropout off."""
    torch.manual_seed(0)
    no_dropout = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    encoder = {**SIZES, "embedding_size": 8, "num_hidden_layers": 3, "num_hidden_groups": 3, **no_dropout}
    config = ModelConfig(
        labels=["O", "B-V", "I-V"], senses=["-"], fusion_layers=2, dropout=0.0, encoder=encoder
    )
    model = SRLModel(config)
    with torch.no_grad():
        model.predicate_mark.weight[1].normal_()  # type: ignore[union-attr]
    words = ["w"] * 7
    units = [Instance(words, p) for p in (0, 3, 6)] + [Instance(words, None)]
    sentences = [
        EncodedSentence(words, [[10 + i] for i in range(7)], units),
        EncodedSentence(words[:4], [[20], [21, 22], [23], [24, 25, 26]], [Instance(words[:4], 1)]),
    ]

    class Ids:
        cls_token_id, sep_token_id, pad_token_id = 2, 3, 0

    batch = collate(sentences, Ids(), model.config, {"O": 0}, {"-": 0})  # type: ignore[arg-type]
    with torch.no_grad():
        training = model.train().word_states(batch)
        inference = model.eval().word_states(batch)
    assert inference.shape == training.shape == (5, 7, SIZES["hidden_size"])
    assert (inference - training)[batch.word_mask].abs().max() < 1e-5


def test_albert_groups_are_shared_as_its_forward_shares_them() -> None:
    stack = layers.transformer_layers(encoders()["albert, two groups"])
    assert stack[0] is stack[1] and stack[2] is stack[3] and stack[0] is not stack[2]


def test_deberta_runs_whole_only() -> None:
    deberta = AutoModel.from_config(AutoConfig.for_model("deberta-v2", num_hidden_layers=2, **SIZES))
    config = ModelConfig(labels=["O", "B-V", "I-V"], senses=["-"], fusion_layers=1)
    with pytest.raises(ValueError, match="runs whole"):
        SRLModel(config, encoder=deberta)


def test_late_fusion_runs_the_lower_layers_once_for_all_predicates_of_a_sentence() -> None:
    torch.manual_seed(0)
    config = ModelConfig(
        labels=["O", "B-V", "I-V"],
        senses=["-"],
        fusion_layers=1,
        encoder={**SIZES, "embedding_size": 8, "num_hidden_layers": 3, "num_hidden_groups": 3},
    )
    model = SRLModel(config).eval()
    rows_seen: list[tuple[str, int]] = []
    feed_forward = layers.blocks(model.upper[0])[0].intermediate  # the top layer's, once a unit row
    for name, layer in (("lower", model.lower[0]), ("lower", model.lower[1]), ("upper", feed_forward)):
        layer.register_forward_hook(
            lambda _m, args, _o, name=name: rows_seen.append((name, args[0].shape[0]))
        )
    words = ["w"] * 6
    units = [Instance(words, p) for p in (0, 2, 4)] + [Instance(words, None)]
    sentence = EncodedSentence(words, [[10 + i] for i in range(6)], units)

    class Ids:
        cls_token_id, sep_token_id, pad_token_id = 2, 3, 0

    batch = collate([sentence], Ids(), model.config, {"O": 0}, {"-": 0})  # type: ignore[arg-type]
    decoded = model.decode(batch)
    # The two lower layers each ran once, on the sentence's one window; the top layer on its four units.
    assert rows_seen == [("lower", 1), ("lower", 1), ("upper", 4)]
    assert decoded.tags.shape == (4, 6)


def every_word_a_predicate(tokenizer: Any, depth: int, labels: list[str]) -> SRLModel:
    """A late-fusion model (the top layer per predicate, one layer group per layer) whose predicate head
    flags every word, so that end-to-end tagging always has argument work."""
    torch.manual_seed(0)
    encoder = {
        **SIZES,
        "vocab_size": len(tokenizer),
        "embedding_size": 8,
        "num_hidden_layers": depth,
        "num_hidden_groups": depth,
    }
    config = ModelConfig(labels=labels, senses=["-"], fusion_layers=1, encoder=encoder)
    model = SRLModel(config).eval()
    with torch.no_grad():
        model.predicate_head.bias.copy_(torch.tensor([-10.0, 10.0]))
    return model


def test_tagging_without_predicates_finds_and_tags_them_on_one_lower_pass(tiny_tokenizer_dir: Path) -> None:
    tokenizer = load_tokenizer(tiny_tokenizer_dir)
    model = every_word_a_predicate(tokenizer, 3, ["O", "B-V", "I-V", "B-ARG0", "I-ARG0"])
    calls: list[tuple[str, int]] = []
    model.lower[0].register_forward_hook(lambda _m, args, _o: calls.append(("lower", args[0].shape[0])))
    feed_forward = layers.blocks(model.upper[0])[0].intermediate
    feed_forward.register_forward_hook(lambda _m, args, _o: calls.append(("upper", args[0].shape[0])))
    sentences = [["The", "board", "met", "."], ["She", "said", "so", "."], ["Thanks", "!"]]
    tagged = SRLTagger(model, tokenizer).tag(sentences)
    assert [len(s.frames) for s in tagged] == [4, 4, 2]
    # One lower pass for the three sentences; the top layer once unmarked (finding), once per predicate.
    assert calls == [("lower", 3), ("upper", 3), ("upper", 10)]


def test_end_to_end_tagging_batches_stay_within_max_tokens(tiny_tokenizer_dir: Path) -> None:
    """The sentences of a finding batch come back with a unit row per predicate at the same width: the
    finding batch is budgeted for them (``ROWS_PER_FOUND_SENTENCE``), so with three predicates a sentence
    no batch the top layer runs on exceeds ``max_tokens`` padded subwords."""
    tokenizer = load_tokenizer(tiny_tokenizer_dir)
    model = every_word_a_predicate(tokenizer, 2, ["O", "B-V", "I-V"])  # three predicates a sentence
    shapes: list[tuple[int, int]] = []  # (unit rows, subwords) of each batch the top layer runs on
    decode = model.decode

    def recording_decode(batch: Batch, lower: torch.Tensor | None = None) -> Decoded:
        shapes.append((len(batch.unit_row), batch.attention_mask.size(1)))
        return decode(batch, lower)

    model.decode = recording_decode  # type: ignore[method-assign]
    sentences = [
        list(words) for words in islice(permutations(["The", "board", "met", "She", "said", "so"], 3), 40)
    ]
    assert len({tuple(tokenizer(s, is_split_into_words=True).input_ids) for s in sentences}) == 40
    max_tokens = 120
    tagged = SRLTagger(model, tokenizer).tag(sentences, max_tokens=max_tokens)
    assert sum(len(s.frames) for s in tagged) == 120
    assert sum(rows for rows, _ in shapes) == 40 + 120  # each sentence once unmarked, once per predicate
    assert all(rows * width <= max_tokens for rows, width in shapes), shapes
