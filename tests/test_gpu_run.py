"""The GPU recipe rehearsed on the CPU: ``benchmarks/gpu_run.sh --dry-run`` prepares tiny data, runs every
step of the GPU run (continued pretraining, fine-tuning, dev scores, tagging speed) with the GPU machine's
missing packages blocked, and writes the same tarball: a model that loads, the encoder, logs, metrics."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from transformers import AlbertModel

from albert_srl.tagger import SRLTagger

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

pytestmark = pytest.mark.corpus


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    if not (SHARED / "corpora" / "ewt").exists() or not (SHARED / "pretrain").exists():
        pytest.skip("../shared/corpora/ewt or ../shared/pretrain is absent")
    root = tmp_path_factory.mktemp("gpu")
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    env.pop("OUT", None)
    command = ["bash", str(REPO / "benchmarks" / "gpu_run.sh"), "--dry-run", "--work", str(root / "work"),
               "--out", str(root / "out")]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    return root, result


def test_the_dry_run_writes_a_tarball_with_a_model_that_tags(dry_run, tmp_path: Path):
    root, result = dry_run
    assert result.returncode == 0, result.stderr[-3000:]
    out = root / "out"
    assert sorted(p.name for p in out.iterdir()) == ["gpu-result.tar.gz", "gpu_run.log", "metrics.json"]
    assert (out / "gpu-result.tar.gz").stat().st_size <= 16 * 2**20
    with tarfile.open(out / "gpu-result.tar.gz") as tar:
        tar.extractall(tmp_path, filter="data")

    tagger = SRLTagger.from_pretrained(tmp_path / "model")
    (sentence,) = tagger.tag([["The", "committee", "approved", "the", "plan", "."]], predicates=[[2]])
    assert [frame.predicate.index for frame in sentence.frames] == [2]
    assert "Made by benchmarks/gpu_run.sh" in (tmp_path / "model" / "README.md").read_text(encoding="utf-8")

    record = json.loads((tmp_path / "encoder" / "pretraining.json").read_text(encoding="utf-8"))
    assert record["steps"] == record["runs"][-1]["steps"] > 0
    assert (
        AlbertModel.from_pretrained(tmp_path / "encoder").config.vocab_size
        == tagger.model.config.encoder["vocab_size"]
    )

    log = (out / "gpu_run.log").read_text(encoding="utf-8")
    f1 = re.search(r"dev F1: ([\d.]+) with gold predicates, ([\d.]+) end to end", log)
    assert f1, log[-2000:]
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["failed"] is None and metrics["dry_run"] is True
    assert float(f1.group(1)) == pytest.approx(metrics["dev"]["gold_predicates"]["f1"], abs=0.01)
    assert metrics["pretraining"]["tokens_per_second"] > 0
    assert set(metrics["tag_speed"]["sentences_per_second"]) == {"bf16-gold", "loop-gold"}
    assert (tmp_path / "logs" / "gpu_run.log").exists() and (tmp_path / "logs" / "finetune.log").exists()


def test_the_dry_run_blocks_what_the_gpu_machine_lacks(dry_run):
    root, _ = dry_run
    env = {**os.environ, "PYTHONPATH": str(root / "work" / "absent")}
    for name in ("spacy", "fastapi"):
        result = subprocess.run(
            [sys.executable, "-c", f"import {name}"], env=env, capture_output=True, text=True
        )
        assert result.returncode != 0 and "not on the GPU machine" in result.stderr
