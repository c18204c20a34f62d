"""Silver labelling (``albert_srl.tagging.label``, ``albert-srl label``): documents whole and in order,
tagged end to end with their probabilities, filtered by confidence, and resumed byte for byte."""

from __future__ import annotations

import gzip
import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from conftest import fixture_text_lines

from albert_srl import formats
from albert_srl.cli import main
from albert_srl.config import LabelOptions
from albert_srl.data import Sentence
from albert_srl.errors import SRLFormatError
from albert_srl.tagging import label as label_module
from albert_srl.tagging.label import LabelSummary, confident, label
from albert_srl.tagging.tagger import SRLTagger

DOCUMENTS = 9


@pytest.fixture(scope="module")
def text_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Nine documents, gzip like Wikipedia's shards: a title line, then two paragraphs of two lines each
    (a line of the fixture text is a sentence or two)."""
    lines = fixture_text_lines(40)
    blocks = [
        "\n".join([f"Title {d}", " ".join(lines[4 * d : 4 * d + 2]), " ".join(lines[4 * d + 2 : 4 * d + 4])])
        for d in range(DOCUMENTS)
    ]
    path = tmp_path_factory.mktemp("text") / "news-001.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write("\n\n".join(blocks) + "\n")
    return path


def options(**chosen: Any) -> LabelOptions:
    return LabelOptions(**{"format": "jsonl", "title_lines": True, "batch_documents": 2, **chosen})


@pytest.fixture(scope="module")
def whole(trained_tiny_tagger: SRLTagger, text_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The text labelled in one run with ``options()``, the output other runs are compared with."""
    out = tmp_path_factory.mktemp("whole") / "silver.jsonl"
    label(trained_tiny_tagger, [text_file], out, options())
    return out


def test_documents_are_tagged_whole_and_in_order_with_their_probabilities(
    trained_tiny_tagger: SRLTagger, whole: Path
) -> None:
    recorded = json.loads(whole.with_name(whole.name + ".progress.json").read_text())
    summary = LabelSummary(**recorded["summary"])
    written = list(formats.read(whole))
    ids = [s.doc_id for s in written]
    assert ids == sorted(ids) and set(ids) == {f"news-001/{d:06d}" for d in range(DOCUMENTS)}
    assert not any("Title" in s.words for s in written)  # each block's first line is its title
    first = [s for s in written if s.doc_id == "news-001/000000"]
    assert [s.text for s in first] == [s.text for s in written[: len(first)]]
    assert (summary.documents, summary.sentences, summary.frames) == (
        DOCUMENTS,
        len(written),
        sum(len(s.frames) for s in written),
    )
    frames = [f for s in written for f in s.frames]
    assert frames and all(0 < f.probability <= 1 and 0 < f.predicate.probability <= 1 for f in frames)
    assert any(not s.frames for s in written)  # a sentence without predicates is kept: it teaches too
    # end to end: what the model finds, as tag() finds it
    again = trained_tiny_tagger.tag([Sentence(s.words) for s in written[:6]])
    assert [[f.predicate.index for f in s.frames] for s in again] == [
        [f.predicate.index for f in s.frames] for s in written[:6]
    ]


def test_conll12_output_is_what_train_reads(trained_tiny_tagger: SRLTagger, text_file: Path, tmp_path: Path):
    jsonl, conll = tmp_path / "silver.jsonl", tmp_path / "silver.gold_conll"
    label(trained_tiny_tagger, [text_file], jsonl, options())
    label(trained_tiny_tagger, [text_file], conll, options(format="conll12"))
    assert formats.detect_format(conll) == "conll12"
    as_conll = list(formats.read(conll))
    as_json = list(formats.read(jsonl))
    assert [(s.words, s.doc_id) for s in as_conll] == [(s.words, s.doc_id) for s in as_json]
    assert [spans(s) for s in as_conll] == [spans(s) for s in as_json]


def spans(sentence: Sentence) -> list[tuple[int, str | None, list[tuple[str, int, int]]]]:
    return [
        (f.predicate.index, f.predicate.sense, [(a.role, a.start, a.end) for a in f.arguments])
        for f in sentence.frames
    ]


def least_confidence(sentence: Sentence) -> float:
    return min((f.confidence or 0.0 for f in sentence.frames), default=1.0)


