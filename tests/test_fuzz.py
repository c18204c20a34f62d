"""Fuzzing every reader and the file commands with damaged input (hypothesis): whatever the bytes, a
command ends with exit 0, or with one ``albert-srl: error: FILE[:LINE]: ...`` line and a non-zero exit;
never a traceback. ``convert`` never writes a file its own reader rejects, and keeps every sentence read
before the bad one. ``FUZZ_EXAMPLES`` raises the number of cases (docs/reliability.md: the long run)."""

from __future__ import annotations

import gzip
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from albert_srl.cli import main
from albert_srl.errors import SRLFormatError
from albert_srl.formats import read

CORPORA = Path(__file__).resolve().parents[1] / "corpora"
SAMPLES = {
    "conll12": CORPORA / "sample.gold_conll",
    "conll05": CORPORA / "sample.conll05",
    "props": CORPORA / "sample.props",
    "conllu": CORPORA / "sample.conllu",
    "jsonl": CORPORA / "sample.jsonl",
}
SUFFIX = {
    "conll12": ".gold_conll",
    "conll05": ".conll05",
    "props": ".props",
    "conllu": ".conllu",
    "jsonl": ".jsonl",
}
OUT_FORMATS = ["conll12", "conll05", "props", "conllu", "jsonl", "allennlp"]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
ERROR_LINE = re.compile(r"^albert-srl: error: (?P<path>[^:]+)(:(?P<line>\d+))?: \S")

# ------------------------------------------------------------------------------------------ damage


