"""Running a study: every trial is an ``albert-srl train`` run of the base config plus the trial's values.

The study lives in an Optuna storage (by default ``OUTPUT/study.db``, SQLite), so running the same command
again adds trials to it, and workers on many machines that share a database share one study. Workers send
a heartbeat: a trial whose worker died (``kill -9``, a lost machine) is marked failed by the next worker
to start a trial, and queued once more with the same values; the retry resumes from the dead trial's last
checkpoint when it can see its directory.
"""

from __future__ import annotations

import json
import logging
import random
import re
import shutil
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import torch
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from albert_srl.config import ConfigError, TrainConfig, TuneOptions, load_config
from albert_srl.errors import SRLFormatError, TrainingDiverged
from albert_srl.files import write_atomic
from albert_srl.settings import check_instance
from albert_srl.training import train
from albert_srl.training.checkpoints import CHECKPOINTS
from albert_srl.training.finetune import read_sentences
from albert_srl.tuning.report import (
    best_trial,
    config_yaml,
    write_best,
    write_report,
    write_trials_csv,
)
from albert_srl.tuning.space import SearchSpace, as_overrides, load_space

log = logging.getLogger(__name__)

# What fails a trial alone (its values made a config out of range, its data could not be read, it ran
# out of memory, its learning rate diverged); anything else is a bug, and ends the study with its traceback.
TRIAL_FAILURES: tuple[type[Exception], ...] = (
    SRLFormatError,
    TrainingDiverged,
    torch.OutOfMemoryError,
    MemoryError,
)


@dataclass
class TuneResult:
    """Where a study is and what it found. ``best_*`` are ``None`` while no trial has completed."""

    study_name: str
    storage: str
    output: Path
    trials: int  # in the study, every state and every worker
    completed: int
    pruned: int
    failed: int
    best_number: int | None
    best_values: dict[str, float] | None
    best_config: Path | None  # best.yaml
    best_model: Path | None  # OUTPUT/best, the best trial's model
    trials_csv: Path
    report: Path


def tune(
    config_path: str | Path,
    space_path: str | Path,
    trials: int,
    output: str | Path = TuneOptions.output,
    *,
    storage: str | None = None,
    study_name: str | None = None,
    objectives: Sequence[str] = ("f1",),
    pruner: str = TuneOptions.pruner,
    max_minutes: float | None = None,
    overrides: Sequence[str] = (),
    heartbeat_seconds: int = TuneOptions.heartbeat,
    seed: int | None = None,
    progress: bool = True,
) -> TuneResult:
    """Run ``trials`` more trials of a study searching ``space_path`` around the training config
    ``config_path`` (with ``--set``-style ``overrides``), then write ``best.yaml``, ``trials.csv``, the
    report and the best model into ``output``.

    ``objectives``: ``("f1",)`` maximises dev span F1 (TPE, with ``pruner`` stopping hopeless trials after
    an epoch); ``("f1", "speed")`` also maximises CPU tagging speed on the dev sentences (NSGA-II, no
    pruning: Optuna prunes single-objective studies only). ``max_minutes`` stops starting new trials once
    that much time has passed. ``storage`` is an Optuna database URL (default: SQLite in ``output``).
    ``trials=0`` rewrites the outputs of an existing study and adds nothing to it.
    Raises ``ConfigError`` for a bad config, space or option, before any trial starts.
    """
    objectives = tuple(objectives)
    options = TuneOptions(
        trials=trials,
        output=str(output),
        storage=storage,
        study=study_name,
        objectives=",".join(objectives),  # type: ignore[arg-type]  # checked next
        pruner=pruner,  # type: ignore[arg-type]
        max_minutes=max_minutes,
        heartbeat=heartbeat_seconds,
    )
    check_instance(options, "tune")
    base = load_config(config_path, overrides)
    space = load_space(space_path, config_path, overrides)
    out = Path(output)
    url = storage or f"sqlite:///{(out / 'study.db').resolve()}"
    name = study_name or Path(config_path).stem
    if trials == 0 and not study_exists(url, name, heartbeat_seconds):  # nothing to rewrite: leave nothing
        message = f"0 trials rewrite the outputs of a study, and {shown(url)} holds no study {name!r}"
        raise ConfigError("trials", None, message)
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # heartbeats and retries are "experimental" in Optuna, and they work
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = open_study(url, name, objectives, pruner, base, heartbeat_seconds, seed)
        if trials:
            enqueue_base_values(study, space, base)
        objective = Objective(config_path, list(overrides), space, out, objectives)
        bar = ProgressBar(trials, enabled=progress)
        with bar.logging():
            study.optimize(
                objective,
                n_trials=trials,
                timeout=max_minutes * 60 if max_minutes is not None else None,
                catch=TRIAL_FAILURES,
                callbacks=[log_trial, bar.update],
                gc_after_trial=True,
            )
    return finish(study, url, out, config_path, objectives)


