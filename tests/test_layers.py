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
from albert_srl.inference.encoding import EncodedSentence, Instance, collate
from albert_srl.inference.model import ModelConfig, SRLModel
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
    for name, layer in (("lower", model.lower[0]), ("lower", model.lower[1]), ("upper", model.upper[0])):
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
    model.upper[0].register_forward_hook(lambda _m, args, _o: calls.append(("upper", args[0].shape[0])))
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
    shapes: list[tuple[int, int]] = []
    model.upper[0].register_forward_hook(lambda _m, args, _o: shapes.append(tuple(args[0].shape[:2])))
    sentences = [
        list(words) for words in islice(permutations(["The", "board", "met", "She", "said", "so"], 3), 40)
    ]
    assert len({tuple(tokenizer(s, is_split_into_words=True).input_ids) for s in sentences}) == 40
    max_tokens = 120
    tagged = SRLTagger(model, tokenizer).tag(sentences, max_tokens=max_tokens)
    assert sum(len(s.frames) for s in tagged) == 120
    assert sum(rows for rows, _ in shapes) == 40 + 120  # each sentence once unmarked, once per predicate
    assert all(rows * width <= max_tokens for rows, width in shapes), shapes
