"""The trainer: checkpoints that resume bit-exactly (also after ``kill -9``), DDP, dev metrics, the
best model and its card, early stopping."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import latest_checkpoint
from transformers import get_linear_schedule_with_warmup

from albert_srl import formats
from albert_srl.cli import main
from albert_srl.config import TrainConfig, load_config
from albert_srl.data import Argument, Frame, Predicate, Sentence
from albert_srl.errors import SRLFormatError
from albert_srl.model.network import SRLOutput
from albert_srl.model.tokenizer import train_sentencepiece
from albert_srl.training import train
from albert_srl.training.checkpoints import (
    join_optimizer_state,
    load_checkpoint,
    load_tensors,
    rng_state,
    save_checkpoint,
    saved_checkpoints,
    set_rng_state,
    split_optimizer_state,
)
from albert_srl.training.evaluation import predicate_f1, sense_accuracy
from albert_srl.training.finetune import FineTuneState, finetune_optimizer, lemma_table, training_loss
from albert_srl.training.loop import Trainer
from albert_srl.training.runtime import Runtime

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "tiny.yaml"
SHARED = REPO.parent / "shared"
CPU = torch.device("cpu")


# ---------------------------------------------------------------------------------------------------
# Checkpoint pieces, on a toy model


def toy_run(
    seed: int = 0,
) -> tuple[torch.nn.Module, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    return model, optimizer, get_linear_schedule_with_warmup(optimizer, 2, 10)


def toy_steps(model, optimizer, scheduler, n: int) -> None:
    for _ in range(n):  # data and dropout both draw from the global RNG, as real training does
        loss = model(torch.randn(3, 4)).pow(2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()


def test_optimizer_state_survives_the_split_into_tensors_and_json():
    model, optimizer, scheduler = toy_run()
    toy_steps(model, optimizer, scheduler, 2)
    tensors, rest = split_optimizer_state(optimizer.state_dict())
    rest = json.loads(json.dumps(rest))
    joined = join_optimizer_state(tensors, rest)
    original = optimizer.state_dict()
    assert joined["param_groups"] == original["param_groups"]
    for param, values in original["state"].items():
        for name, value in values.items():
            assert torch.equal(joined["state"][param][name], value)


def test_rng_states_round_trip_through_json():
    saved = json.loads(json.dumps(rng_state()))
    first = (torch.rand(3), random.random(), np.random.rand())
    set_rng_state(saved)
    again = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(first[0], again[0])
    assert first[1:] == again[1:]


def test_a_resumed_toy_run_ends_with_the_same_weights(tmp_path):
    model, optimizer, scheduler = toy_run()
    toy_steps(model, optimizer, scheduler, 3)
    save_checkpoint(tmp_path, model, optimizer, scheduler, FineTuneState(step=3), [rng_state()])
    toy_steps(model, optimizer, scheduler, 4)

    fresh, fresh_optimizer, fresh_scheduler = toy_run(seed=1)
    checkpoint = latest_checkpoint(tmp_path)
    assert checkpoint is not None
    state = load_checkpoint(checkpoint, fresh, fresh_optimizer, fresh_scheduler, FineTuneState, CPU)
    assert state.step == 3
    toy_steps(fresh, fresh_optimizer, fresh_scheduler, 4)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, fresh.state_dict()[name]), name
    assert fresh_scheduler.get_last_lr() == scheduler.get_last_lr()


def test_the_two_newest_complete_checkpoints_are_kept(tmp_path):
    model, optimizer, scheduler = toy_run()
    save_checkpoint(tmp_path, model, optimizer, scheduler, FineTuneState(step=1), [rng_state()])
    previous = save_checkpoint(tmp_path, model, optimizer, scheduler, FineTuneState(step=2), [rng_state()])
    newest = save_checkpoint(tmp_path, model, optimizer, scheduler, FineTuneState(step=10), [rng_state()])
    (tmp_path / "checkpoints" / ".tmp-half-written").mkdir()  # a write killed midway
    assert latest_checkpoint(tmp_path) == newest
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("step-*")) == [previous.name, newest.name]
    assert {p.name for p in newest.iterdir()} == {
        "model-00000.safetensors",
        "optimizer-00000.safetensors",
        "trainer_state.json",
    }


# ---------------------------------------------------------------------------------------------------
# Dev metrics


def sentence(predicates: list[tuple[int, str | None]]) -> Sentence:
    return Sentence(
        words=["a", "b", "c", "d"],
        frames=[Frame(Predicate(index, "x", sense=sense)) for index, sense in predicates],
    )


def test_predicate_f1_counts_positions():
    gold = [sentence([(0, None), (2, None)]), sentence([(1, None)])]
    pred = [sentence([(0, None), (3, None)]), sentence([(1, None)])]
    # 2 correct of 3 gold and 3 predicted
    assert predicate_f1(gold, pred) == pytest.approx(100 * 2 * 2 / 6)


def test_sense_accuracy_compares_sense_numbers():
    gold = [sentence([(0, "get.01"), (2, "be.03")])]
    pred = [sentence([(0, "01"), (2, "be.01")])]
    assert sense_accuracy(gold, pred) == pytest.approx(50.0)


# ---------------------------------------------------------------------------------------------------
# Training the tiny model


# (words, [(predicate index, roleset, [(role, start, end), ...])]) -- hand-written PropBank frames
FRAMES = [
    ("The cat chased the mouse .", [(2, "chase.01", [("ARG0", 0, 2), ("V", 2, 3), ("ARG1", 3, 5)])]),
    ("A dog barked loudly .", [(2, "bark.01", [("ARG0", 0, 2), ("V", 2, 3), ("ARGM-MNR", 3, 4)])]),
    (
        "She gave him a book yesterday .",
        [(1, "give.01", [("ARG0", 0, 1), ("V", 1, 2), ("ARG2", 2, 3), ("ARG1", 3, 5), ("ARGM-TMP", 5, 6)])],
    ),
    (
        "They said the dog ate it .",
        [
            (1, "say.01", [("ARG0", 0, 1), ("V", 1, 2), ("ARG1", 2, 6)]),
            (4, "eat.01", [("ARG0", 2, 4), ("V", 4, 5), ("ARG1", 5, 6)]),
        ],
    ),
    ("Nobody came .", [(1, "come.01", [("ARG1", 0, 1), ("V", 1, 2)])]),
    (
        "The mouse did not run away .",
        [(4, "run.02", [("ARG0", 0, 2), ("ARGM-NEG", 3, 4), ("V", 4, 5), ("ARGM-DIR", 5, 6)])],
    ),
]


def hand_sentences() -> list[Sentence]:
    sentences = []
    for text, frames in FRAMES:
        words = text.split()
        sentence = Sentence(words=words)
        for index, roleset, spans in frames:
            predicate = Predicate(index, words[index], lemma=roleset.split(".")[0], sense=roleset)
            arguments = [Argument(role, start, end, " ".join(words[start:end])) for role, start, end in spans]
            sentence.frames.append(Frame(predicate, arguments))
        sentences.append(sentence)
    return sentences


@pytest.fixture(scope="module")
def hand_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "tiny.jsonl"
    formats.write(hand_sentences(), path, "jsonl")
    return path


@pytest.fixture(scope="module")
def hand_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lines = [" ".join(s.words) for s in hand_sentences()] * 20
    return train_sentencepiece(lines, tmp_path_factory.mktemp("tokenizer"), vocab_size=60)


def tiny_overrides(data: Path, tokenizer_dir: Path, output: Path, *extra: str) -> list[str]:
    return [
        f"train_path={data}",
        f"dev_path={data}",
        f"output_dir={output}",
        f"encoder.tokenizer={tokenizer_dir}",
        "max_tokens=64",
        *extra,
    ]


def run_cli(overrides: list[str], *flags: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "albert_srl.cli", "train", str(TINY), *flags, "--set", *overrides]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def final_tensors(output: Path) -> dict[str, torch.Tensor]:
    checkpoint = latest_checkpoint(output)
    assert checkpoint is not None
    return {
        **load_tensors(checkpoint, "model"),
        **{f"optimizer.{k}": v for k, v in load_tensors(checkpoint, "optimizer").items()},
    }


def test_training_learns_and_keeps_the_best_model_with_its_card(tmp_path, hand_data, hand_tokenizer_dir):
    from albert_srl.tagging.tagger import SRLTagger

    output = tmp_path / "run"
    settings = ["epochs=40", "patience=100", "warmup_ratio=0.05"]
    best = train(load_config(TINY, tiny_overrides(hand_data, hand_tokenizer_dir, output, *settings)))
    assert best == output / "best"
    records = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == list(range(1, 41))
    assert records[-1]["train_loss"] < records[0]["train_loss"] / 5
    top = max(records, key=lambda r: r["f1"])
    assert top["f1"] > 95  # dev is the training set: the model must fit it
    assert max(r["predicate_f1"] for r in records) > 90
    assert max(r["end_to_end_f1"] for r in records) > 85  # its own predicates, scored against gold
    card = (best / "README.md").read_text()
    assert str(hand_data) in card
    assert f"| f1 | {top['f1']:.2f} |" in card
    assert f"(epoch {top['epoch']}," in card

    first = hand_sentences()[0]
    tagged = SRLTagger.from_pretrained(best).tag([first.words], predicates=[[2]])[0]
    assert tagged.frames[0].tuples() == first.frames[0].tuples()


def test_early_stopping_after_patience_epochs_without_progress(tmp_path, hand_data, hand_tokenizer_dir):
    output = tmp_path / "run"
    frozen = ["encoder_lr=0", "head_lr=0", "epochs=6", "patience=1"]  # dev F1 can never improve
    train(load_config(TINY, tiny_overrides(hand_data, hand_tokenizer_dir, output, *frozen)))
    records = (output / "metrics.jsonl").read_text().splitlines()
    assert len(records) == 2


def test_a_finished_run_resumed_with_more_epochs_trains_them(tmp_path, hand_data, hand_tokenizer_dir):
    output = tmp_path / "run"
    train(load_config(TINY, tiny_overrides(hand_data, hand_tokenizer_dir, output, "epochs=1", "patience=5")))
    again = load_config(TINY, tiny_overrides(hand_data, hand_tokenizer_dir, output, "epochs=1", "patience=5"))
    train(again, resume=True)  # nothing left to do
    assert len((output / "metrics.jsonl").read_text().splitlines()) == 1
    more = load_config(TINY, tiny_overrides(hand_data, hand_tokenizer_dir, output, "epochs=3", "patience=5"))
    train(more, resume=True)
    epochs = [json.loads(line)["epoch"] for line in (output / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3]


@pytest.mark.slow
def test_kill_9_then_resume_ends_with_the_same_weights(tmp_path, hand_data, hand_tokenizer_dir):
    steps = ["max_steps=30", "checkpoint_every=4", "epochs=1000", "patience=1000"]
    whole = tmp_path / "whole"
    run_cli(tiny_overrides(hand_data, hand_tokenizer_dir, whole, *steps))

    broken = tmp_path / "broken"
    overrides = tiny_overrides(hand_data, hand_tokenizer_dir, broken, *steps)
    command = [sys.executable, "-m", "albert_srl.cli", "train", str(TINY), "--set", *overrides]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while latest_checkpoint(broken) is None and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    killed_at = json.loads((latest_checkpoint(broken) / "trainer_state.json").read_text())["state"]["step"]
    assert killed_at < 30

    resumed = run_cli(overrides, "--resume")
    assert "resuming from" in resumed.stderr
    expected, actual = final_tensors(whole), final_tensors(broken)
    assert expected.keys() == actual.keys()
    for name, tensor in expected.items():
        assert torch.equal(tensor, actual[name]), name


class Killed(Exception):
    """Stands for a kill right after a checkpoint is written."""


def metrics_of(output: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]


def test_a_run_resumed_mid_epoch_logs_the_whole_epochs_train_loss(
    tmp_path, hand_data, hand_tokenizer_dir, monkeypatch
):
    settings = ["epochs=2", "patience=100", "checkpoint_every=1"]
    whole, broken, killed = whole_then_killed_and_resumed(
        tmp_path, hand_data, hand_tokenizer_dir, monkeypatch, settings
    )
    assert killed["epoch"] == 0 and 0 < killed["batches_done"] < metrics_of(whole)[0]["step"]  # mid-epoch
    assert metrics_of(broken) == metrics_of(whole)  # train_loss too: the mean of every batch of the epoch


def whole_then_killed_and_resumed(
    tmp_path: Path,
    hand_data: Any,
    hand_tokenizer_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    settings: list[str],
) -> tuple[Path, Path, dict[str, Any]]:
    """A whole run, then the same run killed right after its first checkpoint and resumed: the two output
    directories and the killed run's trainer state."""
    whole = tmp_path / "whole"
    train(load_config(TINY, tiny_overrides(hand_data, hand_tokenizer_dir, whole, *settings)))
    broken = tmp_path / "broken"
    config = load_config(TINY, tiny_overrides(hand_data, hand_tokenizer_dir, broken, *settings))
    write_checkpoint = Trainer.checkpoint

    def checkpoint_then_die(self: Trainer, state: Any) -> None:
        write_checkpoint(self, state)
        raise Killed

    monkeypatch.setattr(Trainer, "checkpoint", checkpoint_then_die)
    with pytest.raises(Killed):
        train(config)
    monkeypatch.undo()
    killed = json.loads((saved_checkpoints(broken)[0] / "trainer_state.json").read_text())["state"]
    train(config, resume=True)
    return whole, broken, killed


