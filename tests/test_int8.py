"""int8 on the CPU (``albert_srl.tagging.quantize``, measured by ``benchmarks/int8.py``; the tagger's and
the command line's ``int8`` option): the encoder's linear layers but the embedding mapping become dynamic
int8 layers, the heads stay float, and a tiny tagger tags its sentences as it does in float, with early and
late fusion."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

import pytest
import torch
from conftest import TinyTaggerFactory, tiny_model_config
from torch import nn

from albert_srl.data import Sentence
from albert_srl.model.network import SRLModel
from albert_srl.tagging.quantize import FullRangeLinear, has_vnni, is_quantized, quantizable, quantize_int8
from albert_srl.tagging.tagger import SRLTagger

HEADS = ("argument_head", "sense_head", "predicate_head", "pos_head", "pair.0")


def frames_of(sentences: list[Sentence]) -> list[list[tuple[int, list[str] | None, str | None]]]:
    return [
        [(f.predicate.index, f.tags(len(s.words)), f.predicate.sense) for f in s.frames] for s in sentences
    ]


def gold_predicates(sentences: list[Sentence]) -> list[list[int]]:
    return [[f.predicate.index for f in s.frames] for s in sentences]


def linear_names(model: nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]


@pytest.fixture(scope="module")
def late_tagger(make_tiny_tagger: TinyTaggerFactory) -> SRLTagger:
    """Late fusion (the shipped architecture's kind): the top layer per predicate, with the pos head."""
    tagger, _ = make_tiny_tagger(steps=150, fusion_layers=1, syntax_head=True)
    return tagger


@pytest.mark.parametrize("kind", ["early", "late"])
def test_int8_tags_the_tiny_sentences_as_float_does(
    kind: str, trained_tiny_tagger: SRLTagger, late_tagger: SRLTagger, tiny_sentences: list[Sentence]
) -> None:
    float_tagger = trained_tiny_tagger if kind == "early" else late_tagger
    predicates = gold_predicates(tiny_sentences)
    expected = float_tagger.tag(tiny_sentences, predicates)
    assert frames_of(expected) == frames_of(
        tiny_sentences
    )  # float knows them: the comparison means something
    int8 = SRLTagger(copy.deepcopy(float_tagger.model), float_tagger.tokenizer, int8=True)
    assert frames_of(int8.tag(tiny_sentences, predicates)) == frames_of(expected)
    words = [s.words for s in tiny_sentences]
    assert frames_of(int8.tag(words)) == frames_of(float_tagger.tag(words))  # predicates found alike


def test_the_encoder_linear_layers_are_int8_and_the_heads_float(late_tagger: SRLTagger) -> None:
    model = copy.deepcopy(late_tagger.model)
    encoder_linear = [n for n in linear_names(model) if n.startswith("encoder.")]
    names = quantize_int8(model)
    mapping = "encoder.encoder.embedding_hidden_mapping_in"
    assert sorted(names) == sorted(set(encoder_linear) - {mapping}) and len(names) == 6  # one layer's six
    modules = dict(model.named_modules())
    assert all(is_quantized(modules[name]) for name in names)
    heads = [name for name in HEADS if name in modules]
    assert "pos_head" in heads
    assert all(type(modules[name]) is nn.Linear for name in heads)
    # The layer lists late fusion runs hold the same, now quantized, modules.
    assert all(is_quantized(block.ffn) for block in model.encoder.blocks())
    assert type(model.encoder.encoder.embedding_hidden_mapping_in) is nn.Linear  # kept float: it costs less


def test_layers_kept_float_by_name_and_from_the_top(
    tiny_sentences: list[Sentence], tiny_encoder_config: dict[str, Any]
) -> None:
    """Two layers of their own (``num_hidden_groups`` 2, as converted encoders have): the top one and
    the embedding mapping stay float, the lower layer is quantized."""
    config = tiny_model_config(tiny_sentences, {**tiny_encoder_config, "num_hidden_groups": 2})
    model = SRLModel(config).eval()
    top = model.encoder.layers()[-1]
    top_linear = {id(m) for m in top.modules() if isinstance(m, nn.Linear)}
    kept = quantizable(model, keep_float=("embedding_hidden_mapping_in",), keep_top=1)
    modules = dict(model.named_modules())
    assert kept and all(id(modules[name]) not in top_linear for name in kept)
    assert not any(name.endswith("embedding_hidden_mapping_in") for name in kept)
    encoder_linear = [n for n in linear_names(model) if n.startswith("encoder.")]
    assert len(top_linear) == 6 and len(kept) == len(encoder_linear) - 1 - 6
    quantize_int8(model, kept)
    lower, top = model.encoder.layers()
    assert sum(map(is_quantized, lower.modules())) == 6 and not any(map(is_quantized, top.modules()))
    assert sum(type(m) is nn.Linear for m in top.modules()) == 6


def test_with_late_fusion_only_the_per_predicate_layers_are_quantized(
    tiny_sentences: list[Sentence], tiny_encoder_config: dict[str, Any]
) -> None:
    """Three layers of their own, the top one run per predicate: its six linear layers are int8; the
    lower two, run once a sentence, and the embedding mapping stay float (``lower_float=False``: all)."""
    encoder = {**tiny_encoder_config, "num_hidden_layers": 3, "num_hidden_groups": 3}
    model = SRLModel(tiny_model_config(tiny_sentences, encoder, fusion_layers=1)).eval()
    everything = quantizable(model, lower_float=False)
    assert len(everything) == 3 * 6
    quantize_int8(model)
    (top,) = model.upper
    assert sum(map(is_quantized, top.modules())) == 6
    assert not any(is_quantized(m) for block in model.encoder.blocks(0, model.split) for m in block.modules())
    assert type(model.encoder.encoder.embedding_hidden_mapping_in) is nn.Linear


@pytest.mark.skipif(not has_vnni(), reason="8-bit inputs overflow 16-bit sums on a CPU without AVX-512 VNNI")
def test_full_range_layers_are_closer_to_float_than_torchs_7_bit_inputs() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 256)).eval()
    x = torch.randn(8, 16, 64) * 3
    expected = model(x)
    errors = {}
    for full_range in (False, True):
        quantized = copy.deepcopy(model)
        quantize_int8(quantized, ["0"], full_range=full_range)
        assert isinstance(quantized[0], FullRangeLinear) == full_range and is_quantized(quantized[0])
        errors[full_range] = (quantized(x) - expected).pow(2).mean().item()
    assert errors[True] < errors[False] / 2


