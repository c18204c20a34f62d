"""The scorer: srl-eval.pl's output byte for byte on real cases, its rules on small hand-counted ones,
dependency scoring, and errors that name the file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from albert_srl.data import Argument, Frame, Predicate, Sentence
from albert_srl.errors import SRLFormatError
from albert_srl.scorer import (
    dependency_score_to_json,
    format_dependency_report,
    format_report,
    read_props,
    score,
    score_dependencies,
    score_files,
    score_to_json,
)

CASES = Path(__file__).resolve().parents[2] / "shared" / "scorer-cases"
CASE_DIRS = sorted(p for p in CASES.iterdir() if p.is_dir()) if CASES.is_dir() else []


def frame(index: int, lemma: str | None, *spans: tuple[str, int, int], sense: str | None = None) -> Frame:
    return Frame(Predicate(index, lemma or "w", lemma=lemma, sense=sense), [Argument(*s) for s in spans])


def sentence(length: int, *frames: Frame) -> Sentence:
    return Sentence(words=[f"w{i}" for i in range(length)], frames=list(frames))


# --- srl-eval.pl's own output on real data -----------------------------------------------------------


@pytest.mark.corpus
@pytest.mark.parametrize("case", CASE_DIRS, ids=[p.name for p in CASE_DIRS])
def test_reproduces_srl_eval_output_byte_for_byte(case: Path) -> None:
    flags = (case / "args").read_text().split()
    result = score(read_props(case / "gold.props"), read_props(case / "pred.props"))
    report = format_report(result, confusion="-C" in flags, latex="-latex" in flags)
    assert report == (case / "expected.out").read_text()
    assert (case / "expected.rc").read_text().strip() == "0"


@pytest.mark.corpus
def test_score_files_detects_props_input() -> None:
    if not CASE_DIRS:
        pytest.skip("../shared/scorer-cases is absent")
    case = CASE_DIRS[-1]
    flags = (case / "args").read_text().split()
    report = format_report(score_files(case / "gold.props", case / "pred.props"), confusion="-C" in flags)
    assert report == (case / "expected.out").read_text()


# --- srl-eval.pl's rules, counted by hand ---------------------------------------------------------------

GOLD = sentence(
    7,
    frame(2, "give", ("ARG0", 0, 2), ("V", 2, 3), ("ARG1", 3, 4), ("C-ARG1", 5, 6), ("R-ARG0", 6, 7)),
)


def test_identical_frames_score_100_and_are_perfect() -> None:
    result = score([GOLD], [GOLD])
    # ARG0, ARG1 (with its C- piece, one argument) and R-ARG0; V in its own row.
    assert (result.overall.correct, result.overall.excess, result.overall.missed) == (3, 0, 0)
    assert set(result.roles) == {"ARG0", "ARG1", "R-ARG0"}
    assert result.excluded["V"].correct == 1
    assert (result.propositions, result.perfect, result.f1) == (1, 1, 100.0)


def test_continuation_is_correct_only_with_all_its_pieces() -> None:
    head_only = sentence(7, frame(2, "give", ("ARG0", 0, 2), ("V", 2, 3), ("ARG1", 3, 4), ("R-ARG0", 6, 7)))
    result = score([GOLD], [head_only])
    arg1 = result.roles["ARG1"]
    assert (arg1.correct, arg1.excess, arg1.missed) == (0, 1, 1)
    assert (result.overall.correct, result.overall.excess, result.overall.missed) == (2, 1, 1)
    assert result.perfect == 0
    assert result.precision == pytest.approx(100 * 2 / 3)


def test_continuation_without_base_becomes_the_base_role() -> None:
    gold = sentence(3, frame(0, "go", ("V", 0, 1), ("ARG1", 1, 2)))
    pred = sentence(3, frame(0, "go", ("V", 0, 1), ("C-ARG1", 1, 2)))
    assert score([gold], [pred]).roles["ARG1"].correct == 1


def test_missing_and_spurious_and_relemmatised_predicates() -> None:
    gold = sentence(5, frame(0, "a", ("V", 0, 1), ("ARG1", 1, 2)), frame(3, "b", ("V", 3, 4), ("ARG0", 4, 5)))
    # Predicate 0 has another lemma (all missed), 3 is missing, 2 is spurious (ignored entirely).
    pred = sentence(5, frame(0, "z", ("V", 0, 1), ("ARG1", 1, 2)), frame(2, "c", ("V", 2, 3), ("ARG2", 3, 5)))
    result = score([gold], [pred])
    assert (result.overall.correct, result.overall.excess, result.overall.missed) == (0, 0, 2)
    assert result.excluded["V"].missed == 2 and result.excluded["V"].excess == 0
    assert "ARG2" not in result.roles
    assert result.propositions == 2


def test_v_errors_do_not_spoil_a_perfect_proposition() -> None:
    gold = sentence(2, frame(0, "go", ("V", 0, 1)))
    assert score([gold], [sentence(2)]).perfect == 1  # only V missed: perfect, as in srl-eval.pl


def test_predicate_without_lemma_aligns_by_position() -> None:
    pred = sentence(7, frame(2, None, ("ARG0", 0, 2), ("V", 2, 3)))
    assert score([GOLD], [pred]).roles["ARG0"].correct == 1


def test_report_layout_and_confusion() -> None:
    gold = sentence(4, frame(1, "go", ("ARG0", 0, 1), ("V", 1, 2), ("ARG1", 2, 4)))
    pred = sentence(4, frame(1, "go", ("ARG1", 0, 1), ("V", 1, 2), ("ARG1", 2, 4)))
    result = score([gold], [pred])
    report = format_report(result, confusion=True)
    assert "Percentage of perfect props :   0.00\n" in report
    assert "   Overall        1       1       1    50.00   50.00   50.00\n" in report
    assert "      ARG0        0       0       1     0.00    0.00    0.00\n" in report
    assert " Unlabeled        2       0       0   100.00  100.00  100.00   50.00\n" in report
    assert result.confusion["ARG0"]["ARG1"] == 1 and result.confusion["ARG1"]["ARG1"] == 1
    matrix = report.split("---- Confusion Matrix")[1].splitlines()
    assert matrix[1].split() == ["-1", "0", "1", "2"]  # -NONE-, ARG0, ARG1, V
    assert matrix[3].split() == ["0:", "ARG0", "0", "0", "1", "0"]


def test_latex_table() -> None:
    result = score([GOLD], [GOLD])
    latex = format_report(result, latex=True)
    assert latex.startswith("\\begin{table}[t]\n")
    assert "Overall    & 100.00\\% & 100.00\\% & 100.00\\\\\n" in latex
    assert latex.endswith("\\end{tabular}\n\\end{table}\n")


def test_json_has_the_report_numbers() -> None:
    data = json.loads(json.dumps(score_to_json(score([GOLD], [GOLD]))))
    assert data["overall"]["f1"] == 100.0 and data["perfect_propositions"] == 1
    assert data["excluded"]["V"]["correct"] == 1 and set(data["roles"]) == {"ARG0", "ARG1", "R-ARG0"}


# --- bad input ------------------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


PROPS = "- (ARG0*)\ngo (V*)\n\n- *\nrun (V*)\n- (ARG1*)\n\n"


def test_sentence_count_mismatch_names_file_and_line(tmp_path: Path) -> None:
    gold = write(tmp_path / "gold.props", PROPS)
    pred = write(tmp_path / "pred.props", "- (ARG0*)\ngo (V*)\n\n")
    with pytest.raises(SRLFormatError) as caught:
        score_files(gold, pred)
    assert (caught.value.path, caught.value.line) == (str(gold), 4)
    assert "sentence 2" in str(caught.value)


def test_word_count_mismatch_names_file_and_line(tmp_path: Path) -> None:
    gold = write(tmp_path / "gold.props", PROPS)
    pred = write(tmp_path / "pred.props", "- (ARG0*)\ngo (V*)\n\n- *\nrun (V*)\n- (ARG1*)\n- *\n")
    with pytest.raises(SRLFormatError) as caught:
        score_files(gold, pred)
    assert (caught.value.path, caught.value.line) == (str(pred), 4)
    assert f"{pred}:4:" in str(caught.value)


def test_score_without_files_names_the_sentence() -> None:
    with pytest.raises(SRLFormatError, match="sentence 1"):
        score([sentence(3)], [sentence(4)], "g.props", "p.props")


def test_bad_brackets_and_ragged_rows_name_the_line(tmp_path: Path) -> None:
    unclosed = write(tmp_path / "unclosed.props", "- *\ngo (V*)\n- (ARG1*\n\n")
    with pytest.raises(SRLFormatError) as caught:
        list(read_props(unclosed))
    assert caught.value.line == 3
    ragged = write(tmp_path / "ragged.props", "- *\n\n- *\ngo (V*)\n- \n")
    with pytest.raises(SRLFormatError) as caught:
        list(read_props(ragged))
    assert caught.value.line == 5


# --- dependency scoring ---------------------------------------------------------------------------


def test_dependency_scores_counted_by_hand() -> None:
    gold = sentence(
        5,
        frame(1, "eat", ("ARG0", 0, 1), ("V", 1, 2), ("ARG1", 3, 4), sense="eat.01"),
        frame(3, "x", ("ARG0", 0, 1), sense="x.01"),
    )
    pred = sentence(
        5,
        frame(1, "eat", ("ARG0", 0, 1), ("V", 1, 2), ("ARG2", 3, 4), ("ARGM-TMP", 4, 5), sense="eat.02"),
        frame(4, "y", ("ARG1", 2, 3), sense="y.01"),
    )
    result = score_dependencies([gold], [pred])
    # gold triples: (1,0,ARG0) (1,3,ARG1) (3,0,ARG0); pred: (1,0,ARG0) (1,3,ARG2) (1,4,TMP) (4,2,ARG1)
    assert (result.labeled.correct, result.labeled.excess, result.labeled.missed) == (1, 3, 2)
    assert result.labeled.f1 == pytest.approx(2 * 25 * (100 / 3) / (25 + 100 / 3))
    assert (result.unlabeled.correct, result.unlabeled.excess, result.unlabeled.missed) == (2, 2, 1)
    assert (result.predicates.correct, result.predicates.excess, result.predicates.missed) == (1, 1, 1)
    assert (result.roles["ARG1"].excess, result.roles["ARG1"].missed) == (1, 1)
    assert (result.senses_correct, result.senses_total) == (0, 2)
    assert "V" not in result.roles
    report = format_dependency_report(result)
    assert "   Labeled        1       3       2    25.00   33.33   28.57\n" in report
    assert "Sense accuracy :   0.00 (0/2)" in report
    assert json.loads(json.dumps(dependency_score_to_json(result)))["sense_accuracy"] == 0.0


def test_dependency_senses_unscored_when_predictions_have_none() -> None:
    gold = sentence(2, frame(0, "go", ("V", 0, 1), ("ARG0", 1, 2), sense="go.01"))
    pred = sentence(2, frame(0, "go", ("V", 0, 1), ("ARG0", 1, 2)))
    result = score_dependencies([gold], [pred])
    assert result.sense_accuracy is None and result.labeled.f1 == 100.0
    assert "Sense accuracy" not in format_dependency_report(result)
