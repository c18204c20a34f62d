"""``albert-srl convert-encoder``: a BERT becomes an ALBERT with the same outputs (or the closest a
smaller embedding allows), its tokenizer and card come along, and pickles or a wrong digest are refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from tiny_encoders import tiny_bert
from transformers import AlbertModel, BertModel

from albert_srl.cli import main
from albert_srl.conversion import convert_encoder, file_sha256
from albert_srl.errors import SRLFormatError
from albert_srl.inference.tokenizer import load_tokenizer


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
