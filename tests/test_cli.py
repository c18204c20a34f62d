"""The ``albert-srl`` command: tag (formats, stdin, odd input, long sentences, shards), predict, evaluate,
convert, and its error messages."""

from __future__ import annotations

import gzip
import io
import json
import logging
import sys
from pathlib import Path

import pytest

from albert_srl.cli import main
from albert_srl.formats import read
from albert_srl.tagging.tagger import SRLTagger

SAMPLE = Path(__file__).resolve().parents[1] / "corpora" / "sample.gold_conll"


@pytest.fixture(scope="session")
def model_dir(trained_tiny_tagger: SRLTagger, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_tiny_tagger.save_pretrained(tmp_path_factory.mktemp("cli_model"))


def run_tag(
    args: list[str],
    model_dir: Path,
    stdin: bytes,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> tuple[int, str]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code = main(["tag", "--model", str(model_dir), "--quiet", *args])
    return code, capsys.readouterr().out


def test_tag_reads_stdin_and_prints_readable_frames(model_dir, monkeypatch, capsys) -> None:
    code, out = run_tag([], model_dir, b"The board approved the plan. It rained.\n", monkeypatch, capsys)
    assert code == 0
    blocks = [b for b in out.split("\n\n") if b.strip()]
    assert [b.splitlines()[0] for b in blocks] == ["The board approved the plan.", "It rained."]


def test_tag_jsonl_offsets_point_at_the_argument_text(model_dir, monkeypatch, capsys) -> None:
    text = b"  The committee approved  the new budget on Tuesday.\n\nThe board  [approved] it .\n"
    code, out = run_tag(["--format", "jsonl"], model_dir, text, monkeypatch, capsys)
    assert code == 0
    sentences = [json.loads(line) for line in out.splitlines()]
    assert len(sentences) == 2
    arguments = [a for s in sentences for f in s["frames"] for a in f["arguments"]]
    assert arguments, "the tiny model tags at least the V of the predicates it finds"
    paragraphs = text.decode().split("\n\n")  # offsets index the paragraph each sentence came from
    assert [s["char_start"] for s in sentences] == [2, 0]
    for sentence, paragraph in zip(sentences, paragraphs, strict=True):
        start = sentence["char_start"]
        assert paragraph[start : start + len(sentence["text"])] == sentence["text"]
        for frame in sentence["frames"]:
            for argument in frame["arguments"]:
                assert paragraph[argument["char_start"] : argument["char_end"]] == argument["text"]


def test_tokenized_input_with_marked_predicates_tags_only_those(model_dir, monkeypatch, capsys) -> None:
    text = b"The board [approved] the plan and [said] so .\n"
    code, out = run_tag(["--tokenized", "--format", "jsonl"], model_dir, text, monkeypatch, capsys)
    assert code == 0
    sentence = json.loads(out)
    assert sentence["words"][2] == "approved"
    assert [f["predicate"]["index"] for f in sentence["frames"]] == [2, 6]


def test_conll_and_allennlp_outputs_read_back(model_dir, monkeypatch, capsys, tmp_path) -> None:
    text = b"The board [approved] the plan .\n"
    code, out = run_tag(["--tokenized", "--format", "conll"], model_dir, text, monkeypatch, capsys)
    assert code == 0
    (tmp_path / "out.gold_conll").write_text(out)
    [sentence] = read(tmp_path / "out.gold_conll", "conll12")
    assert sentence.words[2] == "approved" and [f.predicate.index for f in sentence.frames] == [2]
    code, out = run_tag(["--tokenized", "--format", "allennlp"], model_dir, text, monkeypatch, capsys)
    view = json.loads(out)
    assert view["words"][2] == "approved" and view["verbs"][0]["tags"][2] == "B-V"


def test_odd_lines_are_reported_skipped_and_the_run_goes_on(model_dir, monkeypatch, capsys, caplog) -> None:
    text = (
        b"The board approved the plan.\n"
        b"\n\n"
        b"A bell \x07 rang.\n"
        b"\n"
        b"Bad bytes \xff\xfe here.\n"
        b"\n"
        b"Tokyo \xe6\x9d\xb1\xe4\xba\xac and " + b"x" * 300 + b" were seen.\n"
        b"\n"
        b"The end came.\n"
    )
    with caplog.at_level(logging.WARNING):
        code, out = run_tag(["--format", "jsonl"], model_dir, text, monkeypatch, capsys)
    assert code == 1, "the exit code says something was skipped"
    texts = [json.loads(line)["text"] for line in out.splitlines()]
    assert texts[0] == "The board approved the plan." and texts[-1] == "The end came."
    assert any("東京" in t for t in texts), "mixed scripts and long words are tagged, not dropped"
    messages = caplog.text
    assert "<stdin>:4:" in messages and "<stdin>:6:" in messages


def test_a_sentence_longer_than_the_window_is_tagged_whole(trained_tiny_tagger, caplog) -> None:
    words = ["The", "board", "approved", "the", "plan", "."] * 60  # far more subwords than 256
    with caplog.at_level(logging.WARNING):
        [sentence] = trained_tiny_tagger.tag([words], predicates=[[2]])
    assert "overlapping windows" in caplog.text
    assert len(sentence.frames[0].tags(len(words))) == len(words)


def test_shards_partition_a_file_in_input_order(model_dir, tmp_path, capsys) -> None:
    path = tmp_path / "corpus.txt"
    path.write_text("".join(f"Sentence {i} was read.\n" + ("\n" if i % 2 else "") for i in range(12)))
    outputs = []
    for index in range(3):
        assert (
            main(
                [
                    "tag",
                    str(path),
                    "--model",
                    str(model_dir),
                    "-q",
                    "--format",
                    "jsonl",
                    "--shard",
                    f"{index}/3",
                ]
            )
            == 0
        )
        outputs.append(capsys.readouterr().out)
    assert main(["tag", str(path), "--model", str(model_dir), "-q", "--format", "jsonl"]) == 0
    whole = capsys.readouterr().out
    assert all(outputs) and "".join(outputs) == whole


def test_predict_then_evaluate_on_a_conll_file(model_dir, tmp_path, capsys) -> None:
    predicted = tmp_path / "pred.gold_conll"
    assert main(["predict", str(model_dir), str(SAMPLE), "-o", str(predicted), "-q"]) == 0
    gold, pred = list(read(SAMPLE)), list(read(predicted))
    assert [s.words for s in gold] == [s.words for s in pred]
    assert [[f.predicate.index for f in s.frames] for s in gold] == [
        [f.predicate.index for f in s.frames] for s in pred
    ]
    capsys.readouterr()
    assert main(["evaluate", str(SAMPLE), str(predicted), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["overall"]["f1"] == pytest.approx(100.0)


def test_evaluate_and_convert_round_trip(tmp_path, capsys) -> None:
    props = tmp_path / "sample.props"
    assert main(["convert", str(SAMPLE), str(props), "--to", "props"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(SAMPLE), str(props)]) == 0
    assert "100.00  100.00  100.00" in capsys.readouterr().out


def test_bad_files_give_one_line_naming_file_and_line(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.props"
    bad.write_text("-\t*\nsay\t(V*\n")
    assert main(["evaluate", str(bad), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("albert-srl: error: ") and f"{bad}:" in err and "Traceback" not in err
    assert main(["evaluate", str(tmp_path / "missing.props"), str(bad)]) == 2
    assert "missing.props" in capsys.readouterr().err
    assert main(["tag", "--model", str(tmp_path / "no-model")]) == 2
    assert "no-model" in capsys.readouterr().err


def test_predict_without_a_model_uses_the_shipped_one(tmp_path, capsys) -> None:
    default, explicit = tmp_path / "default.gold_conll", tmp_path / "explicit.gold_conll"
    assert main(["predict", str(SAMPLE), "-o", str(default), "-q", "--device", "cpu"]) == 0
    shipped = Path(__file__).resolve().parents[1] / "albert_srl" / "models" / "default"
    assert main(["predict", str(shipped), str(SAMPLE), "-o", str(explicit), "-q", "--device", "cpu"]) == 0
    assert default.read_text() == explicit.read_text()
    assert [len(s.frames) for s in read(default)] == [len(s.frames) for s in read(SAMPLE)]


def test_tag_writes_gzip_when_the_output_name_ends_in_gz(model_dir, monkeypatch, capsys, tmp_path) -> None:
    out = tmp_path / "out.jsonl.gz"
    code, _ = run_tag(["--format", "jsonl", "-o", str(out)], model_dir, b"It rained.\n", monkeypatch, capsys)
    assert code == 0
    with gzip.open(out, "rt", encoding="utf-8") as stream:
        assert json.loads(stream.readline())["words"] == ["It", "rained", "."]


def test_evaluate_reads_gzip_by_content_whatever_its_name(tmp_path, capsys) -> None:
    packed = tmp_path / "gold.props"  # gzip content, no .gz in the name
    packed.write_bytes(gzip.compress(SAMPLE.with_suffix(".props").read_bytes()))
    assert main(["evaluate", str(packed), str(SAMPLE.with_suffix(".props"))]) == 0
    assert "100.00  100.00  100.00" in capsys.readouterr().out


def test_corrupt_gzip_and_bad_utf8_give_one_line_naming_the_file(tmp_path, capsys) -> None:
    corrupt = tmp_path / "corrupt.props"
    corrupt.write_bytes(gzip.compress(b"-\t*\n" * 200)[:12])  # the header and two bytes
    latin = tmp_path / "latin.props"
    latin.write_bytes("caf\xe9\t*\n".encode("latin-1"))
    for bad in (corrupt, latin):
        assert main(["evaluate", str(bad), str(SAMPLE.with_suffix(".props"))]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"albert-srl: error: {bad}") and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1


def test_evaluate_scores_conllu_by_head_words_unless_told_spans(tmp_path, capsys) -> None:
    conllu = SAMPLE.with_suffix(".conllu")
    assert main(["evaluate", str(conllu), str(conllu), "--json"]) == 0
    assert "labeled" in json.loads(capsys.readouterr().out)  # the dependency (CoNLL-2009) scores
    converted = tmp_path / "sample.jsonl"  # dependency-based JSON lines stay dependency-based
    assert main(["convert", str(conllu), str(converted), "--to", "jsonl"]) == 0
    assert main(["evaluate", str(converted), str(conllu), "--json"]) == 0
    assert "labeled" in json.loads(capsys.readouterr().out)
    assert main(["evaluate", str(conllu), str(conllu), "--json", "--spans"]) == 0
    assert "overall" in json.loads(capsys.readouterr().out)
