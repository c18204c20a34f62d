"""``albert-srl convert-encoder``: a BERT becomes an ALBERT with the same outputs (or the closest a
smaller embedding allows), its tokenizer and card come along, and pickles or a wrong digest are refused.
A source that lies about its sizes or is damaged, and an output that is the source, inside it or not
empty, are one error line before anything is allocated or written (issue 34)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from tiny_encoders import tiny_bert
from transformers import AlbertModel, BertModel

from albert_srl import conversion
from albert_srl.cli import main
from albert_srl.conversion import convert_encoder, file_sha256
from albert_srl.errors import SRLFormatError
from albert_srl.model.tokenizer import load_tokenizer


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tiny_bert(tmp_path_factory.mktemp("bert"))
    vocabulary = load_tokenizer(out).get_vocab()  # the hub's layout has vocab.txt beside tokenizer.json
    (out / "vocab.txt").write_text("".join(f"{p}\n" for p in sorted(vocabulary, key=vocabulary.get)))
    (out / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny\n", encoding="utf-8")
    return out


def outputs(model: torch.nn.Module) -> torch.Tensor:
    """Last hidden states on random ids with both token types and a padded row."""
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, model.config.vocab_size, (3, 17), generator=generator)
    types = torch.randint(0, 2, (3, 17), generator=generator)
    mask = torch.ones(3, 17, dtype=torch.long)
    mask[1, 9:] = 0
    with torch.no_grad():
        hidden = model.eval()(input_ids=ids, token_type_ids=types, attention_mask=mask).last_hidden_state
    return hidden[mask.bool()]


def test_a_converted_bert_gives_the_same_outputs(bert_dir: Path, tmp_path: Path) -> None:
    done = convert_encoder(bert_dir, tmp_path / "albert", sha256=file_sha256(bert_dir / "model.safetensors"))
    albert = AlbertModel.from_pretrained(tmp_path / "albert")
    assert albert.config.num_hidden_groups == albert.config.num_hidden_layers == 3
    assert albert.config.embedding_size == albert.config.hidden_size and done.embedding_error == 0.0
    difference = (outputs(albert) - outputs(BertModel.from_pretrained(bert_dir))).abs().max()
    assert difference < 1e-4


def test_the_tokenizer_and_a_card_come_along(bert_dir: Path, tmp_path: Path) -> None:
    convert_encoder(bert_dir, tmp_path / "albert")
    files = {path.name for path in (tmp_path / "albert").iterdir()}
    assert {"tokenizer.json", "tokenizer_config.json", "vocab.txt", "README.md"} <= files
    assert "spiece.model" not in files  # a WordPiece vocabulary is never written under SentencePiece's name
    card = (tmp_path / "albert" / "README.md").read_text(encoding="utf-8")
    assert "license: apache-2.0" in card and file_sha256(bert_dir / "model.safetensors") in card


def test_a_smaller_embedding_is_factorized_and_says_how_close_it_came(bert_dir: Path, tmp_path: Path) -> None:
    done = convert_encoder(bert_dir, tmp_path / "albert", embedding_size=8)
    albert = AlbertModel.from_pretrained(tmp_path / "albert")
    assert albert.config.embedding_size == 8 and albert.embeddings.word_embeddings.weight.shape[1] == 8
    assert 0.0 < done.embedding_error < 1.0
    bert = outputs(BertModel.from_pretrained(bert_dir))
    relative = float((outputs(albert) - bert).norm() / bert.norm())
    assert relative < 1.0  # closer than nothing: the mapping is fitted, not random
    assert f"{done.embedding_error:.4f}" in (tmp_path / "albert" / "README.md").read_text(encoding="utf-8")


def test_the_factorized_mapping_is_as_tame_as_its_fit_needs(bert_dir: Path, tmp_path: Path) -> None:
    """The small layer norm's output sums to zero, so the fit leaves one direction free: it must hold
    nothing, or the first change to that norm's bias (a training step) is amplified by its noise."""
    convert_encoder(bert_dir, tmp_path / "albert", embedding_size=8)
    albert = AlbertModel.from_pretrained(tmp_path / "albert")
    mapping = albert.encoder.embedding_hidden_mapping_in.weight.detach()  # (H, E)
    assert mapping.sum(1).abs().max() < 1e-4  # nothing along the all-ones direction of the small space
    assert torch.linalg.svdvals(mapping).max() < 100
    before = outputs(albert)
    with torch.no_grad():
        albert.embeddings.LayerNorm.bias.add_(1e-3)  # what one optimizer step at lr 1e-3 may do
    assert (outputs(albert) - before).abs().max() < 0.1


