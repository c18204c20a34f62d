"""The commands that load a model or a config, under hostile input: no lost data (an output that is an
input, a bad sentence among good ones, a missing file among several, a truncated gzip), over-long
sentences, configs out of range and model directories that lie, a training run that diverges, flags that
do not combine, an empty study, old Mac line ends. Each failure is one ``albert-srl: error:`` line
naming the file, never a traceback."""

from __future__ import annotations

import gzip
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch
from safetensors.torch import load_file

from albert_srl.cli import main
from albert_srl.config import RunConfig
from albert_srl.errors import SRLFormatError, TrainingDiverged
from albert_srl.formats import read
from albert_srl.tagging.model_dir import DEFAULT_MODEL
from albert_srl.tagging.tagger import SRLTagger
from albert_srl.tagging.text import iter_text_file
from albert_srl.training.loop import LoopState, Trainer
from albert_srl.training.runtime import Runtime

REPO = Path(__file__).resolve().parents[1]
CORPORA = REPO / "corpora"
TINY = REPO / "configs" / "tiny.yaml"


@pytest.fixture(autouse=True)
def warnings_captured(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    global CAPLOG
    CAPLOG = caplog


CAPLOG: pytest.LogCaptureFixture


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit code, and standard error with the logged warnings (``main`` in this process)."""
    CAPLOG.clear()
    code = main(argv)
    err = capsys.readouterr().err + CAPLOG.text
    assert "Traceback" not in err, err
    return code, err


# ------------------------------------------------------------------------------------------ lost data


def test_tag_refuses_to_overwrite_its_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "t.txt"
    text.write_text("The board approved the plan.\n", encoding="utf-8")
    code, err = run(["tag", str(text), "-o", str(text)], capsys)
    assert code == 2 and f"{text}: is the input" in err
    assert text.read_text(encoding="utf-8") == "The board approved the plan.\n"


def test_tag_refuses_to_overwrite_its_standard_input(tmp_path: Path) -> None:
    text = tmp_path / "t.txt"
    text.write_text("The board approved the plan.\n", encoding="utf-8")
    command = [sys.executable, "-m", "albert_srl.cli", "tag", "-o", str(text)]
    with open(text, "rb") as stdin:  # as the shell runs ``albert-srl tag -o t.txt < t.txt``
        done = subprocess.run(command, stdin=stdin, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"albert-srl: error: {text}: is the standard input: refusing to overwrite it"
    ]
    assert text.read_text(encoding="utf-8") == "The board approved the plan.\n"


def test_predict_refuses_to_overwrite_its_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gold = tmp_path / "b.gold_conll"
    shutil.copyfile(CORPORA / "sample.gold_conll", gold)
    link = tmp_path / "link.gold_conll"
    link.symlink_to(gold)
    code, err = run(["predict", str(DEFAULT_MODEL), str(gold), "-o", str(link), "-q"], capsys)
    assert code == 2 and "refusing to overwrite it" in err
    assert gold.read_bytes() == (CORPORA / "sample.gold_conll").read_bytes()


def test_predict_writes_the_good_sentences_around_a_bad_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = (CORPORA / "sample.jsonl").read_text(encoding="utf-8").splitlines()
    lines[2] = '{"words": ["x"], "frames": [{"predicate": {"index": 7}}]}'  # sentence 3 of 4 is bad
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, err = run(["predict", str(DEFAULT_MODEL), str(source), "-o", str(output), "-q"], capsys)
    assert code == 1 and f"{source}:3: " in err
    tagged = list(read(output))
    assert [s.words for s in tagged] == [json.loads(lines[i])["words"] for i in (0, 1, 3)]


def test_tag_goes_on_past_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, third = tmp_path / "f1.txt", tmp_path / "f3.txt"
    first.write_text("It rained today.\n", encoding="utf-8")
    third.write_text("The board approved the plan.\n", encoding="utf-8")
    output = tmp_path / "out.jsonl"
    argv = ["tag", str(first), str(tmp_path / "MISSING"), str(third), "--format", "jsonl", "-o", str(output)]
    code, err = run(argv, capsys)
    assert code == 2 and "MISSING" in err
    assert [s.words[0] for s in read(output)] == ["It", "The"]


@pytest.mark.parametrize("mode", ["tokenized", "text"])
def test_a_truncated_gzip_keeps_its_readable_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    text = "".join(f"{SUBJECTS[i % 5]} {VERBS[i // 5 % 5]} {i} plans on Tuesday .\n" for i in range(144))
    source = tmp_path / "cut.gz"
    readable = len(cut_gzip(source, text))
    output = tmp_path / "out.jsonl"
    code, err = run(["tag", str(source), "--input", mode, "--format", "jsonl", "-o", str(output)], capsys)
    assert code == 2 and f"{source}: damaged gzip file" in err
    assert len(list(read(output))) == readable > 30


def cut_gzip(path: Path, text: str) -> list[str]:
    """Write the first half of ``text``'s gzip to ``path``; the complete lines it still holds."""
    packed = gzip.compress(text.encode())
    path.write_bytes(packed[: len(packed) // 2])
    complete: list[str] = []
    with gzip.open(path, "rt") as stream, suppress(EOFError):
        for line in stream:
            complete.append(line)
    return [line for line in complete if line.endswith("\n") and line.strip()]


SUBJECTS = ["The board", "Our neighbour", "A tired student", "The old company", "Every child"]
VERBS = ["approved", "painted", "sold", "wrote", "found"]


@pytest.mark.parametrize("paragraph_lines", [0, 4])  # one sentence a line; paragraphs of four lines
def test_text_mode_keeps_every_complete_line_before_gzip_damage(tmp_path: Path, paragraph_lines: int) -> None:
    lines = [
        f"{SUBJECTS[i % 5]} {VERBS[i // 5 % 5]} {i} plans on Tuesday.\n"
        + ("\n" if paragraph_lines and i % paragraph_lines == 3 else "")
        for i in range(1500)
    ]
    source = tmp_path / "cut.txt.gz"
    complete = cut_gzip(source, "".join(lines))
    read: list[Any] = []
    with pytest.raises(SRLFormatError, match="damaged gzip file"):
        for sentence in iter_text_file(source, "text"):
            read.append(sentence)
    assert len(complete) > 500
    numbers = [next(int(word) for word in sentence.words if word.isdigit()) for sentence in read]
    assert numbers == list(range(len(complete)))  # a sentence a complete line, none lost


def test_tag_skips_and_reports_a_sentence_over_the_word_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "long.txt"
    source.write_text("It rained .\n" + "word " * 40 + "\nThe board met .\n", encoding="utf-8")
    output = tmp_path / "out.jsonl"
    argv = [
        "tag",
        str(source),
        "--input",
        "tokenized",
        "--max-words",
        "30",
        "--format",
        "jsonl",
        "-o",
        str(output),
    ]
    code, err = run(argv, capsys)
    assert code == 1 and f"{source}:2: a sentence of 40 words is over the limit of 30" in err
    assert [s.words[0] for s in read(output)] == ["It", "The"]


def test_end_to_end_a_missing_file_is_one_line_and_no_traceback(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "albert_srl.cli",
        "convert",
        str(tmp_path / "none.jsonl"),
        "-",
        "--to",
        "jsonl",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"albert-srl: error: {tmp_path / 'none.jsonl'}: No such file or directory"
    ]


# ------------------------------------------------------------------------------------------ configs


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("max_tokens=0", "max_tokens is 0: allowed 1 or more"),
        ("max_tokens=-5", "max_tokens is -5"),
        ("epochs=0", "epochs is 0"),
        ("num_threads=0", "num_threads is 0: allowed from 1 to 1024"),
        ("encoder.vocab_size=5", "encoder.vocab_size is 5: allowed from 8"),
        ("encoder.num_attention_heads=0", "encoder.num_attention_heads is 0"),
        ("encoder.num_attention_heads=3", "must be a multiple of encoder.num_attention_heads (3)"),
        ("max_train_sentences=0", "max_train_sentences is 0"),
        ("seed=-1", "seed is -1"),
        ("encoder.max_position_embeddings=2", "encoder.max_position_embeddings is 2"),
        (
            "encoder.max_position_embeddings=64",
            "max_length (128) exceeds encoder.max_position_embeddings (64)",
        ),
        ("dropout=1.5", "dropout is 1.5"),
    ],
)
def test_a_config_value_out_of_range_names_the_key_and_the_range(
    tmp_path: Path, setting: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = CORPORA / "sample.jsonl"
    argv = [
        "train",
        str(TINY),
        "--set",
        setting,
        f"train_path={data}",
        f"dev_path={data}",
        f"output_dir={tmp_path}",
    ]
    code, err = run(argv, capsys)
    assert code == 2 and f"{TINY}" in err and message in err, err


def test_a_binary_config_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "model.bin"
    config.write_bytes(bytes(range(256)))
    code, err = run(["train", str(config)], capsys)
    assert code == 2 and f"{config}: not a YAML config" in err


def test_a_stale_tokenizer_folder_of_a_killed_run_is_removed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / ".tokenizer-killed"
    stale.mkdir()
    (stale / "half.model").write_bytes(b"\0" * 10)
    data = tmp_path / "data.jsonl"
    data.write_text(
        "".join((CORPORA / "sample.jsonl").read_text(encoding="utf-8") for _ in range(20)), encoding="utf-8"
    )
    argv = ["train", str(TINY), "--set", f"train_path={data}", f"dev_path={data}", f"output_dir={tmp_path}",
            "encoder.vocab_size=100", "epochs=1", "max_steps=1"]  # fmt: skip
    code, err = run(argv, capsys)
    assert not stale.exists()
    assert not list(tmp_path.glob(".tokenizer-*"))
    assert (tmp_path / "tokenizer").is_dir() or code == 2, err


# ------------------------------------------------------------------------------------------ model directories


def set_key(section: str | None, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(config: dict[str, Any]) -> None:
        (config[section] if section else config)[key] = value

    return change


MODEL_CASES = {
    "hidden_act": (set_key("encoder", "hidden_act", "os.system"), "encoder.hidden_act must be one of"),
    "hidden_act_object": (set_key("encoder", "hidden_act", {"gelu": 1}), "encoder.hidden_act must be one of"),
    "hidden_size": (set_key("encoder", "hidden_size", "abc"), "encoder.hidden_size must be int, not 'abc'"),
    "model_type": (set_key(None, "model_type", "pickle"), "model_type 'pickle'"),
    "encoder_type": (set_key("encoder", "model_type", "gpt2"), "encoder.model_type must be one of"),
    "labels": (set_key("srl", "labels", []), "srl.labels must be a non-empty list"),
    "layers": (set_key("encoder", "num_hidden_layers", -1), "encoder.num_hidden_layers is -1"),
    "max_length": (set_key("srl", "max_length", 0), "srl.max_length is 0"),
    "heads": (set_key("encoder", "num_attention_heads", 5), "multiple of encoder.num_attention_heads"),
    "shape": (set_key("encoder", "hidden_size", 192), "weights do not fit the config"),
    "vocab": (set_key("encoder", "vocab_size", 9000), "weights do not fit the config"),
    "senses": (set_key("srl", "senses", "abc"), "srl.senses"),
    "stride": (set_key("srl", "stride", 999), "srl.stride 999"),
    "unknown_key": (set_key("srl", "evil", 1), "unknown key srl.evil"),
    "pair_with_late_fusion": (set_key("srl", "predicate_awareness", "pair"), "it needs early fusion"),
}


@pytest.mark.parametrize("case", list(MODEL_CASES))
def test_a_model_directory_that_lies_is_one_error_naming_the_file(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    change, message = MODEL_CASES[case]
    model = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL, model)
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    change(config)
    (model / "config.json").write_text(json.dumps(config), encoding="utf-8")
    code, err = run(["predict", str(model), str(CORPORA / "sample.jsonl"), "-q"], capsys)
    assert code == 2 and str(model) in err and message in err, err


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("config.json", b"\xff\xfe\x00", "config.json: not an albert-srl model config"),
        ("config.json", b"[" * 100_000, "config.json: not an albert-srl model config"),
        ("model.safetensors", b"", "model.safetensors: corrupt weights file"),
        ("model.safetensors", None, "model.safetensors: corrupt weights file"),  # cut in half
    ],
)
def test_damaged_model_files_are_one_error_naming_the_file(
    tmp_path: Path, name: str, content: bytes | None, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL, model)
    data = (
        content if content is not None else (model / name).read_bytes()[: (model / name).stat().st_size // 2]
    )
    (model / name).write_bytes(data)
    code, err = run(["predict", str(model), str(CORPORA / "sample.jsonl"), "-q"], capsys)
    assert code == 2 and message in err, err


def test_a_garbage_sentencepiece_model_is_named_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], trained_tiny_tagger: SRLTagger
) -> None:
    model = trained_tiny_tagger.save_pretrained(tmp_path / "model")  # a SentencePiece model (ALBERT's)
    (model / "tokenizer.json").unlink()  # so that the tokenizer is built from spiece.model
    (model / "spiece.model").write_bytes(bytes(range(256)) * 8)
    code, err = run(["predict", str(model), str(CORPORA / "sample.jsonl"), "-q"], capsys)
    (error,) = [line for line in err.splitlines() if line.startswith("albert-srl: error:")]
    assert code == 2
    reason = "cannot load the tokenizer: not a SentencePiece model (damaged?)"
    assert error == f"albert-srl: error: {model / 'spiece.model'}: {reason}"
    assert "TikToken" not in err  # transformers' own fallback warning: the one error says it all