def test_quantizing_a_model_off_the_cpu_is_refused() -> None:
    model = nn.Sequential(nn.Linear(4, 4)).to("meta")
    with pytest.raises(ValueError, match="CPU"):
        quantize_int8(model, ["0"])


def test_without_vnni_inputs_are_7_bit_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from albert_srl.tagging import quantize

    for vnni in (True, False):
        monkeypatch.setattr(quantize, "has_vnni", lambda vnni=vnni: vnni)
        model = nn.Sequential(nn.Linear(8, 8)).eval()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="albert_srl.tagging.quantize"):
            quantize_int8(model, ["0"])
        assert isinstance(model[0], FullRangeLinear) == vnni and is_quantized(model[0])
        assert ("no AVX-512 VNNI" in caplog.text) == (not vnni)


def test_an_int8_tagger_is_never_saved_nor_combined_with_bf16(late_tagger: SRLTagger, tmp_path) -> None:
    tagger = SRLTagger(copy.deepcopy(late_tagger.model), late_tagger.tokenizer, int8=True)
    with pytest.raises(ValueError, match="not saved"):
        tagger.save_pretrained(tmp_path / "int8")
    assert not (tmp_path / "int8").exists()
    with pytest.raises(ValueError, match="do not combine"):
        SRLTagger(copy.deepcopy(late_tagger.model), late_tagger.tokenizer, bf16=True, int8=True)


def test_the_command_line_tags_with_an_int8_encoder_as_in_float(
    late_tagger: SRLTagger, tiny_sentences: list[Sentence], tmp_path, capsys
) -> None:
    from albert_srl.cli import main

    late_tagger.save_pretrained(tmp_path / "model")
    text = tmp_path / "in.txt"
    text.write_text("".join(" ".join(s.words) + "\n" for s in tiny_sentences))
    outputs = []
    for flags in ([], ["--int8"]):
        command = ["tag", str(text), "--model", str(tmp_path / "model"), "--format", "jsonl", "-q", *flags]
        assert main(command) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0].count("\n") == len(tiny_sentences) and '"ARG' in outputs[0]
    # The same lines but for the probabilities, which int8 moves a little (the frames are what must not move).
    floats, int8s = (probabilities_apart(output) for output in outputs)
    assert int8s[0] == floats[0] and floats[1], "every frame has its probability"
    assert all(abs(a - b) < 0.05 for a, b in zip(floats[1], int8s[1], strict=True))


def probabilities_apart(output: str) -> tuple[str, list[float]]:
    """``output`` with each ``"probability": x`` (a frame's, a predicate's) as a placeholder, and the xs."""
    pattern = re.compile(r'"probability": ([0-9.e-]+)')
    return pattern.sub('"probability": _', output), [float(x) for x in pattern.findall(output)]