def test_min_confidence_keeps_the_sentences_whose_every_frame_reaches_it(
    trained_tiny_tagger: SRLTagger, text_file: Path, whole: Path, tmp_path: Path
) -> None:
    everything = list(formats.read(whole))
    values = sorted({least_confidence(s) for s in everything if s.frames})
    # a threshold halfway across the widest gap near the middle: rounding to four decimals cannot move a
    # sentence across it
    gaps = [(b - a, (a + b) / 2) for a, b in pairwise(values)]
    middle = gaps[len(gaps) // 4 : 3 * len(gaps) // 4 + 1]
    threshold = max(middle)[1]
    out = tmp_path / "sure.jsonl"
    summary = label(trained_tiny_tagger, [text_file], out, options(min_confidence=threshold))
    kept = list(formats.read(out))
    expected = [s for s in everything if least_confidence(s) >= threshold]
    assert [s.words for s in kept] == [s.words for s in expected]
    assert 0 < len(kept) < len(everything)
    assert any(not s.frames for s in kept)
    assert summary.below_confidence == len(everything) - len(kept)


def label_to(tagger: SRLTagger, text_file: Path, out: Path, **chosen: Any) -> Path:
    label(tagger, [text_file], out, options(**chosen))
    return out


def test_confident_needs_every_frame_and_a_probability() -> None:
    from albert_srl.data import Frame, Predicate

    sure = Frame(Predicate(0, "a", probability=0.9), probability=0.9)  # confidence 0.81
    unsure = Frame(Predicate(1, "b", probability=0.9), probability=0.5)
    unknown = Frame(Predicate(1, "b"))
    assert confident(Sentence(["a", "b"], [sure]), 0.8)
    assert not confident(Sentence(["a", "b"], [sure, unsure]), 0.8)
    assert not confident(Sentence(["a", "b"], [unknown]), 0.1)
    assert confident(Sentence(["a", "b"]), 0.99) and confident(Sentence(["a", "b"], [unknown]), None)


def test_limits_stop_after_whole_documents(
    trained_tiny_tagger: SRLTagger, text_file: Path, whole: Path, tmp_path: Path
) -> None:
    everything = list(formats.read(whole))
    first = [s for s in everything if s.doc_id == "news-001/000000"]
    out = label_to(trained_tiny_tagger, text_file, tmp_path / "some.jsonl", max_sentences=len(first) + 1)
    assert list(formats.read(out)) == [s for s in everything if s.doc_id <= "news-001/000001"]
    out = label_to(trained_tiny_tagger, text_file, tmp_path / "three.jsonl", max_documents=3)
    assert {s.doc_id for s in formats.read(out)} == {f"news-001/{d:06d}" for d in range(3)}


def test_sentences_over_max_words_are_left_out_and_counted(
    trained_tiny_tagger: SRLTagger, text_file: Path, whole: Path, tmp_path: Path
) -> None:
    everything = list(formats.read(whole))
    out = tmp_path / "short.jsonl"
    summary = label(trained_tiny_tagger, [text_file], out, options(max_words=10))
    assert [s.words for s in formats.read(out)] == [s.words for s in everything if len(s.words) <= 10]
    assert summary.too_long == sum(len(s.words) > 10 for s in everything) > 0


class Killed(Exception):
    """Stands for a kill."""


@pytest.mark.parametrize("name", ["silver.jsonl", "silver.gold_conll.gz"])
def test_a_killed_run_resumed_writes_the_bytes_of_one_whole_run(
    trained_tiny_tagger: SRLTagger,
    text_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    chosen = {"format": "conll12"} if name.endswith(".gz") else {}
    expected = label_to(trained_tiny_tagger, text_file, tmp_path / "whole" / name, **chosen)
    out = tmp_path / "killed" / name
    out.parent.mkdir()
    saved = label_module.save_progress
    calls = []

    def die_before_the_third_record(*args: Any) -> None:
        calls.append(args)
        if len(calls) == 3:  # the third batch is written to disk, but not recorded
            raise Killed
        saved(*args)

    monkeypatch.setattr(label_module, "save_progress", die_before_the_third_record)
    with pytest.raises(Killed):
        label(trained_tiny_tagger, [text_file], out, options(**chosen))
    monkeypatch.undo()
    recorded = json.loads((out.parent / f"{name}.progress.json").read_text())["summary"]
    assert recorded["documents"] == 4 and out.stat().st_size > recorded["bytes"]
    with pytest.raises(SRLFormatError, match="exists"):
        label(trained_tiny_tagger, [text_file], out, options(**chosen))  # never over it without resume

    summary = label(trained_tiny_tagger, [text_file], out, options(**chosen), resume=True)
    assert out.read_bytes() == expected.read_bytes()
    assert summary.documents == DOCUMENTS


def test_a_run_stopped_inside_a_batch_resumes_to_the_bytes_of_one_whole_run(
    trained_tiny_tagger: SRLTagger, text_file: Path, tmp_path: Path
) -> None:
    """Documents 3 and 4 share a batch: the resumed run tags it whole again, as the whole run did, since a
    sentence's probabilities move with the sentences tagged beside it."""
    expected = label_to(trained_tiny_tagger, text_file, tmp_path / "whole.jsonl", batch_documents=4)
    out = label_to(trained_tiny_tagger, text_file, tmp_path / "out.jsonl", batch_documents=4, max_documents=3)
    assert {s.doc_id for s in formats.read(out)} == {f"news-001/{d:06d}" for d in range(3)}
    label(trained_tiny_tagger, [text_file], out, options(batch_documents=4), resume=True)
    assert out.read_bytes() == expected.read_bytes()


def test_a_resume_with_other_settings_is_refused(
    trained_tiny_tagger: SRLTagger, text_file: Path, tmp_path: Path
) -> None:
    out = label_to(trained_tiny_tagger, text_file, tmp_path / "out.jsonl", max_documents=2)
    before = out.read_bytes()
    with pytest.raises(SRLFormatError, match=r"started with min_confidence None, not 0\.5"):
        label(trained_tiny_tagger, [text_file], out, options(min_confidence=0.5), resume=True)
    assert out.read_bytes() == before
    (tmp_path / "out.jsonl.progress.json").unlink()
    with pytest.raises(SRLFormatError, match="nothing says how far"):
        label(trained_tiny_tagger, [text_file], out, options(), resume=True)


def test_inputs_and_outputs_it_refuses(trained_tiny_tagger: SRLTagger, text_file: Path, tmp_path: Path):
    dev = tmp_path / "en-dev.txt"
    dev.write_text("The board approved it.\n", encoding="utf-8")
    other = tmp_path / "other"
    other.mkdir()
    (other / text_file.name).write_bytes(text_file.read_bytes())
    cases = [
        ([dev], tmp_path / "a.jsonl", "dev or test split"),
        ([tmp_path / "absent.txt"], tmp_path / "b.jsonl", "no such file"),
        ([tmp_path], tmp_path / "c.jsonl", "a directory, not a text file"),
        (["-"], tmp_path / "d.jsonl", "not standard input"),
        ([text_file], text_file, "is the input"),
        ([text_file, other / text_file.name], tmp_path / "e.jsonl", "another input is named news-001 too"),
    ]
    for paths, out, message in cases:
        with pytest.raises(SRLFormatError, match=message):
            label(trained_tiny_tagger, paths, out, options(), resume=True)
        assert not (tmp_path / out.name).exists() or out == text_file


@pytest.fixture(scope="module")
def tiny_model_dir(trained_tiny_tagger: SRLTagger, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_tiny_tagger.save_pretrained(tmp_path_factory.mktemp("model") / "tiny")


def test_the_command_labels_and_sums_up(
    tiny_model_dir: Path, text_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "silver.conll"
    argv = ["label", str(text_file), "-o", str(out), "--model", str(tiny_model_dir), "--title-lines"]
    assert main([*argv, "--max-documents", "4", "--min-confidence", "0.3", "--device", "cpu"]) == 0
    line = capsys.readouterr().out.strip()
    summary = LabelSummary(**json.loads((tmp_path / "silver.conll.progress.json").read_text())["summary"])
    assert line == (
        f"{out}: 4 documents, {summary.sentences} sentences with {summary.frames} frames written; left "
        f"out: {summary.below_confidence} below confidence 0.3, 0 over 200 words"
    )
    assert summary.sentences == len(list(formats.read(out, "conll12")))
    assert main([*argv, "--min-confidence", "0.3", "--device", "cpu", "--resume"]) == 0
    assert capsys.readouterr().out.startswith(f"{out}: {DOCUMENTS} documents")
    uninterrupted = tmp_path / "whole.conll"
    argv[3] = str(uninterrupted)
    assert main([*argv, "--min-confidence", "0.3", "--device", "cpu"]) == 0
    assert out.read_bytes() == uninterrupted.read_bytes()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--min-confidence", "1.5"], "min_confidence is 1.5: allowed from 0 to 1"),
        (["--format", "text"], "invalid choice: 'text'"),
        (["--batch-documents", "0"], "batch_documents is 0"),
    ],
)
def test_bad_flags_are_one_error_line(
    text_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["label", str(text_file), "-o", str(tmp_path / "out.conll"), *extra])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_refused_output_is_one_error_line_before_any_model_loads(
    text_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = tmp_path / "mine.conll"
    taken.write_text("a user's file\n", encoding="utf-8")
    argv = ["label", str(text_file), "-o", str(taken), "--model", str(tmp_path / "no-model")]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        f"albert-srl: error: {taken}: exists: choose another output, or go on with --resume\n"
    )
    assert taken.read_text(encoding="utf-8") == "a user's file\n"
