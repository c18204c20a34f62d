"""The ALBERT-form encoder (``albert_srl.model.encoder``): every supported architecture loaded into it
gives its ``transformers`` class's output; the parts (lower layers, marked top layers, the last layer at
the positions read) give the whole; late fusion runs the lower layers once a sentence (calls counted)."""

from __future__ import annotations

from itertools import islice, permutations
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AlbertConfig, AlbertModel, AutoConfig, AutoModel

from albert_srl.errors import SRLFormatError
from albert_srl.model.albert_form import SUPPORTED, albert_spec, albert_state
from albert_srl.model.encoder import ACTIVATIONS, Encoder, Mark, Read
from albert_srl.model.encoding import Batch, EncodedSentence, Instance, collate
from albert_srl.model.network import Activation, Decoded, EncoderType, ModelConfig, SRLModel
from albert_srl.model.tokenizer import load_tokenizer
from albert_srl.tagging.tagger import SRLTagger

SIZES = {"vocab_size": 50, "hidden_size": 16, "num_attention_heads": 2, "intermediate_size": 32}


def reference_models() -> dict[str, Any]:
    """Tiny random ``transformers`` encoders of every supported architecture, biases randomised so that a
    bias applied twice or not at all shows."""
    torch.manual_seed(0)
    models = {
        "albert, one shared group": AlbertModel(
            AlbertConfig(embedding_size=8, num_hidden_layers=4, num_hidden_groups=1, **SIZES)
        ),
        "albert, two groups of two blocks": AlbertModel(
            AlbertConfig(
                embedding_size=8, num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2, **SIZES
            )
        ),
        "bert": AutoModel.from_config(AutoConfig.for_model("bert", num_hidden_layers=3, **SIZES)),
        "bert without a pooler": AutoModel.from_config(
            AutoConfig.for_model("bert", num_hidden_layers=3, **SIZES), add_pooling_layer=False
        ),
        "roberta": AutoModel.from_config(
            AutoConfig.for_model("roberta", num_hidden_layers=3, type_vocab_size=1, pad_token_id=1, **SIZES)
        ),
        "xlm-roberta": AutoModel.from_config(
            AutoConfig.for_model(
                "xlm-roberta", num_hidden_layers=2, type_vocab_size=1, pad_token_id=1, **SIZES
            )
        ),
        "electra": AutoModel.from_config(
            AutoConfig.for_model("electra", num_hidden_layers=3, embedding_size=8, **SIZES)
        ),
        "mpnet": AutoModel.from_config(
            AutoConfig.for_model("mpnet", num_hidden_layers=3, pad_token_id=1, **SIZES)
        ),
    }
    with torch.no_grad():
        for model in models.values():
            for name, parameter in model.named_parameters():
                if name.endswith("bias") or "relative_attention_bias" in name:
                    parameter.normal_(0, 0.5)
    return {name: model.eval() for name, model in models.items()}


def ours(reference: Any) -> Encoder:
    """``reference`` loaded into the ALBERT form, as ``encoder.pretrained`` loads a directory."""
    config = reference.config.to_dict()
    spec = albert_spec(config, "test")
    encoder = Encoder(spec)
    encoder.load_state_dict(albert_state(reference.state_dict(), config["model_type"], spec, "test"))
    return encoder.eval()


