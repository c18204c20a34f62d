"""Readers and writers: what the samples hold, round trips in every format, errors that name path:line."""

from __future__ import annotations

import gzip
import io
import json
import re
import shutil
import tempfile
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from albert_srl.data import Argument, Frame, Predicate, Sentence
from albert_srl.errors import SRLFormatError
from albert_srl.formats import convert, detect_format, read, read_conll2005, write
from albert_srl.formats.allennlp import describe

CORPORA = Path(__file__).resolve().parents[1] / "corpora"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora"
SAMPLES = {
    "sample.gold_conll": "conll12",
    "sample.conll05": "conll05",
    "sample.props": "conll05",
    "sample.conllu": "conllu",
    "sample.jsonl": "jsonl",
}


def spans(sentence: Sentence) -> list[tuple[int, list[tuple[str, int, int]]]]:
    """What every format keeps: each predicate's position and its labelled spans."""
    return [(f.predicate.index, [(a.role, a.start, a.end) for a in f.arguments]) for f in sentence.frames]


def rewrite(sentences: list[Sentence], tmp_path: Path, format: str, name: str = "out") -> list[Sentence]:
    path = tmp_path / name
    assert write(sentences, path, format) == len(sentences)
    return list(read(path, "conll05" if format == "props" else format))


# ---------------------------------------------------------------------------------------------------
# What the samples hold (expected values read off the hand-written files)


def test_conll2012_sample_fields() -> None:
    sentences = list(read(CORPORA / "sample.gold_conll"))
    assert len(sentences) == 4
    first, second, thanks, said = sentences
    assert first.doc_id == "sample/news_001" and first.part == "0"
    assert thanks.doc_id == "sample/email_002" and thanks.part == "1"
    assert first.pos is not None and first.pos[2] == "VBD"
    assert first.frames[0].predicate == Predicate(2, "nominated", lemma="nominate", sense="nominate.01")
    assert first.frames[0].tuples() == [
        ("nominated", "ARG0", "President Bush"),
        ("nominated", "ARG1", "two judges"),
        ("nominated", "ARGM-TMP", "on Tuesday"),
    ]
    appoint, pick = second.frames
    assert spans(second)[0] == (5, [("ARG1", 0, 2), ("R-ARG1", 3, 4), ("V", 5, 6)])
    assert pick.predicate == Predicate(7, "picked", lemma="pick_up", sense="pick_up.01")
    assert [(a.role, a.start, a.end) for a in pick.arguments if "V" in a.role] == [("V", 7, 8), ("C-V", 8, 9)]
    assert appoint.predicate.lemma == "appoint"
    assert thanks.words == ["Thanks", "!"] and thanks.frames == []
    assert [f.predicate.index for f in said.frames] == [1, 6, 9]
    assert ("C-ARG1", 8, 11) in spans(said)[1][1]
    assert not said.dependency


def test_conll2005_sample_matches_conll2012_sample() -> None:
    ontonotes = list(read(CORPORA / "sample.gold_conll"))
    conll05 = list(read(CORPORA / "sample.conll05"))
    assert [s.words for s in conll05] == [s.words for s in ontonotes]
    renamed = {"A0": "ARG0", "A1": "ARG1", "R-A1": "R-ARG1", "C-A1": "C-ARG1"}
    for old, new in zip(conll05, ontonotes, strict=True):
        relabelled = [
            (index, [(renamed.get(role, role.replace("AM-", "ARGM-")), s, e) for role, s, e in args])
            for index, args in spans(old)
        ]
        assert relabelled == spans(new)
    assert conll05[1].frames[1].predicate == Predicate(7, "picked", lemma="pick")


def test_props_alone_have_placeholder_words_and_words_file_fills_them() -> None:
    alone = list(read_conll2005(CORPORA / "sample.props"))
    assert alone[0].words == ["_"] * 8
    assert alone[0].frames[0].predicate == Predicate(2, "nominate", lemma="nominate")
    with_words = list(read_conll2005(CORPORA / "sample.props", CORPORA / "sample.words"))
    combined = list(read(CORPORA / "sample.conll05"))
    assert with_words == combined