def open_study(
    url: str,
    name: str,
    objectives: tuple[str, ...],
    pruner: str,
    base: TrainConfig,
    heartbeat_seconds: int,
    seed: int | None,
) -> optuna.Study:
    """Create the study, or load it to add trials; its objectives must be the ones asked for."""
    storage = open_storage(url, heartbeat_seconds)
    multi = len(objectives) > 1
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own line per trial says enough
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        load_if_exists=True,
        directions=["maximize"] * len(objectives),
        sampler=make_sampler(multi, seed),
        pruner=make_pruner("none" if multi else pruner, base.epochs),
    )
    saved = study.user_attrs.get("objectives")
    if saved is None:
        study.set_user_attr("objectives", list(objectives))
    elif tuple(saved) != objectives:
        raise ConfigError(
            "objectives",
            None,
            f"study {name!r} in {shown(url)} optimises {','.join(saved)}, not {','.join(objectives)}",
        )
    return study


def study_exists(url: str, name: str, heartbeat_seconds: int) -> bool:
    """Whether the storage at ``url`` holds the study ``name``; a SQLite file that is not there is not
    created to find out."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return False
    with warnings.catch_warnings():  # as in ``tune``: heartbeats are "experimental" in Optuna
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = open_storage(url, heartbeat_seconds)
    return any(study.study_name == name for study in storage.get_all_studies())


def open_storage(url: str, heartbeat_seconds: int, attempts: int = 5) -> optuna.storages.RDBStorage:
    """The study's database, with heartbeats and one retry of a trial whose worker died. Workers that
    start together race to create its tables; the losers try again a moment later."""
    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs={"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None,
                heartbeat_interval=heartbeat_seconds,
                grace_period=2 * heartbeat_seconds,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                    max_retry=1, inherit_intermediate_values=True
                ),
            )
        except Exception as error:  # SQLAlchemy's errors (no driver, no server, a race) come in many classes
            if attempt == attempts - 1:
                reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
                raise ConfigError("storage", None, f"cannot open {shown(url)}: {reason}") from error
            log.debug("opening %s failed (%s); trying again", url, error)
            time.sleep(0.5 + random.random() / 2)
    raise AssertionError("unreachable")


def shown(url: str) -> str:
    """A storage URL fit for an error message: its password masked."""
    return re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", url)


def make_sampler(multi: bool, seed: int | None) -> optuna.samplers.BaseSampler:
    """NSGA-II for accuracy against speed; otherwise TPE, multivariate (learning rates interact), with a
    constant liar so that parallel workers do not all try the same point."""
    if multi:
        return optuna.samplers.NSGAIISampler(population_size=8, seed=seed)
    return optuna.samplers.TPESampler(n_startup_trials=5, multivariate=True, constant_liar=True, seed=seed)


def make_pruner(name: str, epochs: int) -> optuna.pruners.BasePruner:
    """Median: stop a trial whose dev F1 after an epoch is below the median of earlier trials at that
    epoch (once 3 trials have finished). Hyperband: successive halving over 1..``epochs`` epochs."""
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 1), reduction_factor=3)
    return optuna.pruners.NopPruner()


def enqueue_base_values(study: optuna.Study, space: SearchSpace, base: TrainConfig) -> None:
    """A new study's first trial is the base config itself when the space contains its values, so the
    search starts from the hand-set settings and can only improve on them."""
    if study.trials:
        return
    values = {param.key: config_value(base, param.key) for param in space.params}
    for param in space.params:
        value = values[param.key]
        if param.kind == "categorical":
            inside = value in param.choices
        else:
            assert param.low is not None and param.high is not None  # a range has both bounds (space.py)
            inside = isinstance(value, (int, float)) and param.low <= value <= param.high
        if not inside:
            return
    study.enqueue_trial(values, skip_if_exists=True)


def config_value(config: Any, key: str) -> Any:
    for part in key.split("."):
        config = getattr(config, part)
    return config


class Objective:
    """One trial: the base config plus the trial's values, trained in ``OUTPUT/trials/NNNN``."""

    def __init__(
        self,
        config_path: str | Path,
        overrides: list[str],
        space: SearchSpace,
        output: Path,
        objectives: tuple[str, ...],
    ) -> None:
        self.config_path = str(config_path)
        self.overrides = overrides
        self.space = space
        self.output = output
        self.objectives = objectives

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        values = self.space.suggest(trial)
        # A retry of a dead trial inherits its user attributes, so its directory and checkpoint too.
        retry = "output_dir" in trial.user_attrs
        directory = Path(trial.user_attrs.get("output_dir", self.output / "trials" / f"{trial.number:04d}"))
        settings = [*self.overrides, *as_overrides(values)]
        trial.set_user_attr("output_dir", str(directory))
        trial.set_user_attr("overrides", settings)
        config = load_config(self.config_path, [*settings, f"output_dir={directory}"])
        directory.mkdir(parents=True, exist_ok=True)
        write_atomic(directory / "config.yaml", config_yaml(config))
        log.info("trial %d: %s", trial.number, " ".join(as_overrides(values)))
        pruning = len(self.objectives) == 1

        def on_evaluate(epoch: int, metrics: dict[str, float]) -> None:
            trial.set_user_attr("epochs", epoch)
            if pruning:
                trial.report(metrics["f1"], epoch)
                if trial.should_prune():
                    shutil.rmtree(directory / CHECKPOINTS, ignore_errors=True)
                    raise optuna.TrialPruned(f"dev F1 {metrics['f1']:.2f} after epoch {epoch}")

        best = train(config, resume=retry and directory.exists(), on_evaluate=on_evaluate)
        shutil.rmtree(directory / CHECKPOINTS, ignore_errors=True)  # the best model is all a trial keeps
        f1 = best_f1(directory / "metrics.jsonl")
        if self.objectives == ("f1",):
            return f1
        speed = tagging_speed(best, config)
        trial.set_user_attr("sentences_per_second", speed)
        return f1, speed


