"""The network: a tiny ALBERT learns the sample sentences (arguments, senses, predicates) in every
predicate-awareness mode and with either head; constrained decoding never breaks the BIO rules."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import TRAINED_STEPS, TinyTaggerFactory, tiny_model_config
from safetensors.torch import load_file
from torch.nn import functional as F
from transformers import AlbertConfig, AlbertModel

from albert_srl.data import Sentence
from albert_srl.model.encoder import ACTIVATIONS, tanh_gelu
from albert_srl.model.encoder_dir import encoder_from_pretrained
from albert_srl.model.encoding import Instance, collate, instances_from_sentences
from albert_srl.model.encoding import encode as tokenize_once
from albert_srl.model.network import ModelConfig, SRLModel, fresh_encoder
from albert_srl.model.tokenizer import load_tokenizer
from albert_srl.scorer import score
from albert_srl.tagging.tagger import SRLTagger

DEFAULT = ("segment", "crf")
OTHER_MODES = [
    (awareness, head)
    for awareness in ("segment", "pair", "indicator")
    for head in ("crf", "softmax")
    if (awareness, head) != DEFAULT
]


def gold_predicates(sentences: list[Sentence]) -> list[list[int]]:
    return [[frame.predicate.index for frame in sentence.frames] for sentence in sentences]


def encode(tagger: SRLTagger, instances: list[Instance]) -> Any:
    labels = {label: i for i, label in enumerate(tagger.config.labels)}
    senses = {sense: i for i, sense in enumerate(tagger.config.senses)}
    return collate(
        tokenize_once(tagger.tokenizer, instances), tagger.tokenizer, tagger.config, labels, senses
    )


def test_default_model_learns_the_tiny_sentences_to_100_f1(
    trained_tiny_tagger: SRLTagger, tiny_sentences: list[Sentence]
) -> None:
    assert (trained_tiny_tagger.config.predicate_awareness, trained_tiny_tagger.config.head) == DEFAULT
    tagged = trained_tiny_tagger.tag(tiny_sentences, predicates=gold_predicates(tiny_sentences))
    result = score(tiny_sentences, tagged)
    assert result.overall.correct > 0 and result.overall.f1 == 100.0
    assert result.perfect == result.propositions == sum(len(s.frames) for s in tiny_sentences)
    senses = [[f.predicate.sense for f in s.frames] for s in tagged]
    assert senses == [[f.predicate.sense for f in s.frames] for s in tiny_sentences]


def test_untrained_model_does_not_know_the_tiny_sentences(
    make_tiny_tagger: TinyTaggerFactory, tiny_sentences: list[Sentence]
) -> None:
    """The 100 F1 above is learned: the same model before training scores far lower."""
    tagger, _ = make_tiny_tagger()
    tagged = tagger.tag(tiny_sentences, predicates=gold_predicates(tiny_sentences))
    assert score(tiny_sentences, tagged).overall.f1 < 50.0


def test_predicate_head_learns_the_predicates(
    trained_tiny_tagger: SRLTagger, tiny_sentences: list[Sentence]
) -> None:
    instances = [Instance(sentence.words, None) for sentence in tiny_sentences]
    decoded = trained_tiny_tagger.model.decode(encode(trained_tiny_tagger, instances))
    for row, sentence in enumerate(tiny_sentences):
        flags = decoded.predicate_flags[row, : len(sentence.words)]
        assert flags.nonzero().squeeze(1).tolist() == gold_predicates([sentence])[0]
    assert not decoded.tags.any()  # identification rows carry no argument tags


@pytest.mark.parametrize(("awareness", "head"), OTHER_MODES)
def test_other_modes_learn_the_tiny_sentences_to_100_f1(
    make_tiny_tagger: TinyTaggerFactory, tiny_sentences: list[Sentence], awareness: str, head: str
) -> None:
    tagger, losses = make_tiny_tagger(steps=TRAINED_STEPS, predicate_awareness=awareness, head=head)
    assert (tagger.config.predicate_awareness, tagger.config.head) == (awareness, head)
    assert (tagger.model.indicator is not None) == (awareness == "indicator")
    assert (tagger.model.crf is not None) == (head == "crf")
    assert losses[-1] < losses[0] / 20
    tagged = tagger.tag(tiny_sentences, predicates=gold_predicates(tiny_sentences))
    assert score(tiny_sentences, tagged).overall.f1 == 100.0


def is_valid_bio(tags: list[str], predicate: int) -> bool:
    """The BIO and predicate rules, written out independently of the CRF."""
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and (i == 0 or tags[i - 1] not in (f"B-{tag[2:]}", tag)):
            return False
    return tags[predicate] == "B-V" and tags.count("B-V") == 1


@pytest.mark.parametrize("seed", range(4))
def test_constrained_decoding_never_emits_invalid_bio(
    make_tiny_tagger: TinyTaggerFactory, tiny_sentences: list[Sentence], seed: int
) -> None:
    tagger, _ = make_tiny_tagger(seed=seed)
    with torch.no_grad():  # wild emissions and transitions, so the constraints have work to do
        tagger.model.argument_head.weight.normal_(0.0, 5.0)
        tagger.model.argument_head.bias.normal_(0.0, 5.0)
        tagger.model.crf.transitions.normal_(0.0, 5.0)
        tagger.model.crf.start_transitions.normal_(0.0, 5.0)
    generator = torch.Generator().manual_seed(seed)
    words = [w for s in tiny_sentences for w in s.words]
    instances = []
    for length in (1, 2, 5, 9, 17, 30):
        picks = torch.randint(len(words), (length,), generator=generator).tolist()
        predicate = int(torch.randint(length, (1,), generator=generator))
        instances.append(Instance([words[i] for i in picks], predicate))
    decoded = tagger.model.decode(encode(tagger, instances))
    labels = tagger.config.labels
    for row, instance in enumerate(instances):
        tags = [labels[t] for t in decoded.tags[row, : len(instance.words)].tolist()]
        assert is_valid_bio(tags, instance.predicate), tags
    assert not decoded.tags[~encode(tagger, instances).word_mask].any()


def test_losses_are_reported_only_for_the_instances_in_the_batch(
    make_tiny_tagger: TinyTaggerFactory, tiny_sentences: list[Sentence]
) -> None:
    tagger, _ = make_tiny_tagger()
    instances = instances_from_sentences(tiny_sentences)
    identification = [i for i in instances if i.predicate is None]
    arguments = [i for i in instances if i.predicate is not None]
    only_predicates = tagger.model(encode(tagger, identification))
    assert only_predicates.argument_loss is None and only_predicates.sense_loss is None
    assert torch.equal(only_predicates.loss, only_predicates.predicate_loss)
    only_arguments = tagger.model(encode(tagger, arguments))
    assert only_arguments.predicate_loss is None
    assert torch.isfinite(only_arguments.loss) and only_arguments.argument_loss > 0


@pytest.mark.parametrize("choice", [{"predicate_awareness": "position"}, {"head": "mlp"}])
def test_config_rejects_unknown_choices(choice: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=next(iter(choice.values()))):
        ModelConfig(labels=["O", "B-V", "I-V"], senses=["-"], **choice)


def test_config_round_trips_through_json(
    tiny_sentences: list[Sentence], tiny_encoder_config: dict[str, Any]
) -> None:
    choices = {"predicate_awareness": "pair", "head": "softmax", "max_length": 64}
    config = tiny_model_config(tiny_sentences, tiny_encoder_config, **choices)
    assert ModelConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_window_never_exceeds_the_encoders_positions(
    tiny_sentences: list[Sentence], tiny_encoder_config: dict[str, Any]
) -> None:
    config = tiny_model_config(tiny_sentences, tiny_encoder_config, max_length=1000, stride=900)
    model = SRLModel(config)
    assert model.config.max_length == tiny_encoder_config["max_position_embeddings"]
    assert model.config.stride < model.config.max_length


@pytest.mark.parametrize("head", ["crf", "softmax"])
def test_losses_are_means_over_instances(
    make_tiny_tagger: TinyTaggerFactory, tiny_sentences: list[Sentence], head: str
) -> None:
    tagger, _ = make_tiny_tagger(head=head)
    instances = instances_from_sentences(tiny_sentences[:2])
    once, twice = (tagger.model(encode(tagger, instances * n)) for n in (1, 2))
    for name in ("loss", "argument_loss", "sense_loss", "predicate_loss"):
        torch.testing.assert_close(getattr(twice, name), getattr(once, name))


@pytest.mark.parametrize("awareness", ["segment", "pair", "indicator"])
def test_padding_does_not_change_a_sentences_states(
    make_tiny_tagger: TinyTaggerFactory, tiny_sentences: list[Sentence], awareness: str
) -> None:
    tagger, _ = make_tiny_tagger(predicate_awareness=awareness)
    short, long = Instance(["Thanks", "!"], 0), Instance(tiny_sentences[1].words, 5)
    alone = tagger.model.word_states(encode(tagger, [short]))[0]
    padded = tagger.model.word_states(encode(tagger, [long, short]))[1, : len(short.words)]
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("awareness", ["segment", "pair", "indicator"])
def test_the_marked_predicate_changes_the_word_states(
    make_tiny_tagger: TinyTaggerFactory, tiny_sentences: list[Sentence], awareness: str
) -> None:
    tagger, _ = make_tiny_tagger(predicate_awareness=awareness)
    words = tiny_sentences[0].words
    states = tagger.model.word_states(encode(tagger, [Instance(words, 2), Instance(words, 5)]))
    # Word 0 is neither predicate: only the marking tells the two rows apart.
    assert not torch.allclose(states[0, 0], states[1, 0], atol=1e-4)


def test_a_pretrained_encoder_is_used_and_reloads_exactly(
    tiny_sentences: list[Sentence],
    tiny_encoder_config: dict[str, Any],
    tiny_tokenizer_dir: Path,
    tmp_path: Path,
) -> None:
    torch.manual_seed(1)
    # Saved with its [CLS] pooler, as albert-base-v2 is.
    AlbertModel(AlbertConfig(**tiny_encoder_config)).save_pretrained(tmp_path / "encoder")
    checkpoint = load_file(tmp_path / "encoder" / "model.safetensors")
    encoder = encoder_from_pretrained(str(tmp_path / "encoder"))
    model = SRLModel(tiny_model_config(tiny_sentences, {}), encoder)
    assert model.config.encoder["hidden_size"] == tiny_encoder_config["hidden_size"]
    weights = model.encoder.state_dict()
    assert all(torch.equal(weights[name], checkpoint[name]) for name in weights)
    # A model fine-tuned from a checkpoint reloads into the encoder ``from_pretrained`` builds afresh.
    SRLTagger(model.eval(), load_tokenizer(tiny_tokenizer_dir)).save_pretrained(tmp_path / "srl")
    loaded = SRLTagger.from_pretrained(tmp_path / "srl").model.state_dict()
    assert loaded.keys() == model.state_dict().keys()
    assert all(torch.equal(tensor, model.state_dict()[name]) for name, tensor in loaded.items())


def test_encoders_compute_albert_gelu_with_the_fused_kernel(
    tiny_encoder_config: dict[str, Any], tmp_path: Path
) -> None:
    torch.manual_seed(2)
    original = AlbertModel(AlbertConfig(**tiny_encoder_config), add_pooling_layer=False).eval()
    assert original.config.hidden_act == "gelu_new"  # ALBERT's default, as in albert-base-v2
    original.save_pretrained(tmp_path / "encoder")
    loaded = encoder_from_pretrained(str(tmp_path / "encoder")).eval()
    fresh = fresh_encoder(dict(tiny_encoder_config))
    assert loaded.spec.hidden_act == fresh.spec.hidden_act == "gelu_new"
    assert ACTIVATIONS["gelu_new"] is tanh_gelu  # one fused kernel
    ids = torch.randint(5, tiny_encoder_config["vocab_size"], (3, 9))
    with torch.no_grad():
        expected, got = original(ids).last_hidden_state, loaded(ids, torch.ones_like(ids))
    assert torch.allclose(expected, got, atol=1e-5)  # the same function, computed differently


def test_the_syntax_head_learns_gold_pos_and_is_off_by_default(
    make_tiny_tagger: TinyTaggerFactory, tiny_sentences: list[Sentence]
) -> None:
    plain, _ = make_tiny_tagger()
    assert plain.model.pos_head is None and not plain.config.syntax_head

    tagged = [Sentence(s.words, s.frames, pos=["NNP" if w[0].isupper() else "VBD" for w in s.words])
              for s in tiny_sentences]  # fmt: skip
    tagger, _ = make_tiny_tagger(syntax_head=True)
    model = tagger.model.train()
    batch = encode(tagger, instances_from_sentences(tagged))
    assert (batch.pos >= 0).any()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        output = model(batch)
        losses.append(output.pos_loss.item())
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
    assert losses[-1] < 0.5 * losses[0]

    no_column = [Sentence(s.words, s.frames) for s in tiny_sentences]
    without_pos = model(encode(tagger, instances_from_sentences(no_column)))
    assert without_pos.pos_loss is None  # sentences with no POS column add no syntax loss


def test_words_the_syntax_head_tags_outside_predicate_pos_are_never_predicates(
    make_tiny_tagger: TinyTaggerFactory, tiny_sentences: list[Sentence]
) -> None:
    tagged = [Sentence(s.words, s.frames, pos=["NNP" if w[0].isupper() else "VBD" for w in s.words])
              for s in tiny_sentences]  # fmt: skip
    tagger, _ = make_tiny_tagger(syntax_head=True, predicate_pos=["NNP"])  # predicates here are all VBD
    model = tagger.model.train()
    batch = encode(tagger, instances_from_sentences(tagged))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        optimizer.zero_grad()
        model(batch).loss.backward()
        optimizer.step()
    model.eval()
    sentence_rows = encode(tagger, [Instance(s.words, None) for s in tagged])
    model.config.predicate_pos = []  # the mask off: the predicate head alone finds the verbs
    assert model.decode(sentence_rows).predicate_flags.sum() > 0
    model.config.predicate_pos = ["NNP"]
    assert model.decode(sentence_rows).predicate_flags.sum() == 0


def losses_before_weights(model: SRLModel, batch: Any) -> dict[str, torch.Tensor]:
    """The losses as ``SRLModel.forward`` computed them before instances had weights (e8054d4)."""
    states = model.word_states(batch)
    is_argument = batch.predicate >= 0
    rows = is_argument.nonzero().squeeze(1)
    tags, mask, predicate = batch.tags[rows], batch.word_mask[rows], batch.predicate[rows]
    arg_states = model.argument_states(states[rows], predicate)
    emissions = model.argument_head(arg_states).float()
    if model.crf is not None:
        likelihood = model.crf(emissions, tags.clamp(min=0), mask, predicate_index=predicate, reduction="sum")
        argument = -likelihood / len(rows)
    else:
        argument = F.cross_entropy(emissions[mask], tags[mask], ignore_index=-100)
    at_predicate = arg_states[torch.arange(len(rows)), predicate]
    sense = F.cross_entropy(model.sense_head(at_predicate).float(), batch.senses[rows], ignore_index=-100)
    rows = (~is_argument).nonzero().squeeze(1)
    mask = batch.word_mask[rows]
    logits = model.predicate_head(states[rows]).float()
    found = F.cross_entropy(logits[mask], batch.predicate_flags[rows][mask], ignore_index=-100)
    return {"argument_loss": argument, "sense_loss": sense, "predicate_loss": found}


def with_weight(instances: list[Instance], weight: float) -> list[Instance]:
    return [replace(instance, weight=weight) for instance in instances]


@pytest.mark.parametrize("head", ["crf", "softmax"])
def test_instances_of_weight_1_have_exactly_the_losses_of_unweighted_training(
    make_tiny_tagger: TinyTaggerFactory, tiny_sentences: list[Sentence], head: str
) -> None:
    tagger, _ = make_tiny_tagger(steps=5, head=head)
    instances = instances_from_sentences(tiny_sentences * 8)  # enough rows for sums to differ in order
    batch = encode(tagger, instances)
    assert batch.weight is None  # all of weight 1: the unweighted losses, to the bit
    output, before = tagger.model(batch), losses_before_weights(tagger.model, batch)
    for name, loss in before.items():
        assert torch.equal(getattr(output, name), loss), name
    weighted = replace(batch, weight=torch.ones(len(instances)))  # the weighted mean of ones: the mean
    for name, loss in before.items():
        torch.testing.assert_close(getattr(tagger.model(weighted), name), loss)


def gradients(model: SRLModel, batch: Any) -> dict[str, torch.Tensor]:
    model.zero_grad()
    model(batch).loss.backward()
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("head", ["crf", "softmax"])
def test_silver_of_weight_0_leaves_the_gold_gradients(
    make_tiny_tagger: TinyTaggerFactory, tiny_sentences: list[Sentence], head: str
) -> None:
    tagger, _ = make_tiny_tagger(steps=5, head=head)
    gold = instances_from_sentences(tiny_sentences[:2])
    silver = instances_from_sentences(tiny_sentences[2:])
    alone = gradients(tagger.model, encode(tagger, gold))
    beside = gradients(tagger.model, encode(tagger, gold + with_weight(silver, 0.0)))
    counted = gradients(tagger.model, encode(tagger, gold + silver))
    assert alone.keys() == beside.keys()
    for name, gradient in alone.items():
        torch.testing.assert_close(beside[name], gradient, atol=1e-6, rtol=1e-4)
    assert any(not torch.allclose(counted[name], gradient, atol=1e-4) for name, gradient in alone.items())
    only_silver = tagger.model(encode(tagger, with_weight(silver, 0.0)))
    assert only_silver.loss.item() == 0.0  # a batch of weight-0 silver alone teaches nothing


def test_a_weight_of_2_counts_as_two_copies(
    make_tiny_tagger: TinyTaggerFactory, tiny_sentences: list[Sentence]
):
    tagger, _ = make_tiny_tagger(steps=5)
    first, rest = tiny_sentences[0], tiny_sentences[1:]
    twice = tagger.model(encode(tagger, instances_from_sentences([first, first, *rest])))
    weighted = instances_from_sentences([first], weight=2.0) + instances_from_sentences(rest)
    double = tagger.model(encode(tagger, weighted))
    for name in ("loss", "argument_loss", "sense_loss", "predicate_loss"):
        torch.testing.assert_close(getattr(double, name), getattr(twice, name))