def test_conllu_sample_skips_multiword_tokens_and_empty_nodes() -> None:
    first, second, thanks = read(CORPORA / "sample.conllu")
    assert first.dependency and first.doc_id == "sample-news-001"
    assert first.text == "President Bush nominated two judges on Tuesday."
    assert first.frames[0].tuples() == [
        ("nominated", "ARG0", "President"),
        ("nominated", "ARG1", "judges"),
        ("nominated", "ARGM-TMP", "Tuesday"),
    ]
    assert second.words[:3] == ["Do", "n't", "go"] and len(second.words) == 12
    assert second.doc_id == "sample-news-001"
    assert [f.predicate.sense for f in second.frames] == ["go.02", "say.01", "rule.01"]
    assert all(a.end == a.start + 1 for f in second.frames for a in f.arguments)
    assert spans(second)[1] == (5, [("ARG1", 2, 3), ("ARG0", 4, 5), ("V", 5, 6)])
    assert thanks.words == ["Thanks", ",", "Ann", "and", "Bob", "!"] and thanks.doc_id == "sample-email-002"


def test_jsonl_sample_frames_from_tags_and_offsets() -> None:
    sentences = list(read(CORPORA / "sample.jsonl"))
    first, _, _, rained = sentences
    assert first.span_text(0, 2) == "President Bush" and first.frames[0].arguments[0].char_end == 14
    assert spans(rained) == [(1, [("ARG0", 0, 1), ("V", 1, 2), ("ARG1", 2, 4)]), (3, [("V", 3, 4)])]
    assert rained.frames[0].arguments[2].text == "it rained"


# ---------------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_round_trips_in_its_own_format(name: str, tmp_path: Path) -> None:
    format = SAMPLES[name]
    sentences = list(read(CORPORA / name, format))
    out_format = "props" if name.endswith(".props") else format
    assert rewrite(sentences, tmp_path, out_format) == sentences


@pytest.mark.parametrize("format", ["conll12", "conll05", "props", "jsonl", "allennlp"])
def test_span_samples_keep_their_spans_in_every_format(format: str, tmp_path: Path) -> None:
    sentences = list(read(CORPORA / "sample.gold_conll"))
    back = rewrite(sentences, tmp_path, format)
    assert [spans(s) for s in back] == [spans(s) for s in sentences]
    if format != "props":
        assert [s.words for s in back] == [s.words for s in sentences]


def test_conll2012_to_jsonl_keeps_everything(tmp_path: Path) -> None:
    sentences = list(read(CORPORA / "sample.gold_conll"))
    assert rewrite(sentences, tmp_path, "jsonl") == sentences


def test_conllu_to_conll2012_and_back_to_conllu(tmp_path: Path) -> None:
    sentences = list(read(CORPORA / "sample.conllu"))
    via_conll12 = rewrite(sentences, tmp_path, "conll12", "a")
    assert [spans(s) for s in via_conll12] == [spans(s) for s in sentences]
    again = rewrite(via_conll12, tmp_path, "conllu", "b")
    assert [spans(s) for s in again] == [spans(s) for s in sentences]


def test_conllu_writer_puts_a_span_on_its_last_word(tmp_path: Path) -> None:
    sentence = next(read(CORPORA / "sample.gold_conll"))
    (back,) = rewrite([sentence], tmp_path, "conllu")
    assert spans(back) == [(2, [("ARG0", 1, 2), ("V", 2, 3), ("ARG1", 4, 5), ("ARGM-TMP", 6, 7)])]


def test_sense_and_lemma_survive_or_stay_unknown(tmp_path: Path) -> None:
    words = ["It", "rained", "and", "poured", "."]
    frames = [
        Frame(Predicate(1, "rained", lemma="rain", sense=None), [Argument("V", 1, 2, "rained")]),
        Frame(Predicate(3, "poured", lemma=None, sense=None), [Argument("V", 3, 4, "poured")]),
    ]
    sentence = Sentence(words, frames)
    for format in ("conll12", "conllu"):
        (back,) = rewrite([sentence], tmp_path, format, format)
        assert [(f.predicate.lemma, f.predicate.sense) for f in back.frames] == [("rain", None), (None, None)]


