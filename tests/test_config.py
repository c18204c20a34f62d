"""The training config: YAML to dataclasses, dotted overrides, and errors that name the key and file."""

from __future__ import annotations

from pathlib import Path

import pytest

from albert_srl.config import (
    ConfigError,
    EncoderConfig,
    PretrainConfig,
    TrainConfig,
    load_config,
    load_dataclass,
)
from albert_srl.errors import SRLFormatError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def data_files(tmp_path: Path) -> tuple[Path, Path]:
    train, dev = tmp_path / "train.conll", tmp_path / "dev.conll"
    train.write_text("x\n")
    dev.write_text("x\n")
    return train, dev


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def minimal(train: Path, dev: Path, extra: str = "") -> str:
    return f"train_path: {train}\ndev_path: {dev}\noutput_dir: out\n{extra}"


def test_yaml_values_and_nested_sections_reach_the_dataclass(tmp_path, data_files):
    extra = "epochs: 3\nencoder:\n  hidden_size: 64\nloss_weights:\n  sense: 0.25\nbf16: true\n"
    config = load_config(write_config(tmp_path, minimal(*data_files, extra)))
    assert config.epochs == 3
    assert config.encoder.hidden_size == 64
    assert config.encoder.num_hidden_layers == EncoderConfig().num_hidden_layers  # untouched default
    assert config.loss_weights.sense == 0.25
    assert config.bf16 is True


def test_dotted_overrides_are_parsed_as_yaml_scalars(tmp_path, data_files):
    path = write_config(tmp_path, minimal(*data_files, "encoder:\n  hidden_size: 64\n"))
    config = load_config(
        path, ["encoder.hidden_size=256", "head_lr=2e-3", "max_steps=null", "head=softmax", "bf16=false"]
    )
    assert config.encoder.hidden_size == 256
    assert config.head_lr == pytest.approx(2e-3)
    assert config.max_steps is None
    assert config.head == "softmax"
    assert config.bf16 is False


def test_pretraining_needs_a_step_count(tmp_path):
    path = write_config(tmp_path, "text_paths: [wiki.txt]\noutput_dir: out\nmax_steps: null\n")
    with pytest.raises(ConfigError, match="max_steps must be int") as raised:
        load_dataclass(PretrainConfig, path)
    assert raised.value.line == 3


def test_ints_and_exponent_strings_are_accepted_where_a_float_is_expected(tmp_path, data_files):
    config = load_config(write_config(tmp_path, minimal(*data_files, "grad_clip: 5\nencoder_lr: 5e-5\n")))
    assert isinstance(config.grad_clip, float)
    assert config.grad_clip == 5.0
    assert config.encoder_lr == pytest.approx(5e-5)


def test_unknown_key_names_the_key_the_file_and_its_line(tmp_path, data_files):
    path = write_config(tmp_path, minimal(*data_files, "encoder:\n  hiden_size: 64\n"))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert isinstance(raised.value, SRLFormatError)
    assert raised.value.path == str(path)
    assert raised.value.line == 5
    assert "encoder.hiden_size" in str(raised.value)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("epochs=ten", "epochs"),
        ("epochs=1.5", "epochs"),
        ("num_threads=true", "num_threads"),
        ("head=lstm", "head"),
        ("encoder=7", "encoder"),
        ("predicate_identification=maybe", "predicate_identification"),
        ("nonsense.key=1", "nonsense"),
    ],
)
def test_a_bad_override_names_the_key(tmp_path, data_files, override, key):
    path = write_config(tmp_path, minimal(*data_files))
    with pytest.raises(ConfigError, match=key) as raised:
        load_config(path, [override])
    assert raised.value.path == str(path)


def test_override_without_equals_sign_is_an_error(tmp_path, data_files):
    with pytest.raises(ConfigError, match="key=value"):
        load_config(write_config(tmp_path, minimal(*data_files)), ["epochs"])


def test_missing_required_key(tmp_path, data_files):
    train, _ = data_files
    with pytest.raises(ConfigError, match="dev_path"):
        load_config(write_config(tmp_path, f"train_path: {train}\noutput_dir: out\n"))


@pytest.mark.parametrize("key", ["train_path", "dev_path", "encoder.tokenizer", "encoder.pretrained"])
def test_missing_files_are_reported_before_training(tmp_path, data_files, key):
    path = write_config(tmp_path, minimal(*data_files))
    with pytest.raises(ConfigError, match=key):
        load_config(path, [f"{key}={tmp_path / 'absent'}"])


def test_a_silver_section_reads_its_files_and_weights(tmp_path, data_files):
    silver = tmp_path / "wiki-silver.conll"
    silver.write_text("x\n")
    extra = f"silver:\n  path: [{silver}]\n  weight: 0.5\n  min_confidence: 0.8\n"
    config = load_config(write_config(tmp_path, minimal(*data_files, extra)))
    assert (config.silver.path, config.silver.weight, config.silver.min_confidence) == (
        [str(silver)],
        0.5,
        0.8,
    )
    assert load_config(write_config(tmp_path, minimal(*data_files))).silver.path == []  # none by default


@pytest.mark.parametrize(
    ("silver", "message"),
    [
        ("absent.conll", "silver.path: no such file"),
        ("en_ewt-dev-silver.jsonl", "silver.path names what looks like a dev or test split"),
        ("dev.conll", "is dev_path: never train on the dev text"),
    ],
)
def test_silver_from_the_dev_text_or_missing_is_refused(tmp_path, data_files, silver, message):
    path = tmp_path / silver
    if silver != "absent.conll":
        path.write_text("x\n")
    with pytest.raises(ConfigError, match=message):
        load_config(write_config(tmp_path, minimal(*data_files)), [f"silver.path=[{path}]"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("silver.path=x.conll", "silver.path must be a list"),
        ("silver.weight=-1", "silver.weight is -1.0: allowed 0 or more"),
        ("silver.min_confidence=2", "silver.min_confidence is 2.0: allowed from 0 to 1"),
    ],
)
def test_bad_silver_settings_name_the_key(tmp_path, data_files, override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write_config(tmp_path, minimal(*data_files)), [override])


def test_a_hub_id_is_not_checked_as_a_file(tmp_path, data_files):
    config = load_config(write_config(tmp_path, minimal(*data_files)), ["encoder.pretrained=albert-base-v2"])
    assert config.encoder.pretrained == "albert-base-v2"


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "nope.yaml")
    assert raised.value.path == str(tmp_path / "nope.yaml")


def test_invalid_yaml_reports_its_line(tmp_path):
    path = write_config(tmp_path, "epochs: 3\nencoder: [unclosed\nseed: 1\n")
    with pytest.raises(ConfigError) as raised:
        load_dataclass(TrainConfig, path)
    assert raised.value.line is not None and raised.value.line >= 2


@pytest.mark.parametrize("name", ["tiny.yaml", "ewt.yaml", "ewt-minilm.yaml", "ewt-mpnet.yaml"])
def test_shipped_configs_parse(name):
    config = load_dataclass(TrainConfig, REPO / "configs" / name)
    assert config.train_path.endswith(".gold_conll.gz")
    assert config.encoder.hidden_size % config.encoder.num_attention_heads == 0
