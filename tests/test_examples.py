"""Every script in ``examples/`` runs as its docstring says, on small data, with the shipped model.

Scripts run in this process (``runpy``, as ``__main__``) so that torch is imported once for them all.
"""

from __future__ import annotations

import gzip
import json
import runpy
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import serving

from albert_srl import SRLTagger, read

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SAMPLE = REPO / "corpora" / "sample.gold_conll"
TEXT = "President Bush nominated two judges on Tuesday. The Senate confirmed them."


def run_example(name: str, *args: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", [str(EXAMPLES / name), *args])
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")


def test_every_example_has_a_test() -> None:
    tested = {"tag_to_json.py", "train_evaluate_load.py", "stream_tag.py", "call_server.py"}
    assert {path.name for path in EXAMPLES.glob("*.py")} == tested


def test_tag_to_json_prints_tuples_whose_offsets_index_the_text(monkeypatch, capsys) -> None:
    run_example("tag_to_json.py", TEXT, monkeypatch=monkeypatch)
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {"nominate.01", "confirm.01"} <= {r["sense"] for r in records}
    nominated = next(r for r in records if r["sense"] == "nominate.01")
    assert ["nominated", "ARG0", "President Bush"] in nominated["tuples"]
    confirmed = next(r for r in records if r["sense"] == "confirm.01")
    assert confirmed["sentence"] == "The Senate confirmed them."
    for record in records:
        texts = {text for _, _, text in record["tuples"]}
        assert {TEXT[start:end] for _, start, end in record["spans"]} == texts


def test_train_evaluate_load_on_the_sample(tmp_path, monkeypatch, capsys) -> None:
    output = tmp_path / "run"
    run_example("train_evaluate_load.py", str(SAMPLE), str(SAMPLE), str(output), monkeypatch=monkeypatch)
    out = capsys.readouterr().out
    assert "Number of Propositions :           6" in out and "Overall" in out
    assert (output / "best" / "model.safetensors").exists()
    predicted = list(read(output / "dev.pred.gold_conll"))
    assert [len(s.frames) for s in predicted] == [len(s.frames) for s in read(SAMPLE)]


def test_stream_tag_writes_every_sentence_and_reports_a_bad_line(tmp_path, monkeypatch, caplog) -> None:
    lines = [b"The board approved the merger. Shares rose.", b"", b"Bad \xff byte here.", b""]
    lines += [b"She gave him a book on Monday.", b""] * 40
    source = tmp_path / "big.txt.gz"
    source.write_bytes(gzip.compress(b"\n".join(lines)))
    target = tmp_path / "tagged.jsonl"
    run_example("stream_tag.py", str(source), str(target), monkeypatch=monkeypatch)
    sentences = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(sentences) == 2 + 40
    assert sentences[0]["text"] == "The board approved the merger." and sentences[1]["char_start"] == 31
    assert "big.txt.gz:3: invalid UTF-8 byte 0xff" in caplog.text


@pytest.fixture
def server_url() -> Iterator[str]:
    """The shipped model served by uvicorn in a thread, as ``albert-srl serve`` serves it."""
    from albert_srl.serving.serve import create_app

    with serving(create_app(SRLTagger.from_pretrained(device="cpu"))) as url:
        yield url


def test_call_server_prints_the_frames(server_url, monkeypatch, capsys) -> None:
    run_example("call_server.py", TEXT, server_url, monkeypatch=monkeypatch)
    out = capsys.readouterr().out.splitlines()
    assert any(line.startswith("nominate.01 [('ARG0', 'President Bush')") for line in out)
    assert json.loads(out[-1])[2] == "B-V"
