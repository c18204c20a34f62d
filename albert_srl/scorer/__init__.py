"""Scoring predicted SRL against gold: span scoring exactly as the CoNLL-2005 ``srl-eval.pl`` does
(``spans``), CoNLL-2009-style head-word scoring for dependency-based corpora (``dependency``), the
reports both print (``report``) and the file-level entry points (``files``)."""

from albert_srl.scorer.dependency import DependencyScore, score_dependencies
from albert_srl.scorer.files import evaluate_files, read_props, score_dependency_files, score_files
from albert_srl.scorer.report import (
    dependency_score_to_json,
    format_dependency_report,
    format_report,
    score_to_json,
)
from albert_srl.scorer.spans import RoleCounts, SpanScore, score

__all__ = [
    "DependencyScore",
    "RoleCounts",
    "SpanScore",
    "dependency_score_to_json",
    "evaluate_files",
    "format_dependency_report",
    "format_report",
    "read_props",
    "score",
    "score_dependencies",
    "score_dependency_files",
    "score_files",
    "score_to_json",
]