def predict_in_child(model: Path, **options: Any) -> subprocess.CompletedProcess[str]:
    """``albert-srl predict MODEL sample.jsonl`` in a child process: one that hangs is killed at 120 s."""
    command = [
        sys.executable,
        "-m",
        "albert_srl.cli",
        "predict",
        str(model),
        str(CORPORA / "sample.jsonl"),
        "-q",
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, **options)


@pytest.mark.parametrize("name", ["model.safetensors", "spiece.model", "README.md"])
def test_a_fifo_in_a_model_directory_is_refused_not_read(tmp_path: Path, name: str) -> None:
    model = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL, model)
    (model / name).unlink(missing_ok=True)
    os.mkfifo(model / name)  # reading it would wait for a writer for ever
    done = predict_in_child(model)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"albert-srl: error: {model / name}: a FIFO (named pipe), not a regular file: refusing to read it"
    ]


def limit_memory() -> None:
    """In the child: 16 GB of address space, so an allocation beyond it fails at once (not by swapping)."""
    resource.setrlimit(resource.RLIMIT_AS, (16 * 2**30, 16 * 2**30))


@pytest.mark.slow
def test_sizes_in_range_that_cannot_be_allocated_are_one_error(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL, model)
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    config["encoder"].update(vocab_size=1_000_000, embedding_size=16_384)  # 65 GB of embeddings
    (model / "config.json").write_text(json.dumps(config), encoding="utf-8")
    done = predict_in_child(model, preexec_fn=limit_memory)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(
        f"albert-srl: error: {model / 'config.json'}: the model's sizes cannot be allocated"
    )