def test_allennlp_view_matches_allennlp_description(tmp_path: Path) -> None:
    sentences = list(read(CORPORA / "sample.gold_conll"))
    path = tmp_path / "out.json"
    write(sentences, path, "allennlp")
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert first["words"] == sentences[0].words
    (verb,) = first["verbs"]
    assert verb["verb"] == "nominated"
    assert (
        verb["description"]
        == "[ARG0: President Bush] [V: nominated] [ARG1: two judges] [ARGM-TMP: on Tuesday] ."
    )
    assert verb["tags"] == ["B-ARG0", "I-ARG0", "B-V", "B-ARG1", "I-ARG1", "B-ARGM-TMP", "I-ARGM-TMP", "O"]
    assert detect_format(path) == "allennlp"


def test_allennlp_lines_without_index_take_the_b_v_word(tmp_path: Path) -> None:
    path = tmp_path / "predictions.json"
    verb = {"verb": "ran", "description": "[ARG0: He] [V: ran]", "tags": ["B-ARG0", "B-V", "O"]}
    path.write_text(json.dumps({"verbs": [verb], "words": ["He", "ran", "."]}) + "\n", encoding="utf-8")
    (sentence,) = read(path)
    assert spans(sentence) == [(1, [("ARG0", 0, 1), ("V", 1, 2)])]
    assert describe(["a", "b", "c"], ["B-X", "I-X", "O"]) == "[X: a b] c"


role = st.sampled_from(["ARG0", "ARG1", "ARGM-TMP", "C-ARG1", "R-ARG0"])


@st.composite
def sentences(draw: st.DrawFn) -> Sentence:
    """A sentence whose frames have random non-overlapping spans and a V on the predicate."""
    length = draw(st.integers(1, 12))
    words = [f"w{i}" for i in range(length)]
    predicates = sorted(draw(st.sets(st.integers(0, length - 1), max_size=3)))
    frames = []
    for index in predicates:
        cuts = sorted(draw(st.sets(st.integers(0, length), min_size=2, max_size=8)))
        arguments = [Argument("V", index, index + 1, words[index])]
        for start, end in pairwise(cuts):
            if (end <= index or start > index) and draw(st.booleans()):
                arguments.append(Argument(draw(role), start, end, " ".join(words[start:end])))
        arguments.sort(key=lambda a: a.start)
        frames.append(
            Frame(Predicate(index, words[index], lemma=f"l{index}", sense=f"l{index}.01"), arguments)
        )
    return Sentence(words, frames)


@settings(max_examples=40, deadline=None)
@given(st.lists(sentences(), min_size=1, max_size=3))
def test_random_spans_round_trip_through_conll2012_and_jsonl(drawn: list[Sentence]) -> None:
    for format in ("conll12", "jsonl"):
        stream = io.StringIO()
        write(drawn, stream, format)
        assert read_text(stream.getvalue(), format) == drawn


def read_text(text: str, format: str) -> list[Sentence]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "file"
        path.write_text(text, encoding="utf-8")
        return list(read(path, format))


# ---------------------------------------------------------------------------------------------------
# Files, streams, detection


def test_gzip_in_and_out(tmp_path: Path) -> None:
    packed = tmp_path / "sample.gold_conll.gz"
    with gzip.open(packed, "wb") as stream:
        stream.write((CORPORA / "sample.gold_conll").read_bytes())
    assert list(read(packed)) == list(read(CORPORA / "sample.gold_conll"))
    assert convert(packed, tmp_path / "out.jsonl.gz", to="jsonl") == 4
    with gzip.open(tmp_path / "out.jsonl.gz", "rt", encoding="utf-8") as stream:
        assert len(stream.read().splitlines()) == 4
    assert list(read(tmp_path / "out.jsonl.gz")) == list(read(packed))


