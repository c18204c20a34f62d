"""The default model shipped in the package: what a user gets from ``SRLTagger.from_pretrained()`` and a
bare ``albert-srl tag`` on a fresh clone, with no network."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import pytest

from albert_srl.cli import main
from albert_srl.errors import SRLFormatError
from albert_srl.tagging.model_dir import DEFAULT_MODEL
from albert_srl.tagging.tagger import SRLTagger

SENTENCE = "The committee approved the new budget on Tuesday."


@pytest.fixture(scope="module")
def default_tagger() -> SRLTagger:
    return SRLTagger.from_pretrained()


MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def test_the_default_model_is_a_small_pickle_free_directory() -> None:
    files = {path.name: path.stat().st_size for path in DEFAULT_MODEL.iterdir()}
    assert {"config.json", "model.safetensors", "vocab.txt", "tokenizer.json", "README.md"} <= set(files)
    assert "spiece.model" not in files  # a WordPiece vocabulary, never under SentencePiece's name
    assert sum(files.values()) <= 50 * 10**6  # the repository's budget for shipped weights
    assert not [name for name in files if name.endswith((".bin", ".pt", ".pkl", ".pickle"))]
    card = (DEFAULT_MODEL / "README.md").read_text(encoding="utf-8")
    assert "CC BY-SA" in card and "albert-srl convert-encoder" in card and "albert-srl train" in card
    assert "all-MiniLM-L6-v2" in card and MINILM_SHA256 in card


def test_the_default_model_says_who_did_what_to_whom(default_tagger: SRLTagger) -> None:
    (sentence,) = default_tagger.tag(SENTENCE)
    (frame,) = [f for f in sentence.frames if f.predicate.text == "approved"]
    assert frame.predicate.sense == "approve.01"
    roles = {role: text for _, role, text in frame.tuples()}
    assert roles == {"ARG0": "The committee", "ARG1": "the new budget", "ARGM-TMP": "on Tuesday"}
    for argument in frame.arguments:
        assert SENTENCE[argument.char_start : argument.char_end] == argument.text


def test_bare_tag_command_uses_the_default_model(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(SENTENCE.encode() + b"\n")))
    assert main(["tag", "--quiet", "--format", "jsonl"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    frames = {f["predicate"]["text"]: f for f in json.loads(line)["frames"]}
    roles = {a["role"] for a in frames["approved"]["arguments"]}
    assert {"ARG0", "ARG1", "ARGM-TMP"} <= roles


def test_the_default_model_keeps_predicates_to_words_that_can_be_one(default_tagger: SRLTagger) -> None:
    """No frame for a plain noun like "committee", a proper noun or a possessive 's (the syntax head's
    part of speech keeps predicate identification to verbs, common nouns and adjectives)."""
    (readme,) = default_tagger.tag(SENTENCE)
    assert [f.predicate.text for f in readme.frames] == ["approved"]
    (possessive,) = default_tagger.tag("Apple's chief executive wrote a letter to the board.")
    found = {f.predicate.text for f in possessive.frames}
    assert "wrote" in found and not found & {"Apple", "'s"}


def test_the_lemma_table_has_its_own_file_and_an_inline_one_still_loads(
    default_tagger: SRLTagger, tmp_path: Path
) -> None:
    config = json.loads((DEFAULT_MODEL / "config.json").read_text(encoding="utf-8"))
    assert "lemmas" not in config["srl"] and (DEFAULT_MODEL / "config.json").stat().st_size < 16_384
    table = json.loads((DEFAULT_MODEL / "lemmas.json").read_text(encoding="utf-8"))
    assert default_tagger.config.lemmas == table and table["approved"] == "approve"

    saved = default_tagger.save_pretrained(tmp_path / "saved")
    assert json.loads((saved / "lemmas.json").read_text(encoding="utf-8")) == table
    assert SRLTagger.from_pretrained(saved).config.lemmas == table

    old = tmp_path / "old"  # a model saved before lemmas.json: the table inline in config.json
    shutil.copytree(DEFAULT_MODEL, old)
    (old / "lemmas.json").unlink()
    config["srl"]["lemmas"] = {**table, "okayed": "okay"}
    (old / "config.json").write_text(json.dumps(config), encoding="utf-8")
    assert SRLTagger.from_pretrained(old).config.lemmas["okayed"] == "okay"


def test_a_bad_lemma_file_is_one_error_naming_it(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL, model)
    (model / "lemmas.json").write_text('{"approved": 3}', encoding="utf-8")
    with pytest.raises(SRLFormatError, match="lemmas must be a mapping of str") as caught:
        SRLTagger.from_pretrained(model)
    assert caught.value.path == str(model / "lemmas.json")