def inputs(pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two rows of random ids (no padding id among them), the second padded after 5 subwords."""
    ids = torch.randint(3, 50, (2, 9), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(2, 9, dtype=torch.long)
    mask[1, 5:] = 0
    return ids.masked_fill(~mask.bool(), pad), mask


@pytest.mark.parametrize("name", list(reference_models()))
def test_every_architecture_gives_its_transformers_output(name: str) -> None:
    reference = reference_models()[name]
    ids, mask = inputs(reference.config.pad_token_id)
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask).last_hidden_state
        got = ours(reference)(ids, mask)
    assert (got - expected)[mask.bool()].abs().max() < 1e-4


@pytest.mark.parametrize("name", ["albert, two groups of two blocks", "bert", "mpnet"])
def test_the_parts_and_the_positions_read_give_the_whole(name: str) -> None:
    """Lower layers then the top ones (unmarked) give the whole output; the last block run at some
    positions only gives the whole output there; marked rows over shared windows give what the marked
    sums give through the plain path, and a mark changes the output."""
    encoder = ours(reference_models()[name])
    ids, mask = inputs(encoder.spec.pad_token_id)
    read = torch.zeros_like(mask, dtype=torch.bool).scatter_(1, torch.tensor([[1, 2, 4], [0, 3, 4]]), True)
    width = encoder.spec.hidden_size
    table = torch.randn(3, width)  # row 0 too: training learns it (the unmarked subwords' vector)
    unmarked = Mark(torch.arange(2), torch.zeros_like(ids), torch.zeros_like(table))
    rows = torch.tensor([0, 0, 1])  # two rows over the first window, marked differently
    marks = Mark(
        rows, torch.randint(0, 3, (3, ids.size(1)), generator=torch.Generator().manual_seed(0)), table
    )
    with torch.no_grad():
        whole = encoder(ids, mask)
        lower = encoder.run(encoder.embed(ids), mask, 0, 1)
        parts = encoder.run(lower, mask, 1, mark=unmarked)
        at_read = encoder.run(lower, mask, 1, read=Read(read))  # packed: three positions a row
        marked = encoder.run(lower, mask, 1, mark=marks, read=Read(read[rows]))
        summed = encoder.run(lower[rows] + table[marks.ids], mask[rows], 1, read=Read(read[rows]))
    assert (parts - whole)[mask.bool()].abs().max() < 1e-5
    assert (at_read - whole[read]).abs().max() < 1e-5
    assert (marked - summed).abs().max() < 1e-4
    assert (marked[:6] - at_read[[0, 1, 2, 0, 1, 2]]).abs().max() > 1e-3


def test_the_blocks_do_no_work_at_padding() -> None:
    """The position-wise maps see the real subwords alone, and a padded row's states are those it has
    run alone, unpadded."""
    encoder = ours(reference_models()["bert"])
    ids, mask = inputs(encoder.spec.pad_token_id)  # the second row padded after 5 subwords
    rows_seen: list[int] = []
    encoder.blocks()[0].ffn.register_forward_hook(lambda _m, args, _o: rows_seen.append(len(args[0])))
    with torch.no_grad():
        both = encoder(ids, mask)
        alone = encoder(ids[1:, :5], mask[1:, :5])
    assert rows_seen == [int(mask.sum()), 5]
    assert (both[1, :5] - alone[0]).abs().max() < 1e-5


def test_albert_groups_are_shared_as_its_forward_shares_them() -> None:
    layers = ours(reference_models()["albert, two groups of two blocks"]).layers()
    assert layers[0] is layers[1] and layers[2] is layers[3] and layers[0] is not layers[2]


def test_the_declared_choices_are_what_loads() -> None:
    assert set(EncoderType.__args__) == set(SUPPORTED)  # type: ignore[attr-defined]
    assert set(Activation.__args__) == set(ACTIVATIONS)  # type: ignore[attr-defined]


def test_architecture_defaults_are_transformers_own() -> None:
    """A config.json written with only what differs from its class's defaults loads as the class would."""
    for kind in SUPPORTED:
        full = AutoConfig.for_model(kind).to_dict()
        assert albert_spec({"model_type": kind}, "test") == albert_spec(full, "test"), kind


def test_an_architecture_it_does_not_cover_is_one_error_naming_those_it_does() -> None:
    with pytest.raises(
        SRLFormatError, match="must be one of albert, bert, roberta, xlm-roberta, electra, mpnet"
    ):
        albert_spec({"model_type": "deberta-v2"}, "config.json")


def test_an_unknown_tensor_is_one_error_naming_it() -> None:
    reference = reference_models()["bert"]
    state = {**reference.state_dict(), "encoder.layer.0.crossattention.weight": torch.zeros(1)}
    spec = albert_spec(reference.config.to_dict(), "test")
    with pytest.raises(SRLFormatError, match="crossattention"):
        albert_state(state, "bert", spec, "model.safetensors")


def late_model(depth: int, fusion: int, vocab_size: int = SIZES["vocab_size"]) -> SRLModel:
    torch.manual_seed(0)
    encoder = {**SIZES, "vocab_size": vocab_size, "embedding_size": 8, "num_hidden_layers": depth}
    config = ModelConfig(
        labels=["O", "B-V", "I-V"],
        senses=["-"],
        fusion_layers=fusion,
        encoder={**encoder, "num_hidden_groups": depth},
    )
    return SRLModel(config)


class Ids:
    cls_token_id, sep_token_id, pad_token_id = 2, 3, 0


def test_inference_reads_the_same_word_states_as_training() -> None:
    """One path: training's word states (dropout off) are tagging's."""
    model = late_model(3, 2)
    model.dropout.p = 0.0
    with torch.no_grad():
        model.predicate_mark.weight[1].normal_()  # type: ignore[union-attr]
    words = ["w"] * 7
    units = [Instance(words, p) for p in (0, 3, 6)] + [Instance(words, None)]
    sentences = [
        EncodedSentence(words, [[10 + i] for i in range(7)], units),
        EncodedSentence(words[:4], [[20], [21, 22], [23], [24, 25, 26]], [Instance(words[:4], 1)]),
    ]
    batch = collate(sentences, Ids(), model.config, {"O": 0}, {"-": 0})  # type: ignore[arg-type]
    with torch.no_grad():
        training = model.train().word_states(batch)
        inference = model.eval().word_states(batch)
        whole = model.unit_states(batch)  # every position of every unit row
    assert inference.shape == training.shape == (5, 7, SIZES["hidden_size"])
    assert (inference - training)[batch.word_mask].abs().max() < 1e-6
    width = batch.attention_mask.size(1)
    flat = whole.reshape(-1, whole.size(-1))[(batch.word_row * width + batch.word_position).reshape(-1)]
    assert (flat.view_as(inference) - inference)[batch.word_mask].abs().max() < 1e-5


def test_late_fusion_runs_the_lower_layers_once_for_all_predicates_of_a_sentence() -> None:
    model = late_model(3, 1).eval()
    rows_seen: list[tuple[str, int]] = []
    blocks = model.encoder.blocks()
    for name, block in (("lower", blocks[0]), ("lower", blocks[1]), ("upper", blocks[2])):
        block.register_forward_hook(
            lambda _m, args, _o, name=name: rows_seen.append((name, len(args[1].mask)))
        )
    words = ["w"] * 6
    units = [Instance(words, p) for p in (0, 2, 4)] + [Instance(words, None)]
    sentence = EncodedSentence(words, [[10 + i] for i in range(6)], units)
    batch = collate([sentence], Ids(), model.config, {"O": 0}, {"-": 0})  # type: ignore[arg-type]
    decoded = model.decode(batch)
    # The two lower layers each ran once, on the sentence's one window; the top layer on its four units.
    assert rows_seen == [("lower", 1), ("lower", 1), ("upper", 4)]
    assert decoded.tags.shape == (4, 6)


def every_word_a_predicate(tokenizer: Any, depth: int) -> SRLModel:
    """A late-fusion model (the top layer per predicate) whose predicate head flags every word, so that
    end-to-end tagging always has argument work."""
    model = late_model(depth, 1, len(tokenizer)).eval()
    with torch.no_grad():
        model.predicate_head.bias.copy_(torch.tensor([-10.0, 10.0]))
    return model


def test_tagging_without_predicates_finds_and_tags_them_on_one_lower_pass(tiny_tokenizer_dir: Path) -> None:
    tokenizer = load_tokenizer(tiny_tokenizer_dir)
    model = every_word_a_predicate(tokenizer, 3)
    calls: list[tuple[str, int]] = []
    blocks = model.encoder.blocks()
    blocks[0].register_forward_hook(lambda _m, args, _o: calls.append(("lower", len(args[1].mask))))
    blocks[-1].register_forward_hook(lambda _m, args, _o: calls.append(("upper", len(args[1].mask))))
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
    model = every_word_a_predicate(tokenizer, 2)  # three predicates a sentence
    shapes: list[tuple[int, int]] = []  # (unit rows, subwords) of each batch the top layer runs on
    decode = model.decode

    def recording_decode(batch: Batch, lower: torch.Tensor | None = None) -> Decoded:
        shapes.append((len(batch.unit_row), batch.attention_mask.size(1)))
        return decode(batch, lower)

    model.decode = recording_decode  # type: ignore[method-assign]
    sentences = [
        list(words) for words in islice(permutations(["The", "board", "met", "She", "said", "so"], 3), 40)
    ]
    assert len({str(tokenizer.word_pieces([s])) for s in sentences}) == 40
    max_tokens = 120
    tagged = SRLTagger(model, tokenizer).tag(sentences, max_tokens=max_tokens)
    assert sum(len(s.frames) for s in tagged) == 120
    assert sum(rows for rows, _ in shapes) == 40 + 120  # each sentence once unmarked, once per predicate
    assert all(rows * width <= max_tokens for rows, width in shapes), shapes
