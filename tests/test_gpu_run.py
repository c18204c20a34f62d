"""The GPU recipe rehearsed on the CPU: ``benchmarks/gpu_run.sh --dry-run`` prepares tiny data and a tiny
converted encoder (a random WordPiece BERT through ``convert_encoder``), runs every step of the GPU run
(fine-tuning with configs/ewt-minilm.yaml, dev scores, tagging speed; continued pretraining only with
``--pretrain``) with the GPU machine's missing packages blocked, and writes the same files: the tarball's
parts (a model that loads, its encoder in bf16, logs, metrics), the log and metrics.json."""

from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from safetensors import safe_open

from albert_srl.tagging.tagger import SRLTagger

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

pytestmark = [pytest.mark.corpus, pytest.mark.slow]  # two dry runs of the GPU recipe: about 300 s

DryRun = tuple[Path, subprocess.CompletedProcess[str], bool]


@pytest.fixture(scope="module", params=[False, True], ids=["fine-tune", "pretrain-then-fine-tune"])
def dry_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> DryRun:
    if not (SHARED / "corpora" / "ewt").exists() or not (SHARED / "pretrain").exists():
        pytest.skip("../shared/corpora/ewt or ../shared/pretrain is absent")
    pretrain: bool = request.param
    root = tmp_path_factory.mktemp("gpu")
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    env.pop("OUT", None)
    command = ["bash", str(REPO / "benchmarks" / "gpu_run.sh"), "--dry-run", "--work", str(root / "work"),
               "--out", str(root / "out"), *(["--pretrain"] if pretrain else [])]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    return root, result, pretrain


def unpack(out: Path, into: Path) -> None:
    """Join the tarball's parts (``cat gpu-result.tar.gz.*``) and extract them."""
    parts = sorted(out.glob("gpu-result.tar.gz.*"))
    with tarfile.open(fileobj=io.BytesIO(b"".join(part.read_bytes() for part in parts))) as tar:
        tar.extractall(into, filter="data")


def test_the_dry_run_writes_a_model_that_tags(dry_run: DryRun, tmp_path: Path) -> None:
    root, result, pretrain = dry_run
    assert result.returncode == 0, result.stderr[-3000:]
    out = root / "out"
    assert sorted(p.name for p in out.iterdir()) == ["gpu-result.tar.gz.00", "gpu_run.log", "metrics.json"]
    assert all(path.stat().st_size <= 16 * 2**20 for path in out.iterdir())
    unpack(out, tmp_path)

    tagger = SRLTagger.from_pretrained(tmp_path / "model")
    (sentence,) = tagger.tag([["The", "committee", "approved", "the", "plan", "."]], predicates=[[2]])
    assert [frame.predicate.index for frame in sentence.frames] == [2]
    card = (tmp_path / "model" / "README.md").read_text(encoding="utf-8")
    assert "Made by benchmarks/gpu_run.sh" in card and "the converted encoder" in card
    assert ("continued pretraining" in card) == pretrain and ("no pretraining" in card) != pretrain
    with safe_open(str(tmp_path / "model" / "model.safetensors"), "pt") as weights:
        encoder = {weights.get_slice(k).get_dtype() for k in weights.keys() if k.startswith("encoder.")}  # noqa: SIM118
    assert encoder == {"BF16"}  # what comes back is half the size

    # the recipe is configs/ewt-minilm.yaml's, from the tiny converted encoder
    started_from = json.loads((root / "work-encoder" / "config.json").read_text(encoding="utf-8"))
    assert tagger.model.config.encoder["vocab_size"] == started_from["vocab_size"]
    assert tagger.model.config.fusion_layers == 2 and tagger.model.config.syntax_head

    log = (out / "gpu_run.log").read_text(encoding="utf-8")
    assert "start: the converted encoder" in log and "in float32" in log
    f1 = re.search(r"dev F1: ([\d.]+) with gold predicates, ([\d.]+) end to end", log)
    assert f1, log[-2000:]
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["failed"] is None and metrics["dry_run"] is True
    assert metrics["start"]["kind"] == "converted"
    assert float(f1.group(1)) == pytest.approx(metrics["dev"]["gold_predicates"]["f1"], abs=0.01)
    assert set(metrics["tag_speed"]["sentences_per_second"]) == {"bf16-gold", "loop-gold"}
    assert (tmp_path / "logs" / "gpu_run.log").exists() and (tmp_path / "logs" / "finetune.log").exists()


def test_it_pretrains_only_when_asked(dry_run: DryRun, tmp_path: Path) -> None:
    root, result, pretrain = dry_run
    assert result.returncode == 0, result.stderr[-3000:]
    unpack(root / "out", tmp_path)
    metrics = json.loads((root / "out" / "metrics.json").read_text(encoding="utf-8"))
    assert ("pretrain" in metrics["steps"]) == pretrain and ("pretraining" in metrics) == pretrain
    assert (tmp_path / "logs" / "pretrain.log").exists() == pretrain
    assert (root / "work-data" / "packed").exists() == pretrain  # text is packed only for pretraining
    if pretrain:
        record = json.loads((tmp_path / "encoder" / "pretraining.json").read_text(encoding="utf-8"))
        assert record["steps"] == record["runs"][-1]["steps"] > 0
        assert metrics["pretraining"]["tokens_per_second"] > 0
        assert math.isfinite(metrics["pretraining"]["held_out"]["loss"])  # WordPiece words were masked


def test_the_dry_run_blocks_what_the_gpu_machine_lacks(dry_run: DryRun) -> None:
    root, _, _ = dry_run
    env = {**os.environ, "PYTHONPATH": str(root / "work" / "absent")}
    for name in ("spacy", "fastapi"):
        result = subprocess.run(
            [sys.executable, "-c", f"import {name}"], env=env, capture_output=True, text=True
        )
        assert result.returncode != 0 and "not on the GPU machine" in result.stderr
