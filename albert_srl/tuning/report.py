"""A study's outputs: ``best.yaml`` and the best model, ``trials.csv``, and ``report.html``.

Every file is written aside and renamed into place, so that workers finishing at the same time never
leave half a file. The report is one self-contained HTML page (plotly.js inlined, viewable offline): the
optimisation history, the learning curves that pruning acted on, parameter importances and, for two
objectives, the Pareto front, with tables of the best trials.
"""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import logging
import shutil
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypedDict

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState

from albert_srl.config import TrainConfig, load_config
from albert_srl.files import replaced, write_atomic

log = logging.getLogger(__name__)

NAMES = {"f1": "dev F1", "speed": "sentences/s"}


def completed(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The completed trial with the highest dev F1 (for two objectives, the Pareto trial at the accurate
    end; ties go to the earlier trial)."""
    trials = completed(study)
    return max(trials, key=lambda t: (t.values[0], -t.number)) if trials else None


def pareto_numbers(study: optuna.Study) -> set[int]:
    return {trial.number for trial in study.best_trials} if len(study.directions) > 1 else set()


# ---------------------------------------------------------------------------------------------------
# best.yaml and the best model


def write_best(
    study: optuna.Study, best: FrozenTrial, output: Path, config_path: str | Path
) -> tuple[Path, Path | None]:
    """``best.yaml``: the full training config of trial ``best`` (training into ``OUTPUT/best-run``), and
    ``OUTPUT/best``: a copy of its model, when its directory is on this machine."""
    overrides = list(best.user_attrs.get("overrides", []))
    run_dir = output / "best-run"
    config = load_config(config_path, [*overrides, f"output_dir={run_dir}"])
    objectives = study.user_attrs["objectives"]
    scores = ", ".join(f"{NAMES[o]} {v:.2f}" for o, v in zip(objectives, best.values, strict=True))
    header = (
        f"# Best trial ({best.number}) of study {study.study_name!r}: {scores}. Written by albert-srl tune.\n"
        f"# Retrain it:   albert-srl train {output / 'best.yaml'}\n"
        f"# the same as:  albert-srl train {config_path} --set {' '.join(overrides) or '(nothing)'}"
        f" output_dir={run_dir}\n"
    )
    best_yaml = write_atomic(output / "best.yaml", header + config_yaml(config))
    model = Path(best.user_attrs.get("output_dir", "")) / "best"
    if not model.is_dir():
        log.warning("the best trial's model %s is not on this machine; best.yaml retrains it", model)
        return best_yaml, None
    return best_yaml, copy_model(model, output / "best")


def config_yaml(config: TrainConfig) -> str:
    """A training config as YAML, every key spelt out, in the order of ``TrainConfig``."""
    return yaml.safe_dump(dataclasses.asdict(config), sort_keys=False, default_flow_style=False)


def copy_model(source: Path, target: Path) -> Path | None:
    try:
        with replaced(target, directory=True) as staging:
            shutil.copytree(source, staging, dirs_exist_ok=True)
    except OSError as error:  # another worker put its copy there in the meantime
        log.warning("could not replace %s: %s", target, error)
    return target


# ---------------------------------------------------------------------------------------------------
# trials.csv


def write_trials_csv(study: optuna.Study, path: Path, objectives: Sequence[str]) -> Path:
    """One row a trial of the study: its state, objective values, epochs trained, time, values searched,
    directory and (two objectives) whether it is on the Pareto front."""
    trials = study.get_trials(deepcopy=False)
    keys = sorted({key for trial in trials for key in trial.params})
    pareto = pareto_numbers(study)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    extra = ["pareto"] if len(objectives) > 1 else []
    writer.writerow(["number", "state", *objectives, "epochs", "seconds", *keys, "output_dir", *extra])
    for trial in trials:
        values = (list(trial.values or []) + [None] * len(objectives))[: len(objectives)]  # pruned: last F1
        seconds = trial.duration.total_seconds() if trial.duration else None
        row = [
            trial.number,
            trial.state.name.lower(),
            *(_fmt(v) for v in values),
            trial.user_attrs.get("epochs", ""),
            "" if seconds is None else f"{seconds:.1f}",  # plain: ``:g`` wrote 23 s as 2e+01
            *(_fmt(trial.params.get(key)) for key in keys),
            trial.user_attrs.get("output_dir", ""),
        ]
        writer.writerow(row + (["yes" if trial.number in pareto else "no"] if extra else []))
    return write_atomic(path, out.getvalue())


def _fmt(value: Any, digits: int = 6) -> str:
    if value is None:
        return ""
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


# ---------------------------------------------------------------------------------------------------
# report.html


def write_report(study: optuna.Study, path: Path, objectives: Sequence[str]) -> Path:
    """The HTML report: a summary, the plots, and the best (or Pareto) trials as a table."""
    sections = [_summary(study, objectives)]
    plotly_included = False
    for title, make in _figures(study, objectives):
        try:
            with warnings.catch_warnings():  # Optuna's notes on small studies; the page says enough
                warnings.simplefilter("ignore")
                figure = make()
            if not figure.data:
                raise ValueError("no completed trials to plot yet")
            body = figure.to_html(full_html=False, include_plotlyjs=not plotly_included)
            plotly_included = True
        except Exception as error:  # a plot Optuna cannot draw yet (too few trials) is noted, not fatal
            body = f"<p class=note>Not drawn: {html.escape(str(error))}</p>"
        sections.append(f"<h2>{html.escape(title)}</h2>\n{body}")
    sections.append(_trials_table(study, objectives))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>albert-srl tune: {html.escape(study.study_name)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}} .note{{color:#777}}
td,th{{padding:2px 8px;text-align:right}} table{{border-collapse:collapse}}
tr:nth-child(even){{background:#f4f4f4}}</style>
</head><body>
<h1>Study {html.escape(study.study_name)}</h1>
{chr(10).join(sections)}
</body></html>
"""
    return write_atomic(path, page)


def _f1(trial: FrozenTrial) -> float:
    return trial.values[0]


def _speed(trial: FrozenTrial) -> float:
    return trial.values[1]


class _Target(TypedDict):
    """The objective a plot shows, as optuna's plots take it."""

    target: Callable[[FrozenTrial], float]
    target_name: str


def _figures(study: optuna.Study, objectives: Sequence[str]) -> list[tuple[str, Callable[[], Any]]]:
    """The plots of the report, titled, each drawn when called."""
    from optuna import visualization as vis

    f1: _Target = {"target": _f1, "target_name": "dev F1"}
    importances = partial(vis.plot_param_importances, study)
    if len(objectives) > 1:
        pareto = partial(vis.plot_pareto_front, study, target_names=[NAMES[o] for o in objectives])
        speed: _Target = {"target": _speed, "target_name": "sentences/s"}
        figures = [
            ("Pareto front: dev F1 against tagging speed", pareto),
            ("Optimisation history (dev F1)", partial(vis.plot_optimization_history, study, **f1)),
            ("Parameter importances for dev F1", partial(importances, **f1)),
            ("Parameter importances for speed", partial(importances, **speed)),
        ]
    else:
        history = partial(vis.plot_optimization_history, study, target_name="dev F1")
        figures = [
            ("Optimisation history", history),
            (
                "Dev F1 after each epoch (pruned trials stop early)",
                partial(vis.plot_intermediate_values, study),
            ),
            ("Parameter importances", partial(importances, target_name="dev F1")),
        ]
    return [*figures, ("Values tried", partial(vis.plot_slice, study, **f1))]


def _summary(study: optuna.Study, objectives: Sequence[str]) -> str:
    trials = study.get_trials(deepcopy=False)
    counts = {state: sum(t.state == state for t in trials) for state in TrialState}
    parts = ", ".join(f"{n} {state.name.lower()}" for state, n in counts.items() if n)
    best = best_trial(study)
    goals = ", ".join(NAMES[o] for o in objectives)
    text = f"<p>{len(trials)} trials: {parts or 'none yet'}. Objectives: {goals}.</p>"
    if best is not None:
        scores = ", ".join(f"{NAMES[o]} {v:.2f}" for o, v in zip(objectives, best.values, strict=True))
        params = ", ".join(f"{k} = {_fmt(v, 4)}" for k, v in best.params.items())
        text += f"<p>Best trial {best.number}: {scores}; {html.escape(params)}. Its config is best.yaml.</p>"
    return text


def _trials_table(study: optuna.Study, objectives: Sequence[str]) -> str:
    """The Pareto trials (two objectives) or the ten best trials, best first."""
    pareto = pareto_numbers(study)
    trials = [t for t in completed(study) if not pareto or t.number in pareto]
    trials.sort(key=lambda t: -t.values[0])
    trials = trials if pareto else trials[:10]
    if not trials:
        return ""
    keys = sorted({key for trial in trials for key in trial.params})
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["trial", *(NAMES[o] for o in objectives), *keys])
    rows = []
    for trial in trials:
        cells = [
            str(trial.number),
            *(f"{v:.2f}" for v in trial.values),
            *(_fmt(trial.params.get(k), 4) for k in keys),
        ]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    title = "Pareto front (no trial is both more accurate and faster)" if pareto else "Best trials"
    return f"<h2>{title}</h2>\n<table><tr>{head}</tr>\n{chr(10).join(rows)}</table>"