@pytest.mark.slow
def test_ddp_ranks_end_with_equal_weights(tmp_path, hand_data, hand_tokenizer_dir):
    output = tmp_path / "ddp"
    overrides = tiny_overrides(hand_data, hand_tokenizer_dir, output, "max_steps=4", "epochs=1000")
    command = [
        *(sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"),
        *("-m", "albert_srl.cli", "train", str(TINY), "--set", *overrides),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    digests = dict(re.findall(r"rank (\d+): final weights sha256 (\w+)", result.stderr))
    assert set(digests) == {"0", "1"}
    assert digests["0"] == digests["1"]
    assert (output / "best" / "model.safetensors").exists()


def test_lemma_table_keeps_each_forms_most_frequent_lemma():
    words = ["He", "left", "and", "Left", "left"]
    frames = [
        Frame(Predicate(i, words[i], lemma=lemma)) for i, lemma in [(1, "leave"), (3, "leave"), (4, "left")]
    ]
    assert lemma_table([Sentence(words, frames)]) == {"left": "leave"}


def test_dev_labels_unseen_in_training_are_warned_about(tmp_path, hand_data, hand_tokenizer_dir, caplog):
    dev = hand_sentences()
    dev[0].frames[0].arguments.append(Argument("ARGM-XYZ", 5, 6, "."))
    dev_path = tmp_path / "dev.jsonl"
    formats.write(dev, dev_path, "jsonl")
    overrides = [
        *tiny_overrides(hand_data, hand_tokenizer_dir, tmp_path / "run", "epochs=1"),
        f"dev_path={dev_path}",
    ]
    with caplog.at_level("WARNING", logger="albert_srl.training.finetune"):
        train(load_config(TINY, overrides))
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(str(dev_path) in w and "B-ARGM-XYZ" in w for w in warnings)


# ---------------------------------------------------------------------------------------------------
# Time budget, the evaluation callback, unusable data


def test_a_time_budget_inside_the_first_epoch_still_leaves_a_loadable_best(
    tmp_path, hand_data, hand_tokenizer_dir
):
    from albert_srl.tagging.tagger import SRLTagger

    output = tmp_path / "run"
    overrides = tiny_overrides(hand_data, hand_tokenizer_dir, output, "max_tokens=16", "max_minutes=0.00001")
    best = train(load_config(TINY, overrides))
    checkpoint = latest_checkpoint(output)
    state = json.loads((checkpoint / "trainer_state.json").read_text())["state"]
    assert state["out_of_time"] and state["epoch"] == 0 and state["step"] == 1  # stopped after one step
    assert "time budget" in (best / "README.md").read_text()
    tagged = SRLTagger.from_pretrained(best).tag([hand_sentences()[0].words], predicates=[[2]])
    assert tagged[0].frames[0].predicate.index == 2


def test_on_evaluate_sees_each_epoch_and_its_exception_ends_the_run_after_the_checkpoint(
    tmp_path, hand_data, hand_tokenizer_dir
):
    class Pruned(Exception):
        pass

    seen: list[tuple[int, dict[str, float]]] = []

    def prune_at_epoch_two(epoch: int, metrics: dict[str, float]) -> None:
        seen.append((epoch, metrics))
        if epoch == 2:
            raise Pruned

    output = tmp_path / "run"
    config = load_config(
        TINY, tiny_overrides(hand_data, hand_tokenizer_dir, output, "epochs=5", "patience=9")
    )
    with pytest.raises(Pruned):
        train(config, on_evaluate=prune_at_epoch_two)
    assert [epoch for epoch, _ in seen] == [1, 2]
    assert {"f1", "precision", "recall", "sense_accuracy", "train_loss"} <= seen[0][1].keys()
    state = json.loads((latest_checkpoint(output) / "trainer_state.json").read_text())["state"]
    assert state["epoch"] == 2  # the pruned epoch's checkpoint was written before the callback ran
    records = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]
    assert [r["f1"] for r in records] == [m["f1"] for _, m in seen]


def test_training_data_without_predicates_is_one_clear_error(tmp_path, hand_tokenizer_dir):
    bare = tmp_path / "bare.jsonl"
    formats.write([Sentence(words=s.words) for s in hand_sentences()], bare, "jsonl")
    config = load_config(TINY, tiny_overrides(bare, hand_tokenizer_dir, tmp_path / "run"))
    with pytest.raises(SRLFormatError, match="no training sentence has a predicate"):
        train(config)


@pytest.mark.corpus
def test_chinese_data_with_a_small_vocabulary_is_one_clear_error(tmp_path, capsys):
    chinese = SHARED / "corpora" / "up" / "zh-up-dev.conllu"
    if not chinese.exists():
        pytest.skip("../shared/corpora/up is absent")
    overrides = [
        f"train_path={chinese}",
        f"dev_path={chinese}",
        f"output_dir={tmp_path}",
        "encoder.vocab_size=100",
    ]
    assert main(["train", str(TINY), "--set", *overrides]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"albert-srl: error: {chinese}") and "vocab_size" in err and "Traceback" not in err


def test_a_benchmark_reaches_the_optimizer_and_the_loss_of_a_step() -> None:
    """benchmarks/train_speed.py takes these instead of rebuilding them: encoder and heads at their own
    learning rates, no decay on biases, and the losses weighted by ``loss_weights``."""
    config = TrainConfig(train_path="t", dev_path="d", output_dir="o", encoder_lr=1e-4, head_lr=1e-2)
    config.loss_weights.sense, config.loss_weights.predicate = 0.5, 0.0
    model = torch.nn.ModuleDict({"encoder": torch.nn.Linear(2, 2), "head": torch.nn.Linear(2, 2)})
    optimizer = finetune_optimizer(model, config)
    groups = {(g["lr"], g["weight_decay"], len(g["params"])) for g in optimizer.param_groups}
    assert groups == {(1e-2, 0.01, 1), (1e-2, 0.0, 1), (1e-4, 0.01, 1), (1e-4, 0.0, 1)}

    class Stub(torch.nn.Module):
        def forward(self, batch: Any) -> SRLOutput:
            one = torch.ones(())
            return SRLOutput(one, argument_loss=2 * one, sense_loss=4 * one, predicate_loss=8 * one)

    class StubBatch:
        def to(self, device: torch.device) -> StubBatch:
            return self

    loss = training_loss(Stub(), StubBatch(), config, Runtime(device=torch.device("cpu")))
    assert loss.item() == 2 + 0.5 * 4 + 0.0 * 8


def test_layer_wise_decay_lowers_the_rate_one_factor_per_layer_below_the_top() -> None:
    """An ALBERT with one layer group per layer: the top group learns at encoder_lr, each group below at
    half the one above, the embeddings (and the factorized mapping) last; the heads keep head_lr."""
    from transformers import AlbertConfig, AlbertModel

    encoder = AlbertModel(
        AlbertConfig(
            vocab_size=50,
            embedding_size=8,
            hidden_size=16,
            num_hidden_layers=3,
            num_hidden_groups=3,
            num_attention_heads=2,
            intermediate_size=32,
        )
    )
    model = torch.nn.ModuleDict({"encoder": encoder, "head": torch.nn.Linear(16, 2)})
    config = TrainConfig(
        train_path="t", dev_path="d", output_dir="o", encoder_lr=0.8, head_lr=0.01, layer_lr_decay=0.5
    )
    optimizer = finetune_optimizer(model, config)
    rate = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    named = dict(model.named_parameters())

    def lr(name: str) -> float:
        return rate[id(named[name])]

    group = "encoder.encoder.albert_layer_groups.{}.albert_layers.0.ffn.weight"
    assert [lr(group.format(i)) for i in (2, 1, 0)] == [0.8, 0.4, 0.2]
    assert lr("encoder.embeddings.word_embeddings.weight") == 0.1
    assert lr("encoder.encoder.embedding_hidden_mapping_in.weight") == 0.1
    assert lr("encoder.pooler.weight") == 0.8
    assert lr("head.weight") == 0.01
    config.layer_lr_decay = 1.0
    plain = finetune_optimizer(model, config)
    assert {g["lr"] for g in plain.param_groups} == {0.8, 0.01}


# ---------------------------------------------------------------------------------------------------
# Silver data beside the gold


def silver_sentence(words: str, doc_id: str | None, confidence: float | None) -> Sentence:
    """A labelled sentence whose one frame has ``confidence`` (its predicate found with probability 1)."""
    tokens = words.split()
    found = Predicate(
        1, tokens[1], lemma="see", sense="see.01", probability=None if confidence is None else 1.0
    )
    arguments = [Argument("ARG0", 0, 1, tokens[0]), Argument("V", 1, 2, tokens[1]), Argument("ARG1", 2, 3)]
    return Sentence(tokens, [Frame(found, arguments, confidence)], doc_id=doc_id, part="0")


def test_silver_is_taken_in_whole_documents_and_filtered_by_confidence(tmp_path):
    from albert_srl.config import SilverConfig
    from albert_srl.training.silver import read_silver

    sentences = [
        silver_sentence("Cats see mice .", "wiki/000000", 0.9),
        silver_sentence("Dogs see cats .", "wiki/000000", 0.2),
        silver_sentence("Birds see worms .", "wiki/000001", 0.8),
        silver_sentence("Fish see water .", "wiki/000002", 0.95),
        Sentence(["Nothing", "here", "."], doc_id="wiki/000002", part="0"),
    ]
    path = tmp_path / "silver.jsonl"
    formats.write(sentences, path, "jsonl")
    words = [" ".join(s.words) for s in read_silver(SilverConfig([str(path)])).sentences]
    assert words == [" ".join(s.words) for s in sentences]
    silver = read_silver(SilverConfig([str(path)], min_confidence=0.5))
    assert [s.words[0] for s in silver.sentences] == ["Cats", "Birds", "Fish", "Nothing"]
    assert (silver.read, silver.below_confidence) == (5, 1)
    two = read_silver(SilverConfig([str(path), str(path)], max_sentences=2, min_confidence=0.5))
    assert [s.words[0] for s in two.sentences] == ["Cats", "Birds"]  # documents 0 and 1, whole
    three = read_silver(SilverConfig([str(path)], max_sentences=3))
    assert [s.words[0] for s in three.sentences] == ["Cats", "Dogs", "Birds"]

    conll = tmp_path / "silver.gold_conll"
    formats.write(sentences, conll, "conll12")  # no probabilities in CoNLL columns
    with pytest.raises(SRLFormatError, match=f"{conll}: sentence 1: a frame without a probability"):
        read_silver(SilverConfig([str(conll)], min_confidence=0.5))
    assert len(read_silver(SilverConfig([str(conll)])).sentences) == 5


@pytest.fixture(scope="module")
def silver_data(trained_tiny_tagger, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Text labelled by the tiny model of conftest (``albert-srl label``): JSON lines with probabilities."""
    from conftest import fixture_text_lines

    from albert_srl.config import LabelOptions
    from albert_srl.tagging.label import label

    folder = tmp_path_factory.mktemp("silver")
    lines = fixture_text_lines(20)
    (folder / "news.txt").write_text("\n\n".join(lines[:24]) + "\n", encoding="utf-8")
    label(trained_tiny_tagger, [folder / "news.txt"], folder / "news.jsonl", LabelOptions(format="jsonl"))
    return folder / "news.jsonl"


def test_a_silver_round_trip_trains_on_gold_and_silver(tmp_path, hand_data, hand_tokenizer_dir, silver_data):
    from albert_srl.model.encoding import instances_from_sentences, label_set
    from albert_srl.tagging.tagger import SRLTagger

    silver = [*formats.read(silver_data)]
    silver_labels = set(label_set(instances_from_sentences(silver))) - {"O"}
    gold_labels = set(label_set(instances_from_sentences(hand_sentences())))
    assert silver_labels - gold_labels  # the silver brings labels the gold lacks
    output = tmp_path / "run"
    overrides = [
        f"silver.path=[{silver_data}]",
        "silver.weight=0.5",
        "silver.min_confidence=0.05",
        "epochs=2",
    ]
    best = train(load_config(TINY, tiny_overrides(hand_data, hand_tokenizer_dir, output, *overrides)))
    model = SRLTagger.from_pretrained(best)
    assert silver_labels | gold_labels <= set(model.config.labels)  # labels come from both
    assert model.config.lemmas == lemma_table(hand_sentences())  # lemmas from the gold alone
    kept = [s for s in silver if all((f.confidence or 0) >= 0.05 for f in s.frames)]
    assert 0 < len(kept) < len(silver)
    card = (best / "README.md").read_text()
    assert (
        f"- silver: `{silver_data}`: {len(kept)} sentences used of {len(silver)} read; loss weight 0.5; "
        f"min_confidence "
        f"0.05 ({len(silver) - len(kept)} left out)\n"
    ) in card


def test_a_run_with_silver_resumed_mid_epoch_ends_with_the_same_weights(
    tmp_path, hand_data, hand_tokenizer_dir, silver_data, monkeypatch
):
    settings = [
        "epochs=2",
        "patience=100",
        "checkpoint_every=2",
        f"silver.path=[{silver_data}]",
        "silver.weight=0.3",
    ]
    whole, broken, killed = whole_then_killed_and_resumed(
        tmp_path, hand_data, hand_tokenizer_dir, monkeypatch, settings
    )
    assert killed["epoch"] == 0 and killed["batches_done"] > 0
    assert metrics_of(broken) == metrics_of(whole)
    expected, actual = final_tensors(whole), final_tensors(broken)
    assert expected.keys() == actual.keys()
    for name, tensor in expected.items():
        assert torch.equal(tensor, actual[name]), name


def test_a_run_from_a_trained_model_starts_from_its_weights(tmp_path, hand_data, hand_tokenizer_dir):
    from albert_srl.tagging.model_dir import read_model_dir

    first = train(
        load_config(TINY, tiny_overrides(hand_data, hand_tokenizer_dir, tmp_path / "first", "epochs=3"))
    )
    frozen = ["encoder_lr=0", "head_lr=0", "epochs=1", f"init_model={first}", "dropout=0.5"]
    second = train(
        load_config(TINY, tiny_overrides(hand_data, hand_tokenizer_dir, tmp_path / "second", *frozen))
    )
    # Nothing learned at a zero rate: the run's model is the one it started from, and so are its scores.
    before, after = read_model_dir(first).model, read_model_dir(second).model
    assert after.config == before.config  # its architecture, labels and dropout, not the run's settings
    for (name, tensor), (_, kept) in zip(
        before.state_dict().items(), after.state_dict().items(), strict=True
    ):
        assert torch.equal(tensor, kept), name
    assert metrics_of(tmp_path / "second")[0]["f1"] == max(r["f1"] for r in metrics_of(tmp_path / "first"))
    assert f"- started from the trained model `{first}`" in (second / "README.md").read_text()


def test_a_trained_model_lacking_the_datas_labels_cannot_start_a_run(
    tmp_path, hand_data, hand_tokenizer_dir, silver_data
):
    first = train(
        load_config(TINY, tiny_overrides(hand_data, hand_tokenizer_dir, tmp_path / "first", "epochs=1"))
    )
    more = [f"init_model={first}", f"silver.path=[{silver_data}]"]  # the silver brings labels the gold lacks
    with pytest.raises(SRLFormatError, match="init_model: the training data has labels the model lacks"):
        train(load_config(TINY, tiny_overrides(hand_data, hand_tokenizer_dir, tmp_path / "second", *more)))
