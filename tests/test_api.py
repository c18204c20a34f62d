"""The top-level API: what ``import albert_srl`` exports, lazily, and Hugging Face hub ids."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import albert_srl
from albert_srl.errors import SRLFormatError
from albert_srl.tagging.model_dir import DEFAULT_MODEL, model_dir
from albert_srl.tagging.tagger import SRLTagger

SAMPLE_TEXT = Path(__file__).resolve().parents[1] / "corpora" / "sample.txt"


def test_every_public_name_imports_from_the_top_level() -> None:
    for name in albert_srl.__all__:
        assert getattr(albert_srl, name) is not None, name
    assert albert_srl.SRLTagger is SRLTagger
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = albert_srl.nope  # type: ignore[attr-defined]


def test_import_albert_srl_does_not_import_torch() -> None:
    code = (
        "import sys, albert_srl\n"
        "from albert_srl import Sentence, Frame\n"
        "heavy = [m for m in ('torch', 'transformers', 'spacy', 'lemminflect') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "from albert_srl import SRLTagger\n"
        "assert 'torch' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tagging_imports_neither_transformers_scipy_nor_spacy(tmp_path: Path) -> None:
    """The tagging path (the API, ``albert-srl tag`` and the server) reads the model with torch,
    safetensors and tokenizers alone, and splits raw text by spaCy's rules without importing spaCy."""
    code = (
        "import sys\n"
        "def loaded(*names): return [m for m in names if m in sys.modules]\n"
        "from albert_srl import SRLTagger\n"
        "tagger = SRLTagger.from_pretrained()\n"
        "assert tagger.tag([['The', 'board', 'approved', 'it', '.']])[0].frames\n"
        "assert not loaded('transformers', 'scipy', 'spacy'), loaded('transformers', 'scipy', 'spacy')\n"
        "assert tagger.tag('The board approved it.')[0].frames\n"
        "from albert_srl.cli import main\n"
        f"assert main(['tag', {str(SAMPLE_TEXT)!r}, '-o', {str(tmp_path / 'out.jsonl')!r}]) == 0\n"
        "from albert_srl.serving.serve import create_app\n"
        "assert not loaded('transformers', 'scipy', 'spacy'), loaded('transformers', 'scipy', 'spacy')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_convert_and_evaluate_start_without_torch(tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parents[1] / "corpora" / "sample.gold_conll"
    out = tmp_path / "out.jsonl"
    code = (
        "import sys\n"
        "from albert_srl.cli import main\n"
        f"assert main(['convert', {str(sample)!r}, {str(out)!r}, '--to', 'jsonl']) == 0\n"
        f"assert main(['evaluate', {str(sample)!r}, {str(out)!r}, '--json']) == 0\n"
        "heavy = [m for m in ('torch', 'transformers', 'spacy', 'lemminflect') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def fill_hub_cache(cache: Path, repo_id: str, source: Path) -> Path:
    """The layout ``huggingface_hub`` leaves after downloading ``repo_id``: refs/main names a snapshot."""
    storage = cache / f"models--{repo_id.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (storage / "refs").mkdir(parents=True)
    (storage / "refs" / "main").write_text(commit)
    shutil.copytree(source, storage / "snapshots" / commit)
    return storage / "snapshots" / commit


def test_a_hub_id_loads_from_the_hub_cache_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    snapshot = fill_hub_cache(tmp_path, "albert-srl/ewt-small", DEFAULT_MODEL)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # a network call would raise
    assert model_dir("albert-srl/ewt-small").resolve() == snapshot.resolve()
    tagger = SRLTagger.from_pretrained("albert-srl/ewt-small")
    [sentence] = tagger.tag("The committee approved the new budget on Tuesday.")
    assert "approve.01" in [frame.predicate.sense for frame in sentence.frames]


def test_an_unknown_hub_id_offline_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(SRLFormatError, match="no such model directory, nor a model in the Hugging Face hub"):
        SRLTagger.from_pretrained("nobody/no-such-model")


def test_a_missing_local_path_is_not_sent_to_the_hub(tmp_path: Path) -> None:
    with pytest.raises(SRLFormatError, match=r"no such model directory$"):
        SRLTagger.from_pretrained(tmp_path / "runs" / "missing")
