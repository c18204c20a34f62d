"""The scores as ``srl-eval.pl`` prints them (text, ``-latex``, ``-C`` confusion) and as JSON, for span
scores and for CoNLL-2009-style dependency scores."""

from __future__ import annotations

from typing import Any

from albert_srl.scorer.dependency import DependencyScore
from albert_srl.scorer.spans import NONE, RoleCounts, SpanScore

_RULE = "-" * 60
_HEADER = f"{'':>10}   {'corr.':>6}  {'excess':>6}  {'missed':>6}   {'prec.':>6}  {'rec.':>6}  {'F1':>6}"
_UNLABELED_RULE = "-" * 68


def format_report(result: SpanScore, confusion: bool = False, latex: bool = False) -> str:
    """Exactly what ``srl-eval.pl [-C] [-latex] gold pred`` prints on its standard output."""
    text = _latex_table(result) if latex else _text_table(result)
    if confusion:
        text += _unlabeled_block(result) + _confusion_matrix(result)
    return text


def _row_line(name: str, counts: RoleCounts) -> str:
    return (
        f"{name:>10}   {counts.correct:6d}  {counts.excess:6d}  {counts.missed:6d}   "
        f"{counts.precision:6.2f}  {counts.recall:6.2f}  {counts.f1:6.2f}\n"
    )


def _text_table(result: SpanScore) -> str:
    lines = [
        f"Number of Sentences    :      {result.sentences:6d}\n",
        f"Number of Propositions :      {result.propositions:6d}\n",
        f"Percentage of perfect props : {result.perfect_percent:6.2f}\n",
        "\n",
        _HEADER + "\n",
        _RULE + "\n",
        _row_line("Overall", result.overall),
        "----------\n",
        *(_row_line(role, result.roles[role]) for role in sorted(result.roles)),
        _RULE + "\n",
        *(_row_line(role, result.excluded[role]) for role in sorted(result.excluded)),
        _RULE + "\n",
    ]
    return "".join(lines)


def _latex_line(name: str, counts: RoleCounts) -> str:
    return f"{name:<10} & {counts.precision:6.2f}\\% & {counts.recall:6.2f}\\% & {counts.f1:6.2f}\\\\\n"


def _latex_table(result: SpanScore) -> str:
    lines = [
        "\\begin{table}[t]\n",
        "\\centering\n",
        "\\begin{tabular}{|l|r|r|r|}\\cline{2-4}\n",
        "\\multicolumn{1}{l|}{}\n",
        # srl-eval.pl prints four backslashes here (a Perl quoting slip, kept for byte equality).
        "           & Precision & Recall & F$_{\\beta=1}$\\\\\\\\\n",
        "\\hline\n",
        _latex_line("Overall", result.overall),
        "\\hline\n",
        *(_latex_line(role, result.roles[role]) for role in sorted(result.roles)),
        "\\hline\n",
        "\\hline\n",
        *(_latex_line(role, result.excluded[role]) for role in sorted(result.excluded)),
        "\\hline\n",
        "\\end{tabular}\n",
        "\\end{table}\n",
    ]
    return "".join(lines)


def _unlabeled_block(result: SpanScore) -> str:
    counts, accuracy = result.unlabeled()
    row = _row_line("Unlabeled", counts).rstrip("\n") + f"  {accuracy:6.2f}"
    return "\n".join([_UNLABELED_RULE, _HEADER + f"  {'lAcc':>6}", row, _UNLABELED_RULE]) + "\n"


def _confusion_matrix(result: SpanScore) -> str:
    # srl-eval.pl always has a "-NONE-" row and column: its unlabeled count creates the entry.
    labels = sorted({NONE, *result.confusion, *(role for row in result.confusion.values() for role in row)})
    lines = [
        "\n---- Confusion Matrix: (one row for each correct role, with the distribution of predictions)\n"
    ]
    lines.append(" " * 13 + "".join(f"{i:4d} " for i in range(-1, len(labels) - 1)) + "\n")
    for i, gold_role in enumerate(labels, start=-1):
        row = result.confusion.get(gold_role, {})
        lines.append(
            f"{i:2d}: {gold_role:<8} " + "".join(f"{row.get(role, 0):4d} " for role in labels) + "\n"
        )
    return "".join(lines)


def score_to_json(result: SpanScore) -> dict[str, Any]:
    """The scores as plain JSON data (the ``--json`` output); schema in ``docs/scoring.md``."""
    unlabeled, accuracy = result.unlabeled()
    return {
        "sentences": result.sentences,
        "propositions": result.propositions,
        "perfect_propositions": result.perfect,
        "perfect_percent": result.perfect_percent,
        "overall": result.overall.to_json(),
        "roles": {role: result.roles[role].to_json() for role in sorted(result.roles)},
        "excluded": {role: result.excluded[role].to_json() for role in sorted(result.excluded)},
        "unlabeled": {**unlabeled.to_json(), "label_accuracy": accuracy},
        "confusion": {gold: dict(sorted(row.items())) for gold, row in sorted(result.confusion.items())},
    }


def format_dependency_report(result: DependencyScore) -> str:
    """A table in srl-eval.pl's layout: labeled, unlabeled and predicate lines, then one row per role."""
    lines = [
        f"Number of Sentences    :      {result.sentences:6d}\n",
        f"Number of Propositions :      {result.propositions:6d}\n",
        "\n",
        _HEADER + "\n",
        _RULE + "\n",
        _row_line("Labeled", result.labeled),
        _row_line("Unlabeled", result.unlabeled),
        _row_line("Predicates", result.predicates),
        "----------\n",
        *(_row_line(role, result.roles[role]) for role in sorted(result.roles)),
        _RULE + "\n",
    ]
    if result.sense_accuracy is not None:
        lines.append(
            f"Sense accuracy : {result.sense_accuracy:6.2f} ({result.senses_correct}/{result.senses_total})\n"
        )
    return "".join(lines)


def dependency_score_to_json(result: DependencyScore) -> dict[str, Any]:
    """The dependency scores as plain JSON data; schema in ``docs/scoring.md``."""
    return {
        "sentences": result.sentences,
        "propositions": result.propositions,
        "labeled": result.labeled.to_json(),
        "unlabeled": result.unlabeled.to_json(),
        "predicates": result.predicates.to_json(),
        "roles": {role: result.roles[role].to_json() for role in sorted(result.roles)},
        "sense_accuracy": result.sense_accuracy,
        "senses_correct": result.senses_correct,
        "senses_total": result.senses_total,
    }
