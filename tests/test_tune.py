"""``albert-srl tune``: the search-space file and its errors, a study that resumes and whose best.yaml
reproduces the best trial, pruning, two objectives, ``kill -9`` of a trial, two workers on one storage,
and a real PostgreSQL server (skipped, with the reason, where none can be started)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from polling import wait_until

from albert_srl.cli import main
from albert_srl.config import ConfigError, load_config
from albert_srl.errors import SRLFormatError
from albert_srl.tagging.tagger import SRLTagger
from albert_srl.training import train
from albert_srl.training.checkpoints import CHECKPOINTS, saved_checkpoints
from albert_srl.tuning import load_space, tune
from albert_srl.tuning.report import write_trials_csv
from albert_srl.tuning.space import as_overrides
from albert_srl.tuning.study import best_f1, config_value, enqueue_base_values

REPO = Path(__file__).resolve().parents[1]
SPACE = REPO / "configs" / "tune-tiny.yaml"
SAMPLE = REPO / "corpora" / "sample.gold_conll"

# configs/tiny.yaml's model on the four hand-written sample sentences (train = dev: the model can fit
# them, so settings make a difference to dev F1), with a tokenizer trained on them.
BASE = {
    "train_path": str(SAMPLE),
    "dev_path": str(SAMPLE),
    "output_dir": "unused",
    "encoder": {
        "vocab_size": 100,
        "embedding_size": 16,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 128,
    },
    "max_length": 128,
    "stride": 64,
    "epochs": 5,
    "patience": 100,
    "max_tokens": 64,
    "encoder_lr": 1.0e-3,
    "head_lr": 1.0e-2,
    "num_threads": 1,
    "device": "cpu",
}


def write_base(directory: Path, **changes: object) -> Path:
    path = directory / "base.yaml"
    path.write_text(yaml.safe_dump({**BASE, **changes}), encoding="utf-8")
    return path


def run_tune(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "albert_srl.cli", "tune", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def study_of(output: Path, name: str = "base") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{output / 'study.db'}")


def stale_trials(output: Path, name: str = "base") -> list[int]:
    """The trials whose heartbeat is older than the grace period the tuner gives (2 s at ``--heartbeat
    1``); Optuna has no public call for it."""
    with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = optuna.storages.RDBStorage(f"sqlite:///{output / 'study.db'}", heartbeat_interval=1)
    return storage._get_stale_trial_ids(storage.get_study_id_from_name(name))


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8") as lines:
        return list(csv.DictReader(lines))


# ---------------------------------------------------------------------------------------------------
# The search space


def test_a_space_reads_dotted_and_nested_keys_of_every_type(tmp_path):
    base = write_base(tmp_path)
    space_path = tmp_path / "space.yaml"
    space_path.write_text(
        "encoder_lr: {type: float, low: 1e-5, high: 1.0e-3, log: true}\n"
        "epochs: {type: int, low: 2, high: 6, step: 2}\n"
        "encoder.hidden_size: {type: categorical, choices: [16, 32]}\n"
        "loss_weights:\n"
        "  sense: {type: float, low: 0.1, high: 1.0}\n"
        "head: {type: categorical, choices: [crf, softmax]}\n"
    )
    space = load_space(space_path, base)
    keys = [(p.key, p.kind) for p in space.params]
    assert keys == [
        ("encoder_lr", "float"),
        ("epochs", "int"),
        ("encoder.hidden_size", "categorical"),
        ("loss_weights.sense", "float"),
        ("head", "categorical"),
    ]
    assert space.params[0].low == 1e-5 and space.params[0].log  # "1e-5" is a string to PyYAML
    assert space.params[1].step == 2


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("dropout: {type: float, low: 0, high: 0.5}\nencoder.hiden_size: {type: int, low: 8, high: 16}\n", 2,
         "encoder.hiden_size: unknown key encoder.hiden_size"),
        ("dropout: {type: float, low: 0.5, high: 0.1}\n", 1, "dropout: low (0.5) must be below high (0.1)"),
        ("encoder_lr: {type: float, low: 0, high: 0.1, log: true}\n", 1, "a log scale needs low > 0"),
        ("dropout: {type: float, low: 0, hgh: 0.1}\n", 1, "dropout: unknown field 'hgh'"),
        ("dropout: {type: float, low: 0}\n", 1, "dropout: missing high"),
        ("epochs: {type: float, low: 1, high: 3}\n", 1, "epochs: epochs must be int, not 1.0"),
        ("epochs: {type: int, low: 1.5, high: 3}\n", 1, "epochs: low must be an integer"),
        ("head: {type: categorical, choices: [crf, lstm]}\n", 1, "head: head must be one of crf, softmax"),
        ("head: {type: categorical, choices: [crf]}\n", 1, "choices must be a list of at least two"),
        ("dropout: {type: uniform, low: 0, high: 1}\n", 1, "type must be float, int or categorical"),
        ("output_dir: {type: categorical, choices: [a, b]}\n", 1, "output_dir: is set by the tuner"),
        ("dropout: 0.1\n", 1, "dropout: expected {type: float|int|categorical"),
        ("encoder:\n  hidden_size: {type: int, low: 8, high: 64}\n  heads: 3\n", 1, "encoder: missing type"),
    ],
)  # fmt: skip
def test_a_bad_space_is_one_error_naming_the_file_line_and_key(tmp_path, text, line, message):
    base = write_base(tmp_path)
    space_path = tmp_path / "space.yaml"
    space_path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_space(space_path, base)
    assert caught.value.path == str(space_path)
    assert caught.value.line == line
    assert message in caught.value.message


@pytest.mark.corpus
@pytest.mark.parametrize(("config", "space"), [("tiny", "tune-tiny"), ("ewt", "tune-ewt")])
def test_a_shipped_space_fits_its_config_and_starts_from_it(monkeypatch, config, space):
    if not (REPO.parent / "shared" / "corpora" / "ewt").exists():
        pytest.skip("../shared/corpora is absent (the configs read it)")
    monkeypatch.chdir(REPO)  # the shipped configs' paths are relative to the repository root
    base = load_config(f"configs/{config}.yaml")
    search = load_space(f"configs/{space}.yaml", f"configs/{config}.yaml")
    study = optuna.create_study(direction="maximize")
    enqueue_base_values(study, search, base)
    (first,) = study.trials
    assert first.system_attrs["fixed_params"] == {p.key: config_value(base, p.key) for p in search.params}


def test_the_cli_reports_a_bad_space_without_a_traceback(tmp_path):
    base = write_base(tmp_path)
    space_path = tmp_path / "space.yaml"
    space_path.write_text("encoder:\n  hidden_sise: {type: categorical, choices: [16, 32]}\n")
    result = run_tune(str(base), "--space", str(space_path), "--trials", "1", "--output", str(tmp_path / "o"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"albert-srl: error: {space_path}:2: encoder.hidden_sise: unknown key encoder.hidden_sise"
    ]
    assert not (tmp_path / "o" / "study.db").exists()


def test_overrides_read_back_as_the_values_a_trial_drew(tmp_path):
    values = {"encoder_lr": 0.00012345678901234567, "head": "softmax", "epochs": 3, "bf16": None}
    config = load_config(write_base(tmp_path), as_overrides(values))
    assert (config.encoder_lr, config.head, config.epochs, config.bf16) == (
        values["encoder_lr"],
        "softmax",
        3,
        None,
    )


# ---------------------------------------------------------------------------------------------------
# Studies


@pytest.mark.slow
def test_a_study_resumes_and_best_yaml_reproduces_the_best_trial(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = write_base(tmp_path)
    out = tmp_path / "study"
    first = tune(base, SPACE, 3, out, seed=1, progress=False)
    assert (first.trials, first.completed) == (3, 3)
    trials = study_of(out).trials
    assert trials[0].params == {"head_lr": 1e-2, "dropout": 0.1, "encoder.hidden_size": 32}  # the base
    assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == 3
    kept = load_config(out / "trials" / "0002" / "config.yaml")
    assert (kept.head_lr, kept.dropout, kept.encoder.hidden_size) == tuple(trials[2].params.values())

    second = tune(base, SPACE, 2, out, seed=2, progress=False)
    assert second.trials == 5
    rows = read_csv(out / "trials.csv")
    assert [row["number"] for row in rows] == ["0", "1", "2", "3", "4"]
    assert {row["state"] for row in rows} <= {"complete", "pruned"}
    best_row = max((r for r in rows if r["state"] == "complete"), key=lambda r: float(r["f1"]))
    assert int(best_row["number"]) == second.best_number
    assert second.best_values["f1"] > 0

    report = (out / "report.html").read_text()
    assert "Optimisation history" in report and "Parameter importances" in report
    assert report.count("Plotly.newPlot") >= 3 and "Not drawn" not in report
    assert "<script src=" not in report and len(report) > 1_000_000  # plotly.js inlined: works offline

    best_yaml = yaml.safe_load((out / "best.yaml").read_text())
    assert best_yaml["output_dir"] == str(out / "best-run")
    retrained = train(load_config(out / "best.yaml"))
    assert best_f1(out / "best-run" / "metrics.jsonl") == second.best_values["f1"]
    tagger = SRLTagger.from_pretrained(second.best_model)
    assert tagger.tag([["The", "cat", "sat", "."]], predicates=[[2]])[0].frames
    assert retrained == out / "best-run" / "best"
    assert not any((out / "trials").glob(f"*/{CHECKPOINTS}"))  # finished trials keep their model only


def test_a_trial_below_the_median_is_pruned_early(tmp_path):
    base = write_base(tmp_path, epochs=6)
    out = tmp_path / "study"
    out.mkdir()
    study = optuna.create_study(
        storage=f"sqlite:///{out / 'study.db'}", study_name="base", direction="maximize"
    )
    for _ in range(3):
        study.enqueue_trial({"head_lr": 3e-2, "dropout": 0.0, "encoder.hidden_size": 32})
    study.enqueue_trial({"head_lr": 1e-3, "dropout": 0.3, "encoder.hidden_size": 16})  # learns far slower
    result = tune(base, SPACE, 4, out, pruner="median", progress=False)
    assert (result.completed, result.pruned) == (3, 1)
    pruned = study_of(out).trials[3]
    assert pruned.state == optuna.trial.TrialState.PRUNED
    assert pruned.user_attrs["epochs"] < 6
    assert read_csv(out / "trials.csv")[3]["state"] == "pruned"


def test_two_objectives_report_the_pareto_front_of_f1_and_speed(tmp_path):
    out = tmp_path / "study"
    result = tune(write_base(tmp_path), SPACE, 3, out, objectives=("f1", "speed"), seed=0, progress=False)
    assert result.completed == 3
    assert set(result.best_values) == {"f1", "speed"} and result.best_values["speed"] > 0
    rows = read_csv(out / "trials.csv")
    assert all(float(row["speed"]) > 0 for row in rows)
    assert "yes" in {row["pareto"] for row in rows}
    front = [r for r in rows if r["pareto"] == "yes"]
    for row in front:  # no trial beats a Pareto trial on both objectives
        assert not any(
            (float(o["f1"]) >= float(row["f1"]) and float(o["speed"]) > float(row["speed"]))
            or (float(o["f1"]) > float(row["f1"]) and float(o["speed"]) >= float(row["speed"]))
            for o in rows
        )
    assert "Pareto front" in (out / "report.html").read_text()
    with pytest.raises(ConfigError, match="optimises f1,speed, not f1"):
        tune(write_base(tmp_path), SPACE, 1, out)


def test_max_minutes_stops_starting_trials(tmp_path):
    result = tune(write_base(tmp_path), SPACE, 5, tmp_path / "study", max_minutes=0.001, progress=False)
    assert result.trials == 1


# ---------------------------------------------------------------------------------------------------
# Workers: kill -9, two processes, PostgreSQL


@pytest.mark.slow
def test_a_trial_killed_with_kill_9_is_marked_failed_and_retried_from_its_checkpoint(tmp_path):
    base = write_base(tmp_path, epochs=1000, max_steps=30, checkpoint_every=4)
    out = tmp_path / "study"
    args = [str(base), "--space", str(SPACE), "--output", str(out), "--heartbeat", "1"]
    command = [sys.executable, "-m", "albert_srl.cli", "tune", *args, "--trials", "2"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    trial = out / "trials" / "0000"
    try:
        wait_until(lambda: saved_checkpoints(trial) or process.poll() is not None, 120, "a checkpoint")
    finally:
        os.kill(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the tuner finished before it could be killed"
    wait_until(lambda: stale_trials(out), 30, "the killed trial's heartbeat going stale")

    result = run_tune(*args, "--trials", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming from" in result.stderr
    assert "%|" not in result.stderr  # no progress bar into a pipe
    first, retry = study_of(out).trials
    assert first.state == optuna.trial.TrialState.FAIL
    assert retry.state == optuna.trial.TrialState.COMPLETE
    assert retry.params == first.params
    assert retry.user_attrs["output_dir"] == str(out / "trials" / "0000")
    assert "best trial 1:" in result.stdout


@pytest.mark.slow
def test_two_workers_share_one_study(tmp_path):
    base = write_base(tmp_path, epochs=3)
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    out = tmp_path / "study"
    command = [sys.executable, "-m", "albert_srl.cli", "tune", str(base), "--space", str(SPACE)]
    command += ["--trials", "2", "--output", str(out), "--storage", storage, "--study", "shared"]
    workers = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in "ab"
    ]
    outputs = [worker.communicate(timeout=180) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], [err[-2000:] for _, err in outputs]
    trials = optuna.load_study(study_name="shared", storage=storage).trials
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
    assert {t.state.name for t in trials} <= {"COMPLETE", "PRUNED"}
    assert len({t.user_attrs["output_dir"] for t in trials}) == 4
    assert all((Path(t.user_attrs["output_dir"]) / "best" / "model.safetensors").exists() for t in trials)


def postgres_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    return versions[-1].parent if versions else None


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """``$ALBERT_SRL_TEST_POSTGRES``, or a throwaway server started from the installed binaries (as the
    ``postgres`` user when run as root); skipped, with the reason, when neither is there."""
    if os.environ.get("ALBERT_SRL_TEST_POSTGRES"):
        yield os.environ["ALBERT_SRL_TEST_POSTGRES"]
        return
    pytest.importorskip("psycopg", reason="PostgreSQL test skipped: no psycopg driver")
    bindir = postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL test skipped: no PostgreSQL server installed (.ci/run installs Debian's)")
    as_user: list[str] = []
    if os.geteuid() == 0:
        if (
            shutil.which("runuser") is None
            or subprocess.run(["id", "postgres"], capture_output=True).returncode
        ):
            pytest.skip(
                "PostgreSQL test skipped: running as root without a 'postgres' user to run the server"
            )
        as_user = ["runuser", "-u", "postgres", "--"]
    data = Path(tempfile.mkdtemp(prefix="albert-srl-pg-"))
    if as_user:
        shutil.chown(data, "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = False
    try:
        setup = [
            [str(bindir / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "tune", "--no-sync"],
            [str(bindir / "pg_ctl"), "-D", str(data / "db"), "-l", str(data / "log"), "-w", "-t", "60",
             "-o", f"-k {data} -p {port} -c listen_addresses='' -c fsync=off", "start"],
        ]  # fmt: skip
        for step in setup:
            run = subprocess.run([*as_user, *step], capture_output=True, text=True, timeout=120)
            if run.returncode:
                log = (data / "log").read_text() if (data / "log").exists() else ""
                pytest.skip(
                    f"PostgreSQL test skipped: {Path(step[0]).name} failed: {(run.stderr + log)[-500:]}"
                )
        started = True
        yield f"postgresql+psycopg://tune@/postgres?host={data}&port={port}"
    finally:
        if started:
            stop = [str(bindir / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "stop"]
            subprocess.run([*as_user, *stop], capture_output=True, timeout=60)
        shutil.rmtree(data, ignore_errors=True)


def test_an_unreachable_storage_is_one_line_without_its_password(tmp_path):
    url = "postgresql+psycopg://tune:secret@/optuna?host=/nonexistent"
    with pytest.raises(ConfigError) as caught:
        tune(write_base(tmp_path), SPACE, 1, tmp_path / "study", storage=url, progress=False)
    assert caught.value.path == "storage"  # the library names its parameter, the CLI its flag
    assert "tune:***@" in caught.value.message and "secret" not in caught.value.message
    assert "\n" not in caught.value.message


def test_a_study_on_a_postgresql_server(tmp_path, postgres_url):
    base = write_base(tmp_path, epochs=2)
    name = f"pg-{os.getpid()}-{time.time_ns()}"
    first = tune(base, SPACE, 2, tmp_path / "a", storage=postgres_url, study_name=name, progress=False)
    assert first.completed == 2
    second = tune(base, SPACE, 1, tmp_path / "b", storage=postgres_url, study_name=name, progress=False)
    assert second.trials == 3
    assert len(optuna.load_study(study_name=name, storage=postgres_url).trials) == 3
    assert not (tmp_path / "a" / "study.db").exists()


# ---------------------------------------------------------------------------------------------------
# Failed trials


def failing_train(error: Exception) -> Any:
    def train(*args: Any, **kwargs: Any) -> Path:
        raise error

    return train


def test_every_trial_failing_is_exit_1(tmp_path, monkeypatch, capsys):
    damaged = SRLFormatError(str(SAMPLE), 3, "a damaged row")
    monkeypatch.setattr("albert_srl.tuning.study.train", failing_train(damaged))
    args = [str(write_base(tmp_path)), "--space", str(SPACE), "--trials", "2", "--output", str(tmp_path)]
    assert main(["tune", *args, "--quiet"]) == 1
    assert "(0 completed, 0 pruned, 2 failed)" in capsys.readouterr().out
    assert study_of(tmp_path).trials[1].state == optuna.trial.TrialState.FAIL


def test_a_programming_error_in_a_trial_ends_the_study(tmp_path, monkeypatch):
    monkeypatch.setattr("albert_srl.tuning.study.train", failing_train(TypeError("a bug")))
    with pytest.raises(TypeError, match="a bug"):
        tune(write_base(tmp_path), SPACE, 3, tmp_path / "study", progress=False)
    assert len(study_of(tmp_path / "study").trials) == 1  # no second trial started after the bug


def test_trials_csv_writes_seconds_as_a_plain_number(tmp_path):
    study = optuna.create_study(direction="maximize")
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for number, seconds in enumerate([23.44, 12345.6]):
        study.add_trial(
            optuna.trial.FrozenTrial(
                number=number, trial_id=number, state=optuna.trial.TrialState.COMPLETE, value=80.0,
                datetime_start=start, datetime_complete=start + timedelta(seconds=seconds), params={},
                distributions={}, user_attrs={}, system_attrs={}, intermediate_values={},
            )
        )  # fmt: skip
    write_trials_csv(study, tmp_path / "trials.csv", ["f1"])
    assert [row["seconds"] for row in read_csv(tmp_path / "trials.csv")] == ["23.4", "12345.6"]
