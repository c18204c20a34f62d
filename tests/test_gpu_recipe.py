"""The GPU recipe's start and what comes back, offline: an SRL model's encoder exported as a Hugging Face
encoder gives the model's own encoder outputs; ``--prepare`` carries the converted encoder in float32,
else in bf16, else starts from the shipped model's encoder when that is the converted one trained, else
fails with one line; results are cut into parts that join again; WordPiece pieces are masked by word."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import tiny_model_config
from safetensors import safe_open
from scripts import REPO, load_script
from tiny_encoders import tiny_bert
from transformers import AlbertModel

from albert_srl.conversion import convert_encoder, export_encoder
from albert_srl.data import Sentence
from albert_srl.errors import SRLFormatError
from albert_srl.model.encoder import Encoder
from albert_srl.model.encoder_dir import encoder_from_pretrained
from albert_srl.model.network import SRLModel
from albert_srl.model.tokenizer import VOCABULARY_FILES, load_tokenizer
from albert_srl.pretraining.instances import Vocabulary
from albert_srl.tagging.tagger import SRLTagger

gpu_run = load_script("benchmarks/gpu_run.py")


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    bert = tiny_bert(tmp_path_factory.mktemp("bert"))
    return convert_encoder(bert, tmp_path_factory.mktemp("albert") / "encoder").directory


@pytest.fixture(scope="module")
def trained_model(
    converted: Path, tiny_sentences: list[Sentence], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """An SRL model directory whose encoder is ``converted`` with every weight moved (as training does)."""
    encoder = encoder_from_pretrained(str(converted))
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in encoder.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    config = tiny_model_config(tiny_sentences, encoder.spec.to_dict(), fusion_layers=2)
    tagger = SRLTagger(SRLModel(config, encoder=encoder).eval(), load_tokenizer(converted))
    return tagger.save_pretrained(tmp_path_factory.mktemp("model") / "model")


def hidden_states(encoder: torch.nn.Module) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 100, (2, 11), generator=generator)
    types = torch.randint(0, 2, (2, 11), generator=generator)
    with torch.no_grad():
        if isinstance(encoder, Encoder):  # ours
            return encoder.eval()(ids, torch.ones_like(ids), types)
        return encoder.eval()(input_ids=ids, token_type_ids=types).last_hidden_state


def test_an_exported_encoder_is_the_models_own(trained_model: Path, converted: Path, tmp_path: Path) -> None:
    out = export_encoder(trained_model, tmp_path / "encoder", dtype=torch.float32)
    exported = AlbertModel.from_pretrained(out)
    ours = SRLTagger.from_pretrained(trained_model).model.encoder
    assert torch.allclose(hidden_states(exported), hidden_states(ours), atol=1e-5)
    assert not torch.allclose(hidden_states(exported), hidden_states(AlbertModel.from_pretrained(converted)))
    files = {path.name for path in out.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= files
    assert {path.name for path in trained_model.iterdir() if path.name in VOCABULARY_FILES} <= files
    assert "spiece.model" not in files  # a WordPiece vocabulary keeps its own file name
    assert load_tokenizer(out).get_vocab() == load_tokenizer(converted).get_vocab()


def test_an_export_casts_to_the_dtype_asked_for(trained_model: Path, tmp_path: Path) -> None:
    out = export_encoder(trained_model, tmp_path / "encoder", dtype=torch.bfloat16)
    with safe_open(str(out / "model.safetensors"), "pt") as weights:
        dtypes = {weights.get_slice(key).get_dtype() for key in weights.keys()}  # noqa: SIM118
    assert dtypes == {"BF16"}


def test_exporting_what_is_no_srl_model_is_one_clear_error(converted: Path, tmp_path: Path) -> None:
    with pytest.raises(SRLFormatError, match="not an albert-srl model config"):
        export_encoder(converted, tmp_path / "out")  # an encoder directory, not a model's


def sizes(encoder: Path) -> tuple[int, int]:
    return gpu_run.encoder_bytes(encoder, halve=False), gpu_run.encoder_bytes(encoder, halve=True)


def test_the_converted_encoder_is_carried_in_float32_where_it_fits(converted: Path) -> None:
    full, half = sizes(converted)
    assert half < full
    start = gpu_run.choose_start(converted, REPO / gpu_run.SHIPPED_MODEL, full)
    assert (start["kind"], start["dtype"], start["carried_bytes"]) == ("converted", "float32", full)
    assert "float32" in start["reason"]


def test_else_in_bf16_which_the_run_casts_back(converted: Path, tmp_path: Path) -> None:
    full, half = sizes(converted)
    start = gpu_run.choose_start(converted, REPO / gpu_run.SHIPPED_MODEL, full - 1)
    assert (start["kind"], start["dtype"]) == ("converted", "bfloat16")
    assert "does not fit" in start["reason"]
    gpu_run.place_start(start, tmp_path / "carry")
    assert start["carried_bytes"] == gpu_run.folder_bytes(tmp_path / "carry" / "start") <= half + 64

    gpu_run.copy_encoder(tmp_path / "carry" / "start", tmp_path / "run", "float32")  # the run's start step
    back = AlbertModel.from_pretrained(tmp_path / "run").state_dict()
    original = AlbertModel.from_pretrained(converted).state_dict()
    assert {value.dtype for value in back.values() if value.is_floating_point()} == {torch.float32}
    for key, value in original.items():
        if not key.startswith("pooler."):  # a converted encoder carries no pooler: SRL never reads one
            assert torch.equal(back[key], value.to(torch.bfloat16).float()), key


def test_else_the_shipped_models_encoder_when_it_is_the_converted_one_trained(
    converted: Path, trained_model: Path
) -> None:
    start = gpu_run.choose_start(converted, trained_model, 0)
    assert (start["kind"], start["carried_bytes"], start["encoder"]) == ("shipped", 0, None)
    assert "nothing carried" in start["reason"]


def test_else_one_clear_error(converted: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"  # the same model with another vocabulary size: another encoder
    with pytest.raises(gpu_run.PrepareError, match="not it") as raised:
        gpu_run.choose_start(converted, another_model(converted, other), 0)
    assert "\n" not in str(raised.value)
    with pytest.raises(gpu_run.PrepareError, match="no converted encoder"):
        gpu_run.choose_start(tmp_path / "absent", other, 10**9)


def another_model(converted: Path, out: Path) -> Path:
    """A model directory whose encoder section has another vocabulary size than ``converted``'s."""
    import json

    out.mkdir()
    encoder: dict[str, Any] = json.loads((converted / "config.json").read_text(encoding="utf-8"))
    config = {"model_type": "albert-srl", "srl": {}, "encoder": {**encoder, "vocab_size": 7}}
    (out / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return out


def test_prepare_fails_with_one_line_and_exit_1(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    arguments = ["--prepare", "--encoder", str(tmp_path / "absent"), "--data", str(tmp_path / "data")]
    with caplog.at_level(logging.ERROR, logger="gpu_run"):
        assert gpu_run.main([*arguments, "--out", str(tmp_path / "out")]) == 1
    (error,) = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert error.startswith("--prepare failed: no converted encoder in") and "\n" not in error
    assert not (tmp_path / "data" / "wheels").exists()  # it failed before downloading anything


def test_results_are_cut_into_parts_that_join_again(tmp_path: Path) -> None:
    data = torch.randint(0, 256, (2500,), generator=torch.Generator().manual_seed(0)).to(torch.uint8)
    (tmp_path / "result.tar.gz").write_bytes(bytes(data.tolist()))
    out = tmp_path / "out"
    out.mkdir()
    parts = gpu_run.split_file(tmp_path / "result.tar.gz", out, 1000)
    assert [part.name for part in parts] == ["result.tar.gz.00", "result.tar.gz.01", "result.tar.gz.02"]
    assert b"".join(part.read_bytes() for part in parts) == bytes(data.tolist())
    (tmp_path / "result.tar.gz").write_bytes(b"x" * 1500)  # a later, smaller pack replaces all parts
    gpu_run.split_file(tmp_path / "result.tar.gz", out, 1000)
    assert sorted(path.name for path in out.iterdir()) == ["result.tar.gz.00", "result.tar.gz.01"]


def test_the_packed_model_has_a_bf16_encoder_and_loads(trained_model: Path, tmp_path: Path) -> None:
    packed = gpu_run.bf16_model(trained_model, tmp_path / "packed")
    with safe_open(str(packed / "model.safetensors"), "pt") as weights:
        dtypes = {key: weights.get_slice(key).get_dtype() for key in weights.keys()}  # noqa: SIM118
    assert {dtype for key, dtype in dtypes.items() if key.startswith("encoder.")} == {"BF16"}
    assert "F32" in {dtype for key, dtype in dtypes.items() if not key.startswith("encoder.")}
    (sentence,) = SRLTagger.from_pretrained(packed).tag(
        [["The", "judges", "nominated", "two", "lawyers"]], [[2]]
    )
    assert [frame.predicate.index for frame in sentence.frames] == [2]


def test_wordpiece_words_start_at_every_piece_but_a_continuation(converted: Path) -> None:
    tokenizer = load_tokenizer(converted)
    vocabulary = Vocabulary.from_tokenizer(tokenizer)
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    continuations = [i for i, piece in enumerate(pieces) if piece.startswith("##")]
    words = [i for i, piece in enumerate(pieces) if not piece.startswith(("##", "["))]
    assert continuations and words  # a pretraining mask can start at a word: its MLM loss is finite
    assert not vocabulary.word_start[continuations].any() and vocabulary.word_start[words].all()