def best_f1(metrics_path: Path) -> float:
    """The best dev F1 of a run, from its ``metrics.jsonl`` (one JSON record an epoch)."""
    records = [json.loads(line) for line in metrics_path.read_text(encoding="utf-8").splitlines() if line]
    return max(record["f1"] for record in records)


def tagging_speed(model_dir: Path, config: TrainConfig) -> float:
    """Sentences per second tagging the dev sentences (with their gold predicates, as the dev F1 is
    measured) on the CPU with the config's thread count: the faster of two passes after a warm-up batch,
    so that a moment of load on a shared machine counts less."""
    from albert_srl.tagging.tagger import SRLTagger

    tagger = SRLTagger.from_pretrained(model_dir, device="cpu")
    sentences = read_sentences(config.dev_path, config.max_dev_sentences)
    words = [sentence.words for sentence in sentences]
    predicates = [[frame.predicate.index for frame in sentence.frames] for sentence in sentences]
    tagger.tag(words[:16], predicates=predicates[:16], max_tokens=config.eval_max_tokens)
    seconds = []
    for _ in range(2):
        started = time.perf_counter()
        tagger.tag(words, predicates=predicates, max_tokens=config.eval_max_tokens)
        seconds.append(time.perf_counter() - started)
    return len(words) / min(seconds)


def log_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    values = ", ".join(f"{v:.4g}" for v in trial.values) if trial.values else "-"
    log.info("trial %d %s: %s", trial.number, trial.state.name.lower(), values)


class ProgressBar:
    """Trials done, the best dev F1 so far and the time left (tqdm's estimate); on a terminal only."""

    def __init__(self, trials: int, enabled: bool) -> None:
        self.bar = tqdm(
            total=trials, unit="trial", desc="tune", disable=not (enabled and sys.stderr.isatty())
        )

    def update(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        best = best_trial(study)
        if best is not None:
            self.bar.set_postfix(best_f1=f"{best.values[0]:.2f}", refresh=False)
        self.bar.update()

    @contextmanager
    def logging(self) -> Iterator[None]:
        """Log lines go above the bar instead of through it; the bar is closed at the end."""
        try:
            if self.bar.disable:
                yield
            else:
                with logging_redirect_tqdm():
                    yield
        finally:
            self.bar.close()


def finish(
    study: optuna.Study, url: str, output: Path, config_path: str | Path, objectives: tuple[str, ...]
) -> TuneResult:
    """Write the outputs from the whole study (every worker's trials) and summarise it."""
    states = [trial.state for trial in study.get_trials(deepcopy=False)]
    best = best_trial(study)
    best_config = best_model = None
    if best is not None:
        best_config, best_model = write_best(study, best, output, config_path)
    trials_csv = write_trials_csv(study, output / "trials.csv", objectives)
    report = write_report(study, output / "report.html", objectives)
    count = states.count
    TrialState = optuna.trial.TrialState
    return TuneResult(
        study_name=study.study_name,
        storage=url,
        output=output,
        trials=len(states),
        completed=count(TrialState.COMPLETE),
        pruned=count(TrialState.PRUNED),
        failed=count(TrialState.FAIL),
        best_number=best.number if best is not None else None,
        best_values=dict(zip(objectives, best.values, strict=True)) if best is not None else None,
        best_config=best_config,
        best_model=best_model,
        trials_csv=trials_csv,
        report=report,
    )