def test_a_tokenizer_of_another_size_than_the_vocabulary_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from albert_srl.model.tokenizer import train_sentencepiece

    model = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL, model)
    lines = [" ".join(sentence.words) for sentence in read(CORPORA / "sample.jsonl")] * 50
    small = train_sentencepiece(lines, tmp_path / "tok", vocab_size=60)
    for file in ("tokenizer.json", "spiece.model", "tokenizer_config.json"):
        if (small / file).exists():
            shutil.copyfile(small / file, model / file)
    code, err = run(["predict", str(model), str(CORPORA / "sample.jsonl"), "-q"], capsys)
    assert code == 2 and "the tokenizer belongs to another model" in err, err


# ------------------------------------------------------------------------------ round three (issue 34)


@pytest.mark.parametrize(
    "setting", ["encoder_lr=inf", "head_lr=1e400", "weight_decay=-inf", "grad_clip=.nan"]
)
def test_a_setting_that_is_not_a_finite_number_is_refused_up_front(
    tmp_path: Path, setting: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = CORPORA / "sample.jsonl"
    argv = ["train", str(TINY), "--set", setting, f"train_path={data}", f"dev_path={data}",
            f"output_dir={tmp_path / 'run'}"]  # fmt: skip
    code, err = run(argv, capsys)
    key = setting.split("=")[0]
    assert code == 2 and f"{TINY}: {key} is " in err and "allowed a finite number" in err, err
    assert not (tmp_path / "run").exists()


def finite_tensors(path: Path) -> dict[str, bool]:
    """Each tensor of a safetensors file: whether all its values are finite."""
    return {name: bool(tensor.isfinite().all()) for name, tensor in load_file(path).items()}


def test_a_diverging_learning_rate_stops_the_run_and_saves_nothing_that_is_not_finite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_tokenizer_dir: Path
) -> None:
    data, output = CORPORA / "sample.jsonl", tmp_path / "run"
    # One batch an epoch: epoch 1 ends with finite weights (kept as best), then the loss explodes.
    argv = ["train", str(TINY), "--set", f"train_path={data}", f"dev_path={data}", f"output_dir={output}",
            f"encoder.tokenizer={tiny_tokenizer_dir}", "max_tokens=4096", "epochs=6", "patience=9",
            "encoder_lr=1000", "head_lr=1000", "checkpoint_every=1"]  # fmt: skip
    code, err = run(argv, capsys)
    (line,) = [line for line in err.splitlines() if "error" in line.lower()]
    assert code == 1 and line.startswith(f"albert-srl: error: {output}: training diverged at step "), err
    assert "not finite" in line or "nan" in line or "inf" in line
    saved = sorted(output.rglob("*.safetensors"))
    assert saved  # the checkpoints before the divergence are kept
    for path in saved:
        assert all(finite_tensors(path).values()), path
    records = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]
    assert all(all(v == v and abs(v) != float("inf") for v in r.values()) for r in records)
    SRLTagger.from_pretrained(output / "best")  # epoch 1's, finite: the diverged weights never replaced it