def test_write_to_stream_and_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    sentences = list(read(CORPORA / "sample.gold_conll"))
    stream = io.StringIO()
    assert write(sentences, stream, "props") == 4
    assert stream.getvalue().splitlines()[2] == "nominate\t(V*)"
    write(sentences[2:3], "-", "conll05")
    assert capsys.readouterr().out == "Thanks\t-\n!\t-\n\n"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_detect_format_from_content_whatever_the_name(name: str, tmp_path: Path) -> None:
    assert detect_format(CORPORA / name) == SAMPLES[name]
    unnamed = tmp_path / "data.txt"
    shutil.copy(CORPORA / name, unnamed)
    assert detect_format(unnamed) == SAMPLES[name]


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown format"):
        write([], tmp_path / "x", "xml")


# ---------------------------------------------------------------------------------------------------
# Errors name path:line


def write_lines(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def conll12_row(index: int, word: str, roleset: str = "-", *arguments: str) -> str:
    return "\t".join(["d", "0", str(index), word, "NN", "*", "-", roleset, "-", "-", "*", *arguments, "-"])


def raises_at(path: Path, line: int | None, match: str, format: str | None = None) -> None:
    with pytest.raises(SRLFormatError, match=match) as caught:
        list(read(path, format))
    where = str(path) if line is None else f"{path}:{line}"
    assert str(caught.value).startswith(f"{where}: ")
    assert caught.value.line == line


def test_unbalanced_bracket_names_its_line(tmp_path: Path) -> None:
    rows = [
        conll12_row(0, "a", "-", "*"),
        conll12_row(1, "b", "b.01", "(V*"),
        conll12_row(2, "c", "-", "(ARG1*)"),
    ]
    path = write_lines(tmp_path, "bad_conll", ["", *rows])
    raises_at(path, 4, "opens a span", "conll12")


def test_never_closed_bracket_names_the_last_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path, "bad.props", ["-\t*", "go\t(V*", "-\t*", "", "-\t*"])
    raises_at(path, 3, "never closed", "conll05")


def test_row_with_wrong_number_of_columns(tmp_path: Path) -> None:
    rows = [conll12_row(0, "a", "a.01", "(V*)"), conll12_row(1, "b", "-", "*", "*")]
    path = write_lines(tmp_path, "bad_conll", rows)
    raises_at(path, 2, "columns where the sentence's first line has", "conll12")


def test_predicate_count_differs_from_argument_columns(tmp_path: Path) -> None:
    rows = [conll12_row(0, "a", "a.01", "(V*)"), conll12_row(1, "b", "b.01", "*")]
    path = write_lines(tmp_path, "x", ["#begin document (d); part 000", *rows])
    raises_at(path, 2, "2 predicate rows .* but 1 argument columns", "conll12")
    path = write_lines(tmp_path, "y.conll05", ["It\t-\t*\t*", "rained\train\t(V*)\t*", ""])
    raises_at(path, 1, "lemma column", "conll05")
    path = write_lines(
        tmp_path, "z.conllu", ["# text = a b", "1\ta\ta\tX\tX\t_\t0\troot\t_\t_\ta.01\tV\tARG0"]
    )
    raises_at(path, 1, "1 predicates .* but 2 argument columns", "conllu")


def test_a_lemma_that_is_a_bracket_cell_names_its_line(tmp_path: Path) -> None:
    """A damaged row whose lemma column holds a bracket (found by tests/test_fuzz.py): read, it would be
    written back as a row that reads as props, with one predicate too many."""
    path = write_lines(tmp_path, "d.conll05", ["It\t-\t*", "rained\train\t(V*)", "", "She\t-\t(A0t\t(V*\t*"])
    raises_at(path, 4, "predicate lemma '\\(V\\*' \\(column 4\\) is a bracket cell", "conll05")


