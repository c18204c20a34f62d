"""The one declared schema: the reference page, the flags, the server limits, config.json and the tuner all
take a setting's type, default and range from its declaration, and a bad value is one error (exit 2)."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest

from albert_srl.cli import build_parser, main
from albert_srl.config import (
    ConfigError,
    PretrainConfig,
    RunConfig,
    TagOptions,
    TrainConfig,
    load_pretrain_config,
)
from albert_srl.model.network import ModelConfig
from albert_srl.reference import SECTIONS, page
from albert_srl.serving.batching import ServeLimits
from albert_srl.serving.serve import serve
from albert_srl.settings import setting_of, settings_of
from albert_srl.tagging.model_dir import DEFAULT_MODEL

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "tiny.yaml"
PRETRAIN_TINY = REPO / "configs" / "pretrain-tiny.yaml"


def test_the_reference_page_is_generated_from_the_schema() -> None:
    written = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert written == page(), "run: python -m albert_srl.reference > docs/configuration.md"


def test_every_setting_is_documented_and_listed() -> None:
    for _, _, cls in SECTIONS:
        for declared in settings_of(cls):
            assert declared.doc, f"{cls.__name__}.{declared.key} has no doc"
            assert f"| `{declared.key}` |" in page()


def test_a_model_shares_the_training_config_declarations() -> None:
    for key in ("max_length", "stride", "dropout", "head", "predicate_awareness"):
        model, train = setting_of(ModelConfig, key), setting_of(TrainConfig, key)
        assert (model.default, model.low, model.high, model.choices) == (
            train.default,
            train.low,
            train.high,
            train.choices,
        )


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse refuses a bad flag value
        code = int(exit.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--batch-words", "0"], "argument --batch-words: batch_words is 0: allowed from 1"),
        (["serve", "--batch-words", "-5"], "batch_words is -5"),
        (["serve", "--batch-ms", "nan"], "batch_ms is nan"),
        (["serve", "--port", "-1"], "argument --port: port is -1: allowed from 0 to 65535"),
        (["serve", "--port", "http"], "port must be int, not 'http'"),
        (["serve", "--max-queued-requests", "0"], "max_queued_requests is 0"),
        (["train", str(TINY), "--max-minutes", "-5"], "max_minutes is -5.0: allowed 0 or more"),
        (["pretrain", str(PRETRAIN_TINY), "--max-minutes", "-5"], "max_minutes is -5.0: allowed 0 or more"),
        (["tag", "--max-words", "-3"], "argument --max-words: max_words is -3: allowed 1 or more"),
        (["tag", "--batch-size", "0"], "argument --batch-size: batch_size is 0"),
        (["tag", "--max-tokens", "0"], "argument --max-tokens: max_tokens is 0"),
        (["tune", str(TINY), "--space", "s.yaml", "--trials", "-1"], "trials is -1"),
    ],
)
def test_a_bad_flag_value_is_one_error_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(argv, capsys)
    assert code == 2
    assert message in err and err.count("error:") == 1 and "Traceback" not in err, err


def test_a_flag_default_is_the_declared_one() -> None:
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    serve_flags = {action.dest: action for action in commands["serve"]._actions}
    for declared in settings_of(ServeLimits):
        assert declared.key in serve_flags, f"serve has no flag for {declared.key}"
        assert f"(default {declared.default}; {declared.range_text()})" in serve_flags[declared.key].help
    tag_flags = {action.dest: action for action in commands["tag"]._actions}
    assert {s.key for s in settings_of(TagOptions)} <= tag_flags.keys()


def test_no_numeric_flag_is_declared_outside_the_schema() -> None:
    """Every int or float flag comes from a declaration (``add_setting``), so that its default and range
    are written once. convert-encoder's ``--embedding-size`` (no default) is the lead's, left as it is."""
    tree = ast.parse((REPO / "albert_srl" / "cli.py").read_text(encoding="utf-8"))
    by_hand = [
        call.args[0].value
        for call in ast.walk(tree)
        if isinstance(call, ast.Call)
        and getattr(call.func, "attr", None) == "add_argument"
        and any(k.arg == "type" and getattr(k.value, "id", None) in ("int", "float") for k in call.keywords)
    ]
    assert set(by_hand) <= {"--embedding-size"}, by_hand


def test_serve_checks_its_limits_before_loading_a_model() -> None:
    with pytest.raises(ConfigError, match="batch_words is 0"):
        serve("/nonexistent/model", limits=ServeLimits(batch_words=0))
    with pytest.raises(ConfigError, match="port is 70000"):
        serve("/nonexistent/model", port=70_000)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("srl", "dropout", 1.5), "srl.dropout is 1.5: allowed from 0 to 0.99"),
        (("srl", "max_length", 4), "srl.max_length is 4: allowed from 8 to 65536"),
        (("encoder", "vocab_size", 5), "encoder.vocab_size is 5: allowed from 8"),
        (("encoder", "layer_norm_eps", 0), "encoder.layer_norm_eps is 0.0: allowed more than 0"),
        (("srl", "head", "lstm"), "srl.head must be one of crf, softmax, not 'lstm'"),
    ],
)
def test_config_json_is_checked_with_the_training_ranges(
    tmp_path: Path, change: tuple[str, str, object], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL, model)
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    section, key, value = change
    config[section][key] = value
    (model / "config.json").write_text(json.dumps(config), encoding="utf-8")
    code, err = run(["predict", str(model), str(REPO / "corpora" / "sample.jsonl"), "-q"], capsys)
    assert code == 2 and str(model / "config.json") in err and message in err, err


def test_an_out_of_range_tuner_bound_is_one_error_naming_the_space_line_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("epochs: {type: int, low: 1, high: 3}\ndropout: {type: float, low: 0.1, high: 1.5}\n")
    data = REPO / "corpora" / "sample.jsonl"
    argv = ["tune", str(TINY), "--space", str(space), "--trials", "1", "--output", str(tmp_path / "out"),
            "--set", f"train_path={data}", f"dev_path={data}"]  # fmt: skip
    code, err = run(argv, capsys)
    assert code == 2
    assert err.strip().splitlines() == [
        f"albert-srl: error: {space}:2: dropout: dropout is 1.5: allowed from 0 to 0.99"
    ]
    assert not (tmp_path / "out" / "study.db").exists()


def test_a_pretraining_split_is_refused_by_its_name_not_by_a_substring(tmp_path: Path) -> None:
    latest, dev = tmp_path / "latest_train.conllu", tmp_path / "en_ewt-ud-dev.conllu"
    for path in (latest, dev):
        path.write_text("# text = x\n1\tx\tx\tX\tX\t_\t0\troot\t_\t_\n\n", encoding="utf-8")
    base = [f"output_dir={tmp_path / 'out'}", "text_paths=[]"]
    assert load_pretrain_config(PRETRAIN_TINY, [*base, f"text_conll=[{latest}]"]).text_conll == [str(latest)]
    with pytest.raises(ConfigError, match=r"looks like a dev or test split.*set allow_eval_files to true"):
        load_pretrain_config(PRETRAIN_TINY, [*base, f"text_conll=[{dev}]"])
    allowed = load_pretrain_config(PRETRAIN_TINY, [*base, f"text_conll=[{dev}]", "allow_eval_files=true"])
    assert allowed.text_conll == [str(dev)]


def test_a_pretraining_default_that_differs_keeps_the_declared_range() -> None:
    run_steps, pretrain_steps = setting_of(TrainConfig, "max_steps"), setting_of(PretrainConfig, "max_steps")
    assert (pretrain_steps.low, pretrain_steps.doc) == (run_steps.low, run_steps.doc)
    assert pretrain_steps.default == 10_000 and run_steps.default is None


@pytest.mark.parametrize(
    ("declared", "shared"),
    [
        ((TagOptions, "max_tokens"), [(TrainConfig, "max_tokens"), (TrainConfig, "eval_max_tokens"),
                                      (PretrainConfig, "max_tokens")]),
        ((TagOptions, "max_words"), [(ServeLimits, "max_words")]),
        ((TrainConfig, "max_length"), [(PretrainConfig, "max_length"), (ModelConfig, "max_length")]),
    ],
    ids=["the batch budget", "max_words", "max_length"],
)  # fmt: skip
def test_a_setting_shared_by_several_commands_has_one_range(
    declared: tuple[type, str], shared: list[tuple[type, str]]
) -> None:
    """Their defaults differ where a command's use does (a training batch, the server's fairness); the
    range is declared once."""
    source = setting_of(*declared)
    for cls, key in shared:
        found = setting_of(cls, key)
        assert (found.low, found.high, found.above) == (source.low, source.high, source.above), (cls, key)


def test_the_keys_of_every_training_run_are_declared_once() -> None:
    for key in ("output_dir", "encoder", "seed", "device"):
        owners = [
            cls for cls in (RunConfig, TrainConfig, PretrainConfig) if key in vars(cls)["__annotations__"]
        ]
        assert owners == [RunConfig], key
    assert setting_of(TrainConfig, "encoder.hidden_size") == setting_of(PretrainConfig, "encoder.hidden_size")