def test_pickled_weights_are_refused_with_one_error_line(
    bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "pickled"
    shutil.copytree(bert_dir, source)
    (source / "model.safetensors").unlink()
    (source / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    assert main(["convert-encoder", str(source), str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "pytorch_model.bin" in error and "pickled" in error
    assert not (tmp_path / "out").exists()


def test_a_mismatching_sha256_is_refused(bert_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(SRLFormatError, match="sha256") as caught:
        convert_encoder(bert_dir, tmp_path / "out", sha256="0" * 64)
    assert caught.value.path == str(bert_dir / "model.safetensors")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------------
# A source that lies or is damaged, an output that must not be written (issue 34)


def files_of(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` and its bytes: what must survive a refused command unchanged."""
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()
    }


def convert_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """``albert-srl convert-encoder ARGV`` in this process: its exit code and its standard error lines."""
    code = main(["convert-encoder", *argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return code, err.splitlines()


def set_config(**changes: Any) -> Callable[[Path], None]:
    """Change keys of a source's config.json (``None`` removes one)."""

    def change(source: Path) -> None:
        config = json.loads((source / "config.json").read_text(encoding="utf-8"))
        for key, value in changes.items():
            if value is None:
                del config[key]
            else:
                config[key] = value
        (source / "config.json").write_text(json.dumps(config), encoding="utf-8")

    return change


def cut_weights(source: Path) -> None:
    data = (source / "model.safetensors").read_bytes()
    (source / "model.safetensors").write_bytes(data[: len(data) // 2])


SOURCE_CASES = {
    "weights_cut_in_half": (cut_weights, "model.safetensors: not a readable safetensors file (damaged?)"),
    "hidden_size_1e9": (set_config(hidden_size=10**9), "config.json: hidden_size is 1000000000: allowed"),
    "vocab_size_1e9": (set_config(vocab_size=10**9), "config.json: vocab_size is 1000000000: allowed"),
    "layers_1e6": (set_config(num_hidden_layers=10**6), "config.json: num_hidden_layers is 1000000: allowed"),
    "hidden_size_text": (set_config(hidden_size="32"), "config.json: hidden_size must be int, not '32'"),
    # a key left out is the architecture's default (768 for a BERT): not the weights' here
    "hidden_size_missing": (set_config(hidden_size=None), "the weights are not those config.json describes"),
    "hidden_act_os_system": (set_config(hidden_act="os.system"), "config.json: hidden_act must be one of"),
    "dropout_text": (set_config(hidden_dropout_prob="x"), "config.json: hidden_dropout_prob must be float"),
    "pad_outside_vocabulary": (set_config(pad_token_id=400), "config.json: pad_token_id 400: allowed below"),
    "heads": (set_config(num_attention_heads=5), "hidden_size (32) must be a multiple of num_attention"),
    # sizes in range, but not the weights': refused before a model of those sizes is allocated
    "layers_not_the_weights": (set_config(num_hidden_layers=4), "3 layer groups, where config.json gives 4"),
    "vocabulary_not_the_weights": (set_config(vocab_size=500), "word_embeddings.weight is (400, 32), config"),
    "hidden_not_the_weights": (set_config(hidden_size=16384, num_attention_heads=2), "config.json describes"),
}


@pytest.mark.parametrize("case", list(SOURCE_CASES))
def test_a_source_that_lies_or_is_damaged_is_one_error_and_nothing_is_written(
    bert_dir: Path, tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    change, message = SOURCE_CASES[case]
    source = tmp_path / "bert"
    shutil.copytree(bert_dir, source)
    change(source)
    before = files_of(source)
    started = time.perf_counter()
    code, err = convert_cli([str(source), str(tmp_path / "out")], capsys)
    seconds = time.perf_counter() - started
    assert code == 2 and len(err) == 1 and err[0].startswith(f"albert-srl: error: {source}/"), err
    assert message in err[0], err
    assert seconds < 10  # num_hidden_layers 10^6 hung for minutes, allocating
    assert files_of(source) == before and not (tmp_path / "out").exists()


def test_a_fifo_as_the_weights_is_named_as_such_not_missing(bert_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "bert"
    shutil.copytree(bert_dir, source)
    (source / "model.safetensors").unlink()
    os.mkfifo(source / "model.safetensors")  # reading it would wait for a writer for ever
    command = [sys.executable, "-m", "albert_srl.cli", "convert-encoder", str(source), str(tmp_path / "out")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"albert-srl: error: {source / 'model.safetensors'}: a FIFO (named pipe), not a regular file: "
        "refusing to read it"
    ]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (lambda source: source, "is the source"),
        (lambda source: source / "albert", "is inside the source"),
        (lambda source: source / "tokenizer.json", "is a file, not a directory"),
    ],
)
def test_the_source_is_never_written(
    bert_dir: Path,
    tmp_path: Path,
    where: Callable[[Path], Path],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "bert"
    shutil.copytree(bert_dir, source)
    before = files_of(source)
    out = where(source)
    for flags in ([], ["--force"]):
        code, err = convert_cli([str(source), str(out), *flags], capsys)
        assert code == 2 and len(err) == 1 and err[0].startswith(f"albert-srl: error: {out}: "), err
        assert message in err[0]
        assert files_of(source) == before  # byte for byte, and nothing added
        assert not (source / "albert").exists()


def test_a_non_empty_output_is_refused_and_force_replaces_it_whole(
    bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "config.json").write_text('{"mine": true}', encoding="utf-8")
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    before = files_of(out)
    code, err = convert_cli([str(bert_dir), str(out)], capsys)
    assert code == 2 and len(err) == 1 and f"{out}: is not empty" in err[0] and "--force" in err[0]
    assert files_of(out) == before
    code, err = convert_cli([str(bert_dir), str(out), "--force"], capsys)
    assert code == 0 and err == []
    assert not (out / "notes.txt").exists()  # replaced whole, not written over
    assert AlbertModel.from_pretrained(out).config.num_hidden_layers == 3
    assert not list(tmp_path.glob(".out-*"))  # no staging directory left beside it


def test_an_empty_output_directory_is_used(bert_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    assert convert_encoder(bert_dir, tmp_path / "out").directory == tmp_path / "out"
    assert (tmp_path / "out" / "model.safetensors").is_file()


def test_force_never_replaces_a_directory_that_holds_the_source(
    bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "work" / "bert"
    shutil.copytree(bert_dir, source)
    before = files_of(tmp_path / "work")
    code, err = convert_cli([str(source), str(tmp_path / "work"), "--force"], capsys)
    assert code == 2 and err == [f"albert-srl: error: {tmp_path / 'work'}: holds the source {source}: "
                                 "refusing to replace it"]  # fmt: skip
    assert files_of(tmp_path / "work") == before


def test_a_conversion_that_fails_while_writing_leaves_the_old_output_as_it_was(
    bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    convert_encoder(bert_dir, out)
    before = files_of(out)

    def disk_full(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(conversion, "save_file", disk_full)
    with pytest.raises(OSError, match="No space left"):
        convert_encoder(bert_dir, out, embedding_size=8, force=True)
    assert files_of(out) == before  # the new directory is written aside, renamed in only when complete
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