def toy_trainer(output: Path) -> Trainer:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    return Trainer(
        model, optimizer, scheduler, Runtime(torch.device("cpu")), RunConfig(output_dir=str(output)), output
    )


def test_weights_that_are_not_finite_are_never_checkpointed(tmp_path: Path) -> None:
    trainer = toy_trainer(tmp_path)
    trainer.checkpoint(LoopState(step=1))
    before = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    with torch.no_grad():
        trainer.model.weight[0, 0] = float("inf")  # an update that overflowed
    with pytest.raises(TrainingDiverged, match="weights are no longer finite") as caught:
        trainer.checkpoint(LoopState(step=2))
    assert "checkpoints/step-000000001" in str(caught.value)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == before


def test_a_loss_that_is_not_finite_changes_no_weight(tmp_path: Path) -> None:
    trainer = toy_trainer(tmp_path)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    loss = trainer.model(torch.ones(1, 3)).sum() * float("nan")
    with pytest.raises(TrainingDiverged, match="the loss is nan"):
        trainer.step(loss)
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.model.parameters(), strict=True))


def test_fusion_layers_above_the_encoders_depth_is_one_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL, model)
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    config["srl"]["fusion_layers"] = 99  # in the schema's range (0-128), above the encoder's layers
    (model / "config.json").write_text(json.dumps(config), encoding="utf-8")
    text = tmp_path / "t.txt"
    text.write_text("The board approved the plan.\n", encoding="utf-8")
    code, err = run(["tag", "--model", str(model), str(text), "-q"], capsys)
    depth = config["encoder"]["num_hidden_layers"]
    assert code == 2 and err.splitlines() == [
        f"albert-srl: error: {model / 'config.json'}: not an albert-srl model config: srl.fusion_layers 99: "
        f"allowed from 0 to encoder.num_hidden_layers ({depth})"
    ], err