@pytest.mark.parametrize(
    ("format", "lemma"),
    [("conll05", "-"), ("conll05", "(V*"), ("props", "*)"), ("conll12", "-"), ("conllu", "_")],
)
def test_a_predicate_marked_by_a_cell_its_format_reads_as_none_is_refused(
    format: str, lemma: str, tmp_path: Path
) -> None:
    """A sense-less lemma from another format (here JSON lines) that a column format would write into
    the cell marking the predicate, where its reader takes it for no predicate (or, in CoNLL-2005, a
    bracket column), stops the writing at its sentence, the sentences before it written. JSON lines
    keeps it."""
    good = Sentence(["It", "rained"], [Frame(Predicate(1, "rained", lemma="rain"), [])])
    odd = Sentence(["She", "ran"], [Frame(Predicate(1, "ran", lemma=lemma), [])])
    source = tmp_path / "in.jsonl"
    write([good, odd], source, "jsonl")
    out = tmp_path / f"out.{format}"
    with pytest.raises(
        SRLFormatError, match=f"cannot write sentence 2: .*word 1 would be marked '{re.escape(lemma)}'"
    ):
        convert(source, out, format)
    assert [s.frames[0].predicate.lemma for s in read(out, "conll05" if format == "props" else format)] == [
        "rain"
    ]
    assert [s.frames[0].predicate.lemma for s in read(source)] == ["rain", lemma]


def test_non_utf8_byte_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.props"
    path.write_bytes("-\t*\nné\t(V*)\n\n".encode() + "-\t*\ncaf\xe9\t(V*)\n".encode("latin-1"))
    raises_at(path, 5, "not UTF-8 text: byte 0xe9 at column 4", "conll05")


@pytest.mark.parametrize("format", ["conll12", "conll05", "conllu", "jsonl", "allennlp"])
def test_empty_file(format: str, tmp_path: Path) -> None:
    path = write_lines(tmp_path, "empty", ["", ""])
    raises_at(path, None, "empty", format)
    with pytest.raises(SRLFormatError, match="empty"):
        detect_format(path)


def test_bad_json_and_bad_schema(tmp_path: Path) -> None:
    good = json.dumps({"words": ["a"], "frames": []})
    raises_at(write_lines(tmp_path, "a.jsonl", [good, "", '{"words": ["a"']), 3, "not valid JSON", "jsonl")
    bad_index = json.dumps({"words": ["a"], "frames": [{"predicate": {"index": 4}, "arguments": []}]})
    raises_at(write_lines(tmp_path, "b.jsonl", [good, bad_index]), 2, "outside the sentence", "jsonl")
    no_verbs = json.dumps({"words": ["a"]})
    raises_at(write_lines(tmp_path, "c.json", [no_verbs]), 1, "verbs", "allennlp")


def test_bad_conllu_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path, "bad.conllu", ["# text = a b", "1\ta\t_\t_\t_\t_\t0\troot\t_\t_", "x\tb\t_"])
    raises_at(path, 3, "3 columns where a CoNLL-U row has 10", "conllu")
    path = write_lines(
        tmp_path, "bad.conllu", ["1\ta\t_\t_\t_\t_\t0\troot\t_\t_", "x\tb\t_\t_\t_\t_\t0\troot\t_\t_"]
    )
    raises_at(path, 2, "not a CoNLL-U line: 'x' is not a CoNLL-U ID", "conllu")
    path = write_lines(tmp_path, "spaces.conllu", ["1 a _ _ _ _ 0 root _ _"])
    raises_at(path, 1, "not a CoNLL-U line: its columns are not separated by tabs", "conllu")


def test_conllu_reads_as_many_argument_columns_as_predicates(tmp_path: Path) -> None:
    """The argument columns are one field of conllu's (the rest of the row), so no number of them is
    dropped: 600 predicates, each its own argument."""
    rows = [f"{i + 1}\tw{i}\t_\t_\t_\t_\t0\troot\t_\t_\tw{i}.01\t" + "\t".join(
        "V" if j == i else "_" for j in range(600)) for i in range(600)]  # fmt: skip
    (sentence,) = read(write_lines(tmp_path, "wide.conllu", rows), "conllu")
    assert len(sentence.frames) == 600
    assert all(f.arguments == [Argument("V", i, i + 1, f"w{i}")] for i, f in enumerate(sentence.frames))


