"""The network: a tiny ALBERT learns the sample sentences (arguments, senses, predicates) in every
predicate-awareness mode and with either head; constrained decoding never breaks the BIO rules."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from conftest import TinyTaggerFactory

from albert_srl.data import Sentence
from albert_srl.encoding import Instance, collate, instances_from_sentences
from albert_srl.model import ModelConfig
from albert_srl.scorer import score
from albert_srl.tagger import SRLTagger

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
    return collate(instances, tagger.tokenizer, tagger.config, labels, senses)


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
def test_other_modes_train(
    make_tiny_tagger: TinyTaggerFactory, tiny_sentences: list[Sentence], awareness: str, head: str
) -> None:
    tagger, losses = make_tiny_tagger(steps=60, predicate_awareness=awareness, head=head)
    assert (tagger.config.predicate_awareness, tagger.config.head) == (awareness, head)
    assert (tagger.model.indicator is not None) == (awareness == "indicator")
    assert (tagger.model.crf is not None) == (head == "crf")
    assert losses[-1] < losses[0] / 4
    tagged = tagger.tag(tiny_sentences, predicates=gold_predicates(tiny_sentences))
    assert score(tiny_sentences, tagged).overall.f1 > 50.0


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
