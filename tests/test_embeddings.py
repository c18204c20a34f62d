"""The word2vec embedding stage: vectors land in the right rows at the right scale, and the exported
encoder is one that fine-tuning and masked-LM pretraining load."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import AlbertModel

from albert_srl.cli import main
from albert_srl.config import ConfigError, load_config
from albert_srl.model.encoder_dir import encoder_from_pretrained
from albert_srl.model.tokenizer import load_tokenizer
from albert_srl.pretraining.embeddings import embedding_matrix

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "pretrain-tiny.yaml"

SUBJECTS = ["The committee", "A small village", "Her younger brother", "The old railway", "This museum"]
VERBS = ["approved", "described", "rebuilt", "visited", "announced", "criticised"]
OBJECTS = ["the new plan", "a stone bridge", "several paintings", "the northern line", "its first season"]


def plain_text(path: Path, paragraphs: int = 400) -> Path:
    """Plain text, a paragraph a line, documents separated by blank lines."""
    rng = np.random.default_rng(0)
    lines = []
    for p in range(paragraphs):
        words = [f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}." for _ in range(3)]
        lines.append(" ".join(words))
        if p % 5 == 4:
            lines.append("")
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    return path


def run_stage(text: Path, output: Path, scale: str) -> Path:
    settings = [
        f"text_paths=[{text}]",
        f"output_dir={output}",
        "title_lines=false",
        "text_source=null",
        "encoder.vocab_size=200",
        "vocab_paragraphs=400",
        "eval_documents=2",
        "embeddings.epochs=3",
        "embeddings.min_count=1",
        "embeddings.workers=1",
        f"embeddings.scale={scale}",
    ]
    assert main(["pretrain", str(TINY), "--stage", "embeddings", "--set", *settings]) == 0
    return output


@pytest.fixture(scope="module")
def text(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return plain_text(tmp_path_factory.mktemp("text") / "plain.txt.gz")


def test_the_stage_exports_an_encoder_with_learnt_embeddings_at_the_init_scale(text: Path, tmp_path: Path):
    out = run_stage(text, tmp_path / "emb", "init")
    encoder = AlbertModel.from_pretrained(str(out))
    tokenizer = load_tokenizer(out)
    weights = encoder.embeddings.word_embeddings.weight.detach()
    sentence = "The committee approved a stone bridge."
    (ids,) = tokenizer.encode_texts([sentence])
    ids = sorted(set(ids))
    assert tokenizer.unk_token_id not in ids
    std = encoder.config.initializer_range
    learnt = weights[ids]
    assert 0.2 * std < learnt.std().item() < 5 * std

    torch.manual_seed(13)  # the stage's seed: a fresh encoder of the same size starts from these rows
    fresh = AlbertModel(encoder.config).embeddings.word_embeddings.weight.detach()
    assert not torch.allclose(learnt, fresh[ids].bfloat16().float(), atol=1e-3)

    card = (out / "README.md").read_text(encoding="utf-8")
    assert "word2vec" in card and str(text) in card and "Wikipedia" not in card
    srl_encoder = encoder_from_pretrained(str(out))  # what `albert-srl train` with encoder.pretrained does
    assert srl_encoder.spec.vocab_size == len(tokenizer)


def test_unscaled_vectors_keep_word2vec_magnitudes(text: Path, tmp_path: Path):
    scaled = AlbertModel.from_pretrained(str(run_stage(text, tmp_path / "init", "init")))
    raw = AlbertModel.from_pretrained(str(run_stage(text, tmp_path / "none", "none")))
    tokenizer = load_tokenizer(tmp_path / "none")
    (rows,) = tokenizer.encode_texts(["The committee approved a stone bridge."])
    scaled_norm = scaled.embeddings.word_embeddings.weight[rows].norm().item()
    raw_norm = raw.embeddings.word_embeddings.weight[rows].norm().item()
    assert raw_norm > 3 * scaled_norm


def test_embedding_matrix_replaces_exactly_the_learnt_rows():
    initial = torch.randn(6, 4) * 0.02
    learnt = np.array([[1.0, 2.0, 3.0, 4.0], [3.0, 2.0, 1.0, 0.0], [9.0, 9.0, 9.0, 9.0]], dtype=np.float32)
    vectors = SimpleNamespace(index_to_key=["4", "1", "17"], vectors=learnt)  # id 17 is outside the table

    raw, count = embedding_matrix(vectors, initial, "none", 0.02)
    assert count == 2
    assert torch.equal(raw[4], torch.tensor(learnt[0])) and torch.equal(raw[1], torch.tensor(learnt[1]))
    untouched = [0, 2, 3, 5]
    assert torch.equal(raw[untouched], initial[untouched])

    scaled, _ = embedding_matrix(vectors, initial, "init", 0.02)
    rows = scaled[[4, 1]]
    assert torch.allclose(rows.mean(0), torch.zeros(4), atol=1e-6)
    assert rows.std(unbiased=False).item() == pytest.approx(0.02, rel=1e-4)
    assert torch.equal(scaled[untouched], initial[untouched])


def test_masked_lm_pretraining_continues_from_the_embeddings(text: Path, tmp_path: Path):
    start = run_stage(text, tmp_path / "emb", "init")
    settings = [
        f"text_paths=[{text}]",
        f"output_dir={tmp_path / 'mlm'}",
        f"encoder.pretrained={start}",
        "title_lines=false",
        "text_source=null",
        "eval_documents=2",
        "max_length=40",
        "max_tokens=320",
        "max_steps=2",
    ]
    assert main(["pretrain", str(TINY), "--set", *settings]) == 0
    before = AlbertModel.from_pretrained(str(start)).embeddings.word_embeddings.weight
    after = AlbertModel.from_pretrained(str(tmp_path / "mlm")).embeddings.word_embeddings.weight
    assert before.shape == after.shape
    assert torch.nn.functional.cosine_similarity(before, after, dim=1).mean() > 0.9  # continued, not fresh
    record = json.loads((tmp_path / "mlm" / "pretraining.json").read_text(encoding="utf-8"))
    assert record["steps"] == 2 and record["runs"][0]["stage"].startswith("embeddings")


def test_the_removed_shipped_encoder_is_one_clear_error():
    with pytest.raises(ConfigError, match="convert-encoder") as caught:
        load_config(REPO / "configs" / "ewt.yaml", ["encoder.pretrained=shipped"])
    assert caught.value.path == str(REPO / "configs" / "ewt.yaml")