def test_conllu_is_read_through_its_public_api() -> None:
    import ast

    import conllu

    tree = ast.parse((Path(__file__).parents[1] / "albert_srl" / "formats" / "conllu.py").read_text())
    imported = [(node.module, a.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                for a in node.names if (node.module or "").startswith("conllu")]  # fmt: skip
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name) and node.value.id == "conllu"}  # fmt: skip
    assert all(module == "conllu" and name in conllu.__all__ for module, name in imported), imported
    assert used and used <= set(conllu.__all__), used


def test_words_file_that_does_not_fit(tmp_path: Path) -> None:
    words = write_lines(tmp_path, "w", ["It", "rained", "today", ""])
    props = write_lines(tmp_path, "p", ["-\t*", "rain\t(V*)", ""])
    with pytest.raises(SRLFormatError, match="3 words where the props sentence has 2") as caught:
        list(read_conll2005(props, words))
    assert str(caught.value).startswith(f"{words}:1: ")


# ---------------------------------------------------------------------------------------------------
# The real corpora


def shared(name: str) -> Path:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return path


@pytest.mark.corpus
def test_ewt_counts() -> None:
    for name, sentences, predicates in [("train", 12_034, 38_747), ("dev", 1_920, 4_882)]:
        read_sentences = list(read(shared(f"ewt/{name}.gold_conll.gz")))
        assert len(read_sentences) == sentences
        assert sum(len(s.frames) for s in read_sentences) == predicates


@pytest.mark.corpus
def test_ewt_dev_round_trips(tmp_path: Path) -> None:
    path = shared("ewt/dev.gold_conll.gz")
    assert detect_format(path) == "conll12"
    sentences = list(read(path))
    assert rewrite(sentences, tmp_path, "jsonl", "dev.jsonl") == sentences
    assert rewrite(sentences, tmp_path, "conll12", "dev_conll") == sentences
    conll05 = rewrite(sentences, tmp_path, "conll05", "dev.conll05")
    assert [spans(s) for s in conll05] == [spans(s) for s in sentences]
    assert [s.words for s in conll05] == [s.words for s in sentences]


@pytest.mark.corpus
def test_up_dev_reads_and_round_trips(tmp_path: Path) -> None:
    path = shared("up/en_ewt-up-dev.conllu")
    assert detect_format(path) == "conllu"
    sentences = list(read(path))
    assert len(sentences) == 2_002
    assert all(s.dependency for s in sentences)
    assert sum(len(s.frames) for s in sentences) > 4_000
    assert rewrite(sentences, tmp_path, "conllu", "dev.conllu") == sentences
    assert rewrite(sentences, tmp_path, "jsonl", "dev.jsonl") == sentences


@pytest.mark.corpus
def test_up_chinese_layout_reads_and_round_trips(tmp_path: Path) -> None:
    sentences = list(read(shared("up/zh-up-dev.conllu")))
    assert len(sentences) == 500
    first = sentences[0].frames[0]
    assert (first.predicate.index, first.predicate.sense) == (7, "cause.01")  # row 8: Y cause.01
    assert rewrite(sentences, tmp_path, "conllu", "zh.conllu") == sentences


def test_spans_to_conllu_warns_what_it_loses(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    gold = list(read(CORPORA / "sample.gold_conll"))
    multi_word = sum(a.end - a.start > 1 for s in gold for f in s.frames for a in f.arguments)
    with caplog.at_level("WARNING"):
        convert(CORPORA / "sample.gold_conll", tmp_path / "out.conllu", to="conllu")
    assert multi_word > 0 and f"{multi_word} of " in caplog.text and "last word" in caplog.text
    back = list(read(tmp_path / "out.conllu"))
    assert all(a.end - a.start == 1 for s in back for f in s.frames for a in f.arguments)
    caplog.clear()
    with caplog.at_level("WARNING"):
        convert(tmp_path / "out.conllu", tmp_path / "again.conllu", to="conllu")  # heads stay heads
    assert "last word" not in caplog.text