@pytest.mark.parametrize("command", [["tag"], ["predict", "MODEL", "in.conll"], ["serve"]])
def test_int8_with_bf16_is_one_error(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:  # argparse's error, before any model is loaded
        main([*command, "--int8", "--bf16"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "Traceback" not in err
    (line,) = [line for line in err.splitlines() if "error:" in line]
    assert line.endswith("argument --bf16: not allowed with argument --int8")


def test_tune_with_no_trials_and_no_study_is_refused_and_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tune"
    argv = ["tune", str(TINY), "--space", str(REPO / "configs" / "tune-tiny.yaml"), "--trials", "0",
            "--output", str(out), "--set", f"train_path={CORPORA / 'sample.jsonl'}",
            f"dev_path={CORPORA / 'sample.jsonl'}"]  # fmt: skip
    code, err = run(argv, capsys)
    assert code == 2 and err.splitlines() == [
        f"albert-srl: error: trials: 0 trials rewrite the outputs of a study, and sqlite:///{out.resolve()}"
        "/study.db holds no study 'tiny'"
    ], err
    assert not out.exists()


def test_tune_with_no_trials_rewrites_an_existing_studys_outputs_and_adds_no_trial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tune"
    out.mkdir()
    storage = f"sqlite:///{out.resolve()}/study.db"
    optuna.create_study(storage=storage, study_name="tiny", direction="maximize")
    argv = ["tune", str(TINY), "--space", str(REPO / "configs" / "tune-tiny.yaml"), "--trials", "0",
            "--output", str(out), "--set", f"train_path={CORPORA / 'sample.jsonl'}",
            f"dev_path={CORPORA / 'sample.jsonl'}"]  # fmt: skip
    code, err = run(argv, capsys)
    assert code == 0 and "error" not in err, err
    assert optuna.load_study(study_name="tiny", storage=storage).trials == []  # no WAITING trial left
    assert {"study.db", "trials.csv", "report.html"} <= {p.name for p in out.iterdir()}


OLD_MAC = b"The board approved the plan.\rOur neighbour sold the car.\r\rIt rained today.\r"


@pytest.mark.parametrize("mode", ["text", "lines", "tokenized"])
def test_old_mac_line_ends_are_lines(tmp_path: Path, mode: str, capsys: pytest.CaptureFixture[str]) -> None:
    text, output = tmp_path / "mac.txt", tmp_path / "out.jsonl"
    text.write_bytes(OLD_MAC)
    code, err = run(["tag", str(text), "--input", mode, "--format", "jsonl", "-o", str(output), "-q"], capsys)
    assert code == 0 and "skipped" not in err, err
    assert [s.words[0] for s in read(output)] == ["The", "Our", "It"]


def test_a_corpus_file_with_old_mac_line_ends_reads_as_with_unix_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("sample.jsonl", "sample.gold_conll"):
        unix = (CORPORA / name).read_bytes()
        mac = tmp_path / name
        mac.write_bytes(unix.replace(b"\n", b"\r"))
        assert list(read(mac)) == list(read(CORPORA / name))
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(b'{"words": ["a"]}\r{"words": [\r')  # line 2 of 2 is bad: counted as a line
    code, err = run(["convert", str(broken), "-", "--to", "jsonl"], capsys)
    assert code == 2 and f"{broken}:2: " in err, err
