"""The SentencePiece tokenizer: trained vocabularies, ALBERT's special ids, lower-casing, bad directories."""

from __future__ import annotations

from pathlib import Path

import pytest
import sentencepiece as spm
from conftest import TINY_VOCAB, fixture_text_lines

from albert_srl.errors import SRLFormatError
from albert_srl.inference.tokenizer import load_tokenizer, train_sentencepiece

# Not in the fixture text, but written with its characters.
HELD_OUT = "Several farmers visited the new hospital near the river on Friday morning , she said ."


def test_vocabulary_is_the_trained_one_and_no_larger_than_asked(tiny_tokenizer_dir: Path) -> None:
    tokenizer = load_tokenizer(tiny_tokenizer_dir)
    trained = spm.SentencePieceProcessor(model_file=str(tiny_tokenizer_dir / "spiece.model"))
    assert len(tokenizer) == trained.get_piece_size() <= TINY_VOCAB
    assert len(tokenizer) > TINY_VOCAB // 2
    assert tokenizer.convert_ids_to_tokens(list(range(len(tokenizer)))) == [
        trained.id_to_piece(i) for i in range(len(tokenizer))
    ]


def test_english_words_do_not_become_unk(tiny_tokenizer_dir: Path) -> None:
    tokenizer = load_tokenizer(tiny_tokenizer_dir)
    ids = tokenizer(HELD_OUT.split(), is_split_into_words=True, add_special_tokens=False)["input_ids"]
    assert len(ids) >= len(HELD_OUT.split())
    assert ids.count(tokenizer.unk_token_id) / len(ids) < 0.02
    # ...while a character never seen in training does: the check above can fail.
    assert tokenizer.unk_token_id in tokenizer("жук", add_special_tokens=False)["input_ids"]


def test_special_tokens_have_albert_base_ids(tiny_tokenizer_dir: Path) -> None:
    tokenizer = load_tokenizer(tiny_tokenizer_dir)
    specials = ["[CLS]", "[SEP]", "<pad>", "<unk>", "[MASK]"]
    assert tokenizer.convert_tokens_to_ids(specials) == [2, 3, 0, 1, 4]
    ids = (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id, tokenizer.unk_token_id)
    assert ids == (2, 3, 0, 1)
    assert tokenizer.mask_token_id == 4
    encoded = tokenizer("the board")["input_ids"]
    assert encoded[0] == 2 and encoded[-1] == 3 and 1 not in encoded


def test_lowercase_tokenizer_ignores_case(tmp_path: Path) -> None:
    tokenizer = load_tokenizer(train_sentencepiece(fixture_text_lines(), tmp_path, 300, lowercase=True))
    assert tokenizer.tokenize("The BOARD Approved it") == tokenizer.tokenize("the board approved it")
    pieces = set(tokenizer.get_vocab()) - {"[CLS]", "[SEP]", "[MASK]"}
    assert all(piece == piece.lower() for piece in pieces)


def test_cased_tokenizer_keeps_case(tiny_tokenizer_dir: Path) -> None:
    tokenizer = load_tokenizer(tiny_tokenizer_dir)
    assert tokenizer.tokenize("The Board") != tokenizer.tokenize("the board")


def test_saved_tokenizer_loads_with_the_same_ids(tiny_tokenizer_dir: Path, tmp_path: Path) -> None:
    tokenizer = load_tokenizer(tiny_tokenizer_dir)
    tokenizer.save_pretrained(tmp_path)
    again = load_tokenizer(tmp_path)
    assert again(HELD_OUT)["input_ids"] == tokenizer(HELD_OUT)["input_ids"]


def test_directory_without_a_vocabulary_names_the_files_it_needs(tmp_path: Path) -> None:
    (tmp_path / "tokenizer_config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(SRLFormatError) as caught:
        load_tokenizer(tmp_path)
    assert caught.value.path == str(tmp_path / "tokenizer.json")
    assert "spiece.model" in str(caught.value) and "vocab.txt" in str(caught.value)