@st.composite
def damaged_bytes(draw: st.DrawFn, original: bytes) -> bytes:
    """The sample file with one to three kinds of damage: bytes flipped, inserted or cut, lines
    dropped, doubled or swapped, cells changed, brackets nested, the file cut short or gzipped."""
    data = original
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(
            st.sampled_from(["flip", "insert", "cut", "line", "cell", "nest", "truncate", "gzip", "bom"])
        )
        lines = data.split(b"\n")
        if kind == "flip" and data:
            at = draw(st.integers(0, len(data) - 1))
            data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
        elif kind == "insert":
            at = draw(st.integers(0, len(data)))
            junk = draw(
                st.sampled_from(
                    [b"\t", b"(", b"*)", b"\xff\xfe", b"\r", b"\x00", b"[" * 3000, b'{"', "\ufeff".encode()]
                )
            )
            data = data[:at] + junk + data[at:]
        elif kind == "cut" and data:
            start = draw(st.integers(0, len(data) - 1))
            data = data[:start] + data[start + draw(st.integers(1, 40)) :]
        elif kind == "line" and len(lines) > 1:
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            action = draw(st.sampled_from(["drop", "double", "swap"]))
            if action == "drop":
                del lines[i]
            elif action == "double":
                lines.insert(i, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            data = b"\n".join(lines)
        elif kind == "cell":
            i = draw(st.integers(0, len(lines) - 1))
            cells = lines[i].split(b"\t")
            k = draw(st.integers(0, len(cells) - 1))
            cells[k] = draw(
                st.sampled_from([b"", b"-", b"_", b"*", b"(A0*", b"x y", b"1.7", b"true", b"(V*)(A1*"])
            )
            if draw(st.booleans()) and len(cells) > 1:
                del cells[draw(st.integers(0, len(cells) - 1))]
            lines[i] = b"\t".join(cells)
            data = b"\n".join(lines)
        elif kind == "nest":
            data = data.replace(b"(A0*", b"(A0(AM-ADV*", 1).replace(b"(ARG0*", b"(ARG0(ARGM-ADV*", 1)
        elif kind == "truncate" and data:
            data = data[: draw(st.integers(0, len(data) - 1))]
        elif kind == "gzip":
            packed = gzip.compress(data)
            data = packed[: draw(st.integers(0, len(packed)))] if draw(st.booleans()) else packed
        elif kind == "bom":
            data = b"\xef\xbb\xbf" + data
    return data


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``main(argv)`` in this process: its exit code and its standard error. An exception escaping
    ``main`` fails the test: that is a traceback."""
    code = main(argv)
    with suppress(InvalidArgument):  # outside a hypothesis test there is nothing to count
        event(f"exit {code}")  # the statistics (--hypothesis-show-statistics) count clean refusals
    return code, capsys.readouterr().err


def assert_clean_failure(code: int, err: str, *paths: Path) -> None:
    """A failure is a non-zero exit with one error line naming a file (and a line when it has one)."""
    assert "Traceback" not in err, err
    if code == 0:
        return
    errors = [line for line in err.splitlines() if line.startswith("albert-srl: error:")]
    assert len(errors) == 1, err
    match = ERROR_LINE.match(errors[0])
    assert match is not None and any(path.name in match["path"] for path in paths), errors[0]


def sentences_before_error(path: Path, format: str | None) -> tuple[int, bool]:
    """How many sentences ``read`` yields before it raises, and whether it raised."""
    count = 0
    try:
        for _ in read(path, format):
            count += 1
    except SRLFormatError:
        return count, True
    return count, False


@contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


# ------------------------------------------------------------------------------------------ readers


@pytest.mark.parametrize("format", list(SAMPLES))
@FUZZ
@given(data=st.data())
def test_damaged_files_convert_cleanly_and_never_to_an_unreadable_file(
    format: str, data: st.DataObject, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged = data.draw(damaged_bytes(SAMPLES[format].read_bytes()))
    to = data.draw(st.sampled_from(OUT_FORMATS))
    with workdir() as directory:
        source = directory / f"in{SUFFIX[format]}"
        source.write_bytes(damaged)
        output = directory / f"out.{to}"
        code, err = run(["convert", str(source), str(output), "--to", to], capsys)
        assert_clean_failure(code, err, source)
        assert code in (0, 2)
        readable, _ = sentences_before_error(source, None) if code == 0 or output.exists() else (0, True)
        if output.exists() and output.stat().st_size:
            back, back_raised = sentences_before_error(output, "conll05" if to == "props" else to)
            assert not back_raised, f"convert wrote a file its reader rejects: {output.read_text()[:400]}"
            if to not in ("props",):  # props of a sentence with no predicate are still one sentence
                assert back == readable, "sentences read before the error were lost"


@pytest.mark.parametrize("format", list(SAMPLES))
@FUZZ
@given(data=st.data())
def test_damaged_files_evaluate_cleanly(
    format: str, data: st.DataObject, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged = data.draw(damaged_bytes(SAMPLES[format].read_bytes()))
    with workdir() as directory:
        source = directory / f"gold{SUFFIX[format]}"
        source.write_bytes(damaged)
        code, err = run(["evaluate", str(source), str(SAMPLES[format])], capsys)
        assert_clean_failure(code, err, source, SAMPLES[format])  # a misaligned pair names either


# ------------------------------------------------------------------------------------------ jsonl records

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 12), st.floats(allow_nan=False, width=16),
                    st.text(max_size=6))  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
)
words = st.lists(st.sampled_from(["a", "b", "The", "", " ", "x\ty", "-", "_", "#", "(", "*"]), max_size=5)
tags = st.lists(
    st.sampled_from(["O", "B-ARG0", "I-ARG0", "B-V", "I-V", "X", "garbage", "B-", "I-ARG1"]), max_size=5
)


@st.composite
def jsonl_records(draw: st.DrawFn) -> dict[str, Any]:
    """Objects near the schema: the right keys, each with a right or wrong value."""
    record: dict[str, Any] = {"words": draw(words | json_values)}
    frames = []
    for _ in range(draw(st.integers(0, 3))):
        predicate = {"index": draw(st.integers(-1, 5) | json_values)}
        if draw(st.booleans()):
            predicate["sense"] = draw(st.sampled_from(["go.01", "", "a b"]) | json_values)
        frame: dict[str, Any] = {"predicate": predicate}
        if draw(st.booleans()):
            frame["tags"] = draw(tags | json_values)
        else:
            frame["arguments"] = [
                {"role": draw(st.sampled_from(["ARG0", "V", "A B", "(X", ""]) | json_values),
                 "start": draw(st.integers(-1, 5) | json_values),
                 "end": draw(st.integers(0, 6) | json_values)}
                for _ in range(draw(st.integers(0, 3)))
            ]  # fmt: skip
        frames.append(frame)
    record["frames"] = frames if draw(st.integers(0, 9)) else draw(json_values)
    for key in ("pos", "doc_id", "part", "text", "offsets", "dependency"):
        if draw(st.integers(0, 3)) == 0:
            record[key] = draw(json_values)
    return record


@FUZZ
@given(records=st.lists(jsonl_records(), min_size=1, max_size=4), to=st.sampled_from(OUT_FORMATS))
def test_jsonl_records_convert_cleanly_and_round_trip(
    records: list[dict[str, Any]], to: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with workdir() as directory:
        source = directory / "in.jsonl"
        source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        output = directory / f"out.{to}"
        code, err = run(["convert", str(source), str(output), "--to", to], capsys)
        assert_clean_failure(code, err, source)
        if code == 0:
            _, raised = sentences_before_error(output, "conll05" if to == "props" else to)
            assert not raised, f"convert wrote a file its reader rejects: {output.read_text()[:400]}"


@pytest.mark.parametrize(
    "line",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"words": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"words": ["a", "b"], "frames": [{"predicate": {"index": 1}, "arguments": []}, '
        '{"predicate": {"index": 1}, "arguments": []}]}',
        '{"words": ["a", "b", "c"], "pos": [1, 2, 3], "frames": []}',
        '{"words": ["a"], "doc_id": 5, "frames": []}',
        '{"words": ["a", "b", "c"], "frames": [{"predicate": {"index": 1}, "arguments": '
        '[{"role": "ARG0", "start": 0, "end": 2}, {"role": "ARG1", "start": 1, "end": 3}]}]}',
        '{"words": ["a", "b"], "frames": [{"predicate": {"index": 1.7}, "arguments": []}]}',
        '{"words": ["a", "b"], "frames": [{"predicate": {"index": true}, "arguments": []}]}',
        '{"words": ["a", "b"], "frames": [{"predicate": {"index": 1}, "tags": ["X", "garbage"]}]}',
    ],
    ids=[
        "deep-array",
        "deep-words",
        "duplicate-predicate",
        "int-pos",
        "int-doc-id",
        "overlap",
        "float-index",
        "bool-index",
        "bad-tags",
    ],
)
def test_each_listed_jsonl_case_is_one_error_at_its_line(
    tmp_path: Path, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    good = SAMPLES["jsonl"].read_text(encoding="utf-8").splitlines()[0]
    source = tmp_path / "in.jsonl"
    source.write_text(good + "\n" + line + "\n", encoding="utf-8")
    for argv in (["convert", str(source), str(tmp_path / "out.conll"), "--to", "conll12"],
                 ["evaluate", str(source), str(source)]):  # fmt: skip
        code, err = run(argv, capsys)
        assert code == 2 and f"{source}:2: " in err, err
    assert len(list(read(tmp_path / "out.conll"))) == 1  # the good sentence before it was kept


@pytest.mark.parametrize(
    ("name", "content", "where"),
    [
        (
            "nested.gold_conll",
            "d\t0\t0\tHe\t-\t*\t-\t-\t-\t-\t*\t(ARG0(ARGM-ADV*\t-\n"
            "d\t0\t1\tran\t-\t*\trun\trun.01\t-\t-\t*\t*)\t-\n\n",
            ":1: ",
        ),
        ("short.conllu", "1\tHello\thello\n\n", ":1: 3 columns"),
        ("header.gz", gzip.compress(b"x\n")[:10], ": damaged gzip"),
        ("corrupt.jsonl", gzip.compress(b"y" * 500)[:12] + b"\x00garbage" * 10, ": damaged gzip"),
        ("plain.gz", "-\t(A0*\n-\t*)\nrun\t(V*)\n\n", None),
        ("latin1.props", "caf\xe9\t(V*)\n".encode("latin-1"), ":1: not UTF-8"),
        ("utf16.props", "-\t(V*)\n".encode("utf-16"), ":1: not UTF-8"),
    ],
    ids=[
        "nested-brackets",
        "conllu-3-columns",
        "gzip-header-only",
        "corrupt-gzip",
        "plain-named-gz",
        "latin-1",
        "utf-16",
    ],
)
def test_each_listed_file_case(tmp_path: Path, name: str, content: str | bytes, where: str | None,
                               capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    source = tmp_path / name
    source.write_bytes(content if isinstance(content, bytes) else content.encode())
    for argv in (["convert", str(source), str(tmp_path / "out.jsonl"), "--to", "jsonl"],
                 ["evaluate", str(source), str(source)]):  # fmt: skip
        code, err = run(argv, capsys)
        if where is None:
            assert code == 0, err
        else:
            assert code == 2 and f"{source}{where}" in err, err


def test_a_bom_on_any_line_of_a_props_gold_does_not_change_the_score(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = SAMPLES["props"].read_text(encoding="utf-8").rstrip("\n") + "\n\n"
    plain, bommed = tmp_path / "plain.props", tmp_path / "bom.props"
    plain.write_text(text * 2, encoding="utf-8")
    bommed.write_text(("\ufeff" + text) * 2, encoding="utf-8")  # two files concatenated, BOMs and all

    def score(gold: Path) -> dict[str, Any]:
        code = main(["evaluate", str(gold), str(plain), "--json"])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        return json.loads(captured.out)

    with_boms, without = score(bommed), score(plain)
    assert with_boms == without
    assert (without["sentences"], without["propositions"], without["overall"]["f1"]) == (8, 12, 100.0)


# ------------------------------------------------------------------------------------------ output safety


def test_convert_refuses_to_write_over_its_input_by_any_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "a.jsonl"
    source.write_bytes(SAMPLES["jsonl"].read_bytes())
    (tmp_path / "link.jsonl").symlink_to(source)
    os.link(source, tmp_path / "hard.jsonl")
    for output in (source, tmp_path / "link.jsonl", tmp_path / "hard.jsonl", tmp_path / "." / "a.jsonl"):
        code, err = run(["convert", str(source), str(output), "--to", "jsonl"], capsys)
        assert code == 2 and "refusing to overwrite it" in err, err
    assert source.read_bytes() == SAMPLES["jsonl"].read_bytes()


def test_an_output_is_written_whole_or_not_at_all(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "out.jsonl"
    output.write_text("previous\n", encoding="utf-8")
    missing = tmp_path / "missing.jsonl"
    code, err = run(["convert", str(missing), str(output), "--to", "jsonl"], capsys)
    assert code == 2 and "missing.jsonl" in err
    assert output.read_text(encoding="utf-8") == "previous\n"  # never opened: the input failed first
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left
