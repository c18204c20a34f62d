"""Any Hugging Face encoder and tokenizer, offline: a tiny WordPiece BERT converted into ALBERT form and a
tiny byte-level BPE RoBERTa each go through ``albert-srl train`` -> save -> load -> tag, and tagging
tokenizes each call's sentences once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLE
from safetensors.torch import load_file
from tiny_encoders import tiny_bert, tiny_roberta

from albert_srl.cli import main
from albert_srl.conversion import convert_encoder
from albert_srl.formats import read
from albert_srl.model.encoding import word_pieces
from albert_srl.model.tokenizer import load_tokenizer
from albert_srl.tagging.tagger import SRLTagger

TINY = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"
SAMPLE_TEXT = Path(__file__).resolve().parents[1] / "corpora" / "sample.txt"
WORDS = ["The", "judges", "nominated", "two", "lawyers", "on", "Tuesday", "."]


@pytest.fixture(scope="module")
def wordpiece_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    bert = tiny_bert(tmp_path_factory.mktemp("bert"))
    return convert_encoder(bert, tmp_path_factory.mktemp("albert") / "encoder").directory


@pytest.fixture(scope="module")
def bpe_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_roberta(tmp_path_factory.mktemp("roberta"))


def train_on_sample(encoder: Path, out: Path, *choices: str) -> Path:
    overrides = [
        f"train_path={SAMPLE}",
        f"dev_path={SAMPLE}",
        f"output_dir={out}",
        f"encoder.pretrained={encoder}",
        "epochs=2",
        "max_tokens=256",
        "checkpoint_every=0",
        *choices,
    ]
    assert main(["train", str(TINY), "--set", *overrides]) == 0
    return out / "best"


@pytest.mark.parametrize(
    ("kind", "choices", "vocabulary"),
    [
        ("wordpiece", ["fusion_layers=null"], "tokenizer.json"),  # early fusion, segment ids
        ("wordpiece", ["fusion_layers=1"], "tokenizer.json"),
        ("bpe", ["fusion_layers=2"], "tokenizer.json"),  # RoBERTa has one token type: late fusion's mark
    ],
)
def test_train_save_load_tag(
    kind: str, choices: list[str], vocabulary: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    encoder = request.getfixturevalue(f"{kind}_encoder")
    best = train_on_sample(encoder, tmp_path / "run", *choices)
    files = {path.name for path in best.iterdir()}
    assert vocabulary in files and "spiece.model" not in files
    tagger = SRLTagger.from_pretrained(best)
    # The saved tokenizer splits words as the encoder's own does.
    assert word_pieces(tagger.tokenizer, [WORDS]) == word_pieces(load_tokenizer(encoder), [WORDS])
    (sentence,) = tagger.tag([WORDS], predicates=[[2]])
    (frame,) = sentence.frames
    assert frame.predicate.index == 2 and sentence.words == WORDS
    gold = list(read(SAMPLE))
    tagged = tagger.tag(
        [s.words for s in gold], predicates=[[f.predicate.index for f in s.frames] for s in gold]
    )
    assert [len(s.frames) for s in tagged] == [len(s.frames) for s in gold]


def test_segment_marking_on_a_one_token_type_encoder_is_one_clear_error(
    bpe_encoder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overrides = [
        f"train_path={SAMPLE}",
        f"dev_path={SAMPLE}",
        f"output_dir={tmp_path}",
        f"encoder.pretrained={bpe_encoder}",
        "fusion_layers=null",
        "predicate_awareness=segment",
    ]
    assert main(["train", str(TINY), "--set", *overrides]) == 2
    error = capsys.readouterr().err
    assert "two token types" in error and "Traceback" not in error


@pytest.fixture(scope="module")
def bert_without_pooler(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert(tmp_path_factory.mktemp("bert-no-pooler"), pooler=False)


@pytest.mark.parametrize("embedding_size", [None, 16])
def test_a_bert_without_pooler_converts(
    bert_without_pooler: Path, embedding_size: int | None, tmp_path: Path
) -> None:
    conversion = convert_encoder(bert_without_pooler, tmp_path / "albert", embedding_size=embedding_size)
    assert conversion.embedding_size == (embedding_size or conversion.hidden_size)
    assert (
        load_file(tmp_path / "albert" / "model.safetensors")
        .keys()
        .isdisjoint({"pooler.weight", "pooler.bias"})
    )


@pytest.mark.parametrize("kind", ["bert without pooler", "roberta"])
def test_the_tiny_config_trains_tags_and_serves_any_encoder_unconverted(
    kind: str, bert_without_pooler: Path, bpe_encoder: Path, tmp_path: Path
) -> None:
    """``configs/tiny.yaml`` with only ``encoder.pretrained`` set (and the files): the encoder is
    converted on load; RoBERTa's one token type gets the indicator marking by default."""
    encoder = {"bert without pooler": bert_without_pooler, "roberta": bpe_encoder}[kind]
    overrides = [f"train_path={SAMPLE}", f"dev_path={SAMPLE}", f"output_dir={tmp_path / 'run'}"]
    assert main(["train", str(TINY), "--set", f"encoder.pretrained={encoder}", *overrides]) == 0
    best = tmp_path / "run" / "best"
    awareness = json.loads((best / "config.json").read_text())["srl"]["predicate_awareness"]
    assert awareness == ("indicator" if kind == "roberta" else "segment")
    out = tmp_path / "tagged.conll"
    assert main(["predict", str(best), str(SAMPLE), "-o", str(out)]) == 0
    assert [s.words for s in read(out)] == [s.words for s in read(SAMPLE)]
    assert main(["tag", str(SAMPLE_TEXT), "--model", str(best), "-o", str(tmp_path / "tagged.jsonl")]) == 0
    assert (tmp_path / "tagged.jsonl").read_text().count("\n") > 0


class CountingTokenizer:
    """The tagger's tokenizer, counting the sentences each call is given."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.calls: list[int] = []

    def word_pieces(self, word_lists: Any) -> Any:
        self.calls.append(len(word_lists))
        return self.tokenizer.word_pieces(word_lists)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tokenizer, name)


@pytest.mark.parametrize("gold_predicates", [True, False])
def test_tagging_tokenizes_each_sentence_once(trained_tiny_tagger: SRLTagger, gold_predicates: bool) -> None:
    gold = list(read(SAMPLE))
    counting = CountingTokenizer(trained_tiny_tagger.tokenizer)
    tagger = SRLTagger(trained_tiny_tagger.model, counting)  # type: ignore[arg-type]
    predicates = [[f.predicate.index for f in s.frames] for s in gold] if gold_predicates else None
    tagger.tag([s.words for s in gold], predicates=predicates)
    assert counting.calls == [len(gold)]
