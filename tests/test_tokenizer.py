"""The SentencePiece tokenizer: trained vocabularies, ALBERT's special ids, lower-casing, bad directories."""

from __future__ import annotations

from pathlib import Path

import pytest
import sentencepiece as spm
from conftest import TINY_VOCAB, fixture_text_lines
from tiny_encoders import bpe_tokenizer, wordpiece_tokenizer
from transformers import AutoTokenizer

from albert_srl.errors import SRLFormatError
from albert_srl.model.tokenizer import load_tokenizer, train_sentencepiece

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
    ids = [i for word in tokenizer.word_pieces([HELD_OUT.split()])[0] for i in word]
    assert len(ids) >= len(HELD_OUT.split())
    assert ids.count(tokenizer.unk_token_id) / len(ids) < 0.02
    # ...while a character never seen in training does: the check above can fail.
    assert tokenizer.unk_token_id in tokenizer.encode_texts(["жук"])[0]


def test_special_tokens_have_albert_base_ids(tiny_tokenizer_dir: Path) -> None:
    tokenizer = load_tokenizer(tiny_tokenizer_dir)
    specials = ["[CLS]", "[SEP]", "<pad>", "<unk>", "[MASK]"]
    assert [tokenizer.token_to_id(token) for token in specials] == [2, 3, 0, 1, 4]
    ids = (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id, tokenizer.unk_token_id)
    assert ids == (2, 3, 0, 1)
    assert tokenizer.mask_token_id == 4
    assert 1 not in tokenizer.encode_texts(["the board"])[0]


def test_lowercase_tokenizer_ignores_case(tmp_path: Path) -> None:
    tokenizer = load_tokenizer(train_sentencepiece(fixture_text_lines(), tmp_path, 300, lowercase=True))
    assert tokenizer.tokens("The BOARD Approved it") == tokenizer.tokens("the board approved it")
    pieces = set(tokenizer.get_vocab()) - {"[CLS]", "[SEP]", "[MASK]"}
    assert all(piece == piece.lower() for piece in pieces)


def test_cased_tokenizer_keeps_case(tiny_tokenizer_dir: Path) -> None:
    tokenizer = load_tokenizer(tiny_tokenizer_dir)
    assert tokenizer.tokens("The Board") != tokenizer.tokens("the board")


def test_saved_tokenizer_loads_with_the_same_ids(tiny_tokenizer_dir: Path, tmp_path: Path) -> None:
    tokenizer = load_tokenizer(tiny_tokenizer_dir)
    tokenizer.save_pretrained(tmp_path)
    again = load_tokenizer(tmp_path)
    assert again.encode_texts([HELD_OUT]) == tokenizer.encode_texts([HELD_OUT])
    assert again.word_pieces([HELD_OUT.split()]) == tokenizer.word_pieces([HELD_OUT.split()])


def test_directory_without_a_vocabulary_names_the_files_it_needs(tmp_path: Path) -> None:
    (tmp_path / "tokenizer_config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(SRLFormatError) as caught:
        load_tokenizer(tmp_path)
    assert caught.value.path == str(tmp_path / "tokenizer.json")
    assert "spiece.model" in str(caught.value) and "vocab.txt" in str(caught.value)


@pytest.mark.parametrize("kind", ["sentencepiece", "wordpiece", "bpe"])
def test_words_split_as_transformers_splits_them(kind: str, tiny_tokenizer_dir: Path, tmp_path: Path) -> None:
    """The ``tokenizers`` library alone gives the subwords ``transformers``' fast tokenizer gives a
    pre-split sentence (a byte-level BPE with a prefix space a word), and the same special ids."""
    directory = {
        "sentencepiece": lambda: tiny_tokenizer_dir,
        "wordpiece": lambda: (wordpiece_tokenizer(tmp_path), tmp_path)[1],
        "bpe": lambda: (bpe_tokenizer(tmp_path), tmp_path)[1],
    }[kind]()
    ours = load_tokenizer(directory)
    # As load_tokenizer did with transformers: a byte-level BPE with a prefix space a word.
    theirs = AutoTokenizer.from_pretrained(
        str(directory), **({"add_prefix_space": True} if kind == "bpe" else {})
    )
    sentences = [
        HELD_OUT.split(),
        ["The", "Board", "approved", "it", "on", "Tuesday", "."],
        ["naïve", "café", "жук"],
    ]
    encoded = theirs(sentences, is_split_into_words=True, add_special_tokens=False)
    for row, words in enumerate(sentences):
        expected: list[list[int]] = [[] for _ in words]
        for piece, word in zip(encoded["input_ids"][row], encoded.word_ids(row), strict=True):
            expected[word].append(piece)
        assert ours.word_pieces([words])[0] == expected
    specials = ("cls_token_id", "sep_token_id", "pad_token_id", "unk_token_id", "mask_token_id")
    assert [getattr(ours, name) for name in specials] == [getattr(theirs, name) for name in specials]
    assert len(ours) == len(theirs)


def test_a_directory_without_tokenizer_json_is_converted_once_and_saved_with_it(
    tiny_tokenizer_dir: Path, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("spiece.model", "tokenizer_config.json", "special_tokens_map.json"):
        if (tiny_tokenizer_dir / name).exists():
            (source / name).write_bytes((tiny_tokenizer_dir / name).read_bytes())
    converted = load_tokenizer(source)
    converted.save_pretrained(tmp_path / "saved")
    assert {"tokenizer.json", "spiece.model"} <= {p.name for p in (tmp_path / "saved").iterdir()}
    original = load_tokenizer(tiny_tokenizer_dir)
    assert load_tokenizer(tmp_path / "saved").word_pieces([HELD_OUT.split()]) == original.word_pieces(
        [HELD_OUT.split()]
    )
