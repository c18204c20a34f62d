"""Pretraining: n-gram masking statistics, SOP pairs, packing round trip, and a tiny end-to-end run that
resumes to the same weights as an uninterrupted one and loads with ``AlbertModel.from_pretrained``."""

from __future__ import annotations

import gzip
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import latest_checkpoint
from safetensors.torch import load_file
from transformers import AlbertConfig, AlbertForPreTraining, AlbertModel

from albert_srl.config import ConfigError, PretrainConfig, load_pretrain_config
from albert_srl.data import Sentence
from albert_srl.errors import SRLFormatError
from albert_srl.formats import write
from albert_srl.model.tokenizer import load_tokenizer, train_sentencepiece
from albert_srl.pretraining import export_encoder, pretrain
from albert_srl.pretraining.corpus import (
    document_sentences,
    load_corpus,
    pack,
    prepare_corpus,
    prepare_tokenizer,
    split_sentences,
)
from albert_srl.pretraining.export import add_run, read_record
from albert_srl.pretraining.instances import (
    IGNORE,
    Vocabulary,
    batch_pairs,
    batch_rng,
    collate,
    make_pairs,
    mask_ngrams,
)
from albert_srl.pretraining.run import build_model, learning_rate_schedule, pretraining_loss
from albert_srl.tagging.text import read_documents
from albert_srl.training import loop
from albert_srl.training.checkpoints import load_tensors
from albert_srl.training.runtime import Deadline

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
TINY = REPO / "configs" / "pretrain-tiny.yaml"

SUBJECTS = ["The committee", "A small village", "Her younger brother", "The old railway", "This museum"]
VERBS = ["approved", "described", "rebuilt", "visited", "announced", "criticised"]
OBJECTS = ["the new plan", "a stone bridge", "several paintings", "the northern line", "its first season"]


def fixture_text(path: Path, documents: int = 60, seed: int = 0) -> Path:
    """A gzipped corpus in the pretraining format: title line, paragraph lines, blank line."""
    rng = np.random.default_rng(seed)
    blocks = []
    for d in range(documents):
        paragraphs = []
        for _ in range(int(rng.integers(1, 4))):
            sentences = [
                " ".join(
                    [
                        rng.choice(SUBJECTS),
                        rng.choice(VERBS),
                        rng.choice(OBJECTS),
                        "in",
                        str(rng.integers(1900, 2000)),
                    ]
                )
                + "."
                for _ in range(int(rng.integers(2, 6)))
            ]
            paragraphs.append(" ".join(sentences))
        blocks.append("\n".join([f"Article {d}", *paragraphs]))
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write("\n\n".join(blocks) + "\n")
    return path


@pytest.fixture(scope="module")
def text(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fixture_text(tmp_path_factory.mktemp("text") / "wiki.txt.gz")


@pytest.fixture(scope="module")
def tokenizer_dir(text: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    lines = (p for doc in read_documents(text, title_lines=True) for p in doc)
    return train_sentencepiece(lines, tmp_path_factory.mktemp("tok"), vocab_size=200)


@pytest.fixture(scope="module")
def corpus_dir(text: Path, tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pack(
        [text],
        tokenizer_dir,
        tmp_path_factory.mktemp("packed"),
        shard_tokens=500,
        min_words=3,
        title_lines=True,
    )


# ---------------------------------------------------------------------------------------------------
# Text and packing


def test_documents_drop_the_title_and_sentences_split_at_stops(tmp_path: Path):
    path = tmp_path / "t.txt"
    path.write_text(
        "Title\nMr. Smith went home. He slept.\n\nOther\nOne two three four five.\n", encoding="utf-8"
    )
    documents = list(read_documents(path, title_lines=True))
    assert documents == [["Mr. Smith went home. He slept."], ["One two three four five."]]
    assert split_sentences(documents[0][0]) == ["Mr. Smith went home.", "He slept."]


def test_packing_round_trip_decodes_back_to_the_text(text: Path, tokenizer_dir: Path, corpus_dir: Path):
    tokenizer = load_tokenizer(tokenizer_dir)
    corpus = load_corpus(corpus_dir)
    assert len(list(corpus_dir.glob("shard-*.npz"))) > 1  # the small shard size forced several shards
    expected = [document_sentences(doc, 3) for doc in read_documents(text, title_lines=True)]
    assert corpus.documents == len(expected)
    starts = corpus.sentence_starts
    for d in (0, len(expected) // 2, len(expected) - 1):
        first, last = corpus.document_starts[d], corpus.document_starts[d + 1]
        decoded = [
            tokenizer.decode(corpus.ids[starts[s] : starts[s + 1]].tolist()) for s in range(first, last)
        ]
        assert decoded == expected[d]
    with np.load(corpus_dir / "shard-00000.npz", allow_pickle=False) as shard:
        assert shard["ids"].dtype == np.uint16


# ---------------------------------------------------------------------------------------------------
# Pairs and masking


def test_sop_pairs_are_balanced_consecutive_and_fit(corpus_dir: Path):
    corpus = load_corpus(corpus_dir)
    pairs = make_pairs(corpus, max_length=40, short_seq_prob=0.1, rng=np.random.default_rng(1))
    assert len(pairs.swapped) > 100
    assert 0.4 < pairs.swapped.mean() < 0.6
    assert (pairs.lengths <= 40).all()
    assert (pairs.a_end <= pairs.b_start).all() and (pairs.a_start < pairs.a_end).all()
    assert (pairs.b_start < pairs.b_end).all()
    # A and B of a pair lie in the same document
    doc_of = np.searchsorted(corpus.sentence_starts[corpus.document_starts], pairs.a_start, side="right")
    doc_of_b = np.searchsorted(corpus.sentence_starts[corpus.document_starts], pairs.b_end - 1, side="right")
    assert (doc_of == doc_of_b).all()


def test_collate_puts_swapped_pairs_second_segment_first(corpus_dir: Path, tokenizer_dir: Path):
    corpus = load_corpus(corpus_dir)
    vocabulary = Vocabulary.from_tokenizer(load_tokenizer(tokenizer_dir))
    pairs = make_pairs(corpus, 40, 0.0, np.random.default_rng(2))
    indices = np.concatenate([np.flatnonzero(pairs.swapped)[:3], np.flatnonzero(~pairs.swapped)[:3]])
    batch = collate(corpus, pairs, indices, vocabulary, np.random.default_rng(0), mask_prob=0.0)
    for row, i in enumerate(indices):
        a = corpus.ids[pairs.a_start[i] : pairs.a_end[i]].tolist()
        b = corpus.ids[pairs.b_start[i] : pairs.b_end[i]].tolist()
        first, second = (b, a) if pairs.swapped[i] else (a, b)
        expected = [vocabulary.cls_id, *first, vocabulary.sep_id, *second, vocabulary.sep_id]
        assert batch.input_ids[row, : len(expected)].tolist() == expected
        assert batch.token_type_ids[row, : len(expected)].tolist() == [0] * (len(first) + 2) + [1] * (
            len(second) + 1
        )
        assert int(batch.sentence_order_label[row]) == int(pairs.swapped[i])


def test_ngram_masking_statistics(corpus_dir: Path, tokenizer_dir: Path):
    corpus = load_corpus(corpus_dir)
    vocabulary = Vocabulary.from_tokenizer(load_tokenizer(tokenizer_dir))
    pairs = make_pairs(corpus, 64, 0.0, np.random.default_rng(3))
    batch = collate(corpus, pairs, np.arange(len(pairs.swapped)), vocabulary, np.random.default_rng(4))
    clean = collate(corpus, pairs, np.arange(len(pairs.swapped)), vocabulary, np.random.default_rng(4), 0.0)
    original, inputs, labels = clean.input_ids, batch.input_ids, batch.labels
    real = clean.attention_mask.bool()
    special = real & torch.isin(original, torch.tensor([vocabulary.cls_id, vocabulary.sep_id]))
    predicted = labels != IGNORE
    # about 15% of the maskable tokens, never a special one; labels are the original ids
    rate = predicted.sum().item() / (real & ~special).sum().item()
    assert 0.13 < rate <= 0.155
    assert not (predicted & special).any()
    assert torch.equal(labels[predicted], original[predicted])
    assert torch.equal(inputs[~predicted], original[~predicted])
    # 80% [MASK], 10% random, 10% kept (spans decide together, so the tolerance is loose)
    masked = (inputs[predicted] == vocabulary.mask_id).float().mean().item()
    kept = (inputs[predicted] == original[predicted]).float().mean().item()
    assert 0.74 < masked < 0.86 and 0.05 < kept < 0.15
    # spans are at most 3 words; p(n) favours single words
    starts = torch.from_numpy(vocabulary.word_start)[original]
    spans = []
    for row in range(len(original)):
        run = 0
        for position in range(original.shape[1]):
            if predicted[row, position]:
                run += int(starts[row, position]) or (run == 0)
            elif run:
                spans.append(run)
                run = 0
    counts = np.bincount(spans, minlength=4)
    # two chosen spans may touch and read as one longer run: rare
    assert counts[4:].sum() < 0.1 * counts.sum()
    assert counts[1] > counts[2] > counts[3] > 0


def test_ngram_spans_are_whole_words_of_at_most_three(tokenizer_dir: Path):
    vocabulary = Vocabulary.from_tokenizer(load_tokenizer(tokenizer_dir))
    rng = np.random.default_rng(5)
    tokens = rng.choice(vocabulary.random_ids, size=200)
    word_start = np.zeros(200, dtype=bool)
    word_start[::2] = True  # every word two pieces
    maskable = np.ones(200, dtype=bool)
    for _ in range(20):
        _, labels = mask_ngrams(tokens, maskable, word_start, vocabulary, rng, mask_prob=0.15)
        chosen = labels != IGNORE
        assert chosen.sum() <= 30
        assert not (chosen[1::2] & ~chosen[0::2]).any() and not (chosen[0::2] & ~chosen[1::2]).any()


def test_a_tokenizer_without_a_mask_token_is_refused(tokenizer_dir: Path):
    tokenizer = load_tokenizer(tokenizer_dir)
    assert Vocabulary.from_tokenizer(tokenizer).mask_id == tokenizer.mask_token_id
    tokenizer.mask_token_id = None
    with pytest.raises(ValueError, match="no mask token"):
        Vocabulary.from_tokenizer(tokenizer)


def test_masks_change_with_the_epoch_and_repeat_with_it():
    config = PretrainConfig(text_paths=["x"], output_dir="y")
    draw = lambda epoch: batch_rng(config, epoch, 0).random(4).tolist()  # noqa: E731
    assert draw(0) == draw(0) and draw(0) != draw(1)


def test_batches_respect_the_token_budget():
    lengths = np.random.default_rng(0).integers(5, 64, size=500)
    batches = batch_pairs(lengths, 256, np.random.default_rng(0))
    assert sorted(np.concatenate(batches).tolist()) == list(range(500))
    assert all(len(b) * lengths[b].max() <= 256 for b in batches)


# ---------------------------------------------------------------------------------------------------
# End to end


def tiny_config(
    text: Path, output: Path, tokenizer_dir: Path, corpus_dir: Path, steps: int = 6
) -> PretrainConfig:
    return load_pretrain_config(
        TINY,
        [
            f"text_paths=[{text}]",
            f"output_dir={output}",
            f"encoder.tokenizer={tokenizer_dir}",
            f"packed_dir={corpus_dir}",
            "max_length=40",
            "max_tokens=320",
            f"max_steps={steps}",
            "checkpoint_every=3",
            "log_every=3",
            "text_source=null",
        ],
    )


def test_pretrain_resumes_to_the_weights_of_an_uninterrupted_run(
    text: Path, tokenizer_dir: Path, corpus_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    straight = pretrain(tiny_config(text, tmp_path / "a", tokenizer_dir, corpus_dir), resume=False)

    interrupted = tiny_config(text, tmp_path / "b", tokenizer_dir, corpus_dir)
    save = loop.save_checkpoint

    def save_then_crash(*args, **kwargs):
        path = save(*args, **kwargs)
        raise KeyboardInterrupt(path)

    monkeypatch.setattr(loop, "save_checkpoint", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        pretrain(interrupted, resume=False)
    monkeypatch.setattr(loop, "save_checkpoint", save)
    assert latest_checkpoint(tmp_path / "b").name == "step-000000003"
    resumed = pretrain(interrupted, resume=True)

    a = load_tensors(latest_checkpoint(straight), "model", torch.device("cpu"))
    b = load_tensors(latest_checkpoint(resumed), "model", torch.device("cpu"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    encoder = AlbertModel.from_pretrained(str(resumed))
    assert encoder.dtype == torch.float32
    assert encoder.config.vocab_size == len(load_tokenizer(resumed))
    exported = load_file(str(resumed / "model.safetensors"))
    assert all(t.dtype == torch.bfloat16 for t in exported.values())
    assert torch.equal(
        encoder.embeddings.word_embeddings.weight,
        a["albert.embeddings.word_embeddings.weight"].bfloat16().float(),
    )
    card = (resumed / "README.md").read_text(encoding="utf-8")
    assert str(text) in card and "tokens seen" in card
    assert "CC BY-SA" not in card and "Wikipedia" not in card  # the text is not Wikipedia's


@pytest.mark.corpus
def test_tiny_config_packs_the_shared_wikipedia_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    if not (SHARED / "pretrain").exists():
        pytest.skip("../shared/pretrain is absent")
    monkeypatch.chdir(REPO)
    config = load_pretrain_config(
        TINY, [f"output_dir={tmp_path}", "max_documents=20", "vocab_paragraphs=300", "encoder.vocab_size=300"]
    )
    corpus = prepare_corpus(config, prepare_tokenizer(config))
    assert corpus.documents == 20 and len(corpus.ids) > 5000
    tokenizer = load_tokenizer(tmp_path / "tokenizer")
    unknown = int((corpus.ids == tokenizer.unk_token_id).sum())
    assert unknown < 0.01 * len(corpus.ids)


def test_config_rejects_evaluation_data_in_the_vocabulary(tmp_path: Path):
    dev = tmp_path / "dev.gold_conll"
    dev.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="evaluation"):
        load_pretrain_config(TINY, [f"text_paths=[{dev}]", f"vocab_conll=[{dev}]"])


def test_masked_position_loss_equals_the_full_pretraining_loss(corpus_dir: Path, tokenizer_dir: Path):
    from transformers import AlbertConfig, AlbertForPreTraining

    corpus = load_corpus(corpus_dir)
    vocabulary = Vocabulary.from_tokenizer(load_tokenizer(tokenizer_dir))
    pairs = make_pairs(corpus, 40, 0.0, np.random.default_rng(6))
    batch = collate(corpus, pairs, np.arange(8), vocabulary, np.random.default_rng(7))
    torch.manual_seed(0)
    config = AlbertConfig(vocab_size=vocabulary.size, embedding_size=8, hidden_size=16, num_hidden_layers=1,
                          num_attention_heads=2, intermediate_size=32, hidden_dropout_prob=0.0,
                          attention_probs_dropout_prob=0.0)  # fmt: skip
    model = AlbertForPreTraining(config).eval()
    full = model(**vars(batch)).loss
    assert torch.allclose(pretraining_loss(model, batch).loss, full, atol=1e-5)


def test_a_time_budget_stops_pretraining_with_an_exported_encoder(
    text: Path, tokenizer_dir: Path, corpus_dir: Path, tmp_path: Path
):
    config = tiny_config(text, tmp_path / "run", tokenizer_dir, corpus_dir, steps=1000)
    config.max_minutes = 0.00001  # the deadline passes during the first step
    output = pretrain(config, resume=False)
    assert AlbertModel.from_pretrained(str(output)).config.vocab_size == len(load_tokenizer(output))
    assert latest_checkpoint(output).name == "step-000000001"
    assert "time budget" in (output / "README.md").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------------
# Continued pretraining


def test_pretraining_continues_an_exported_encoder_and_adds_up_what_it_saw(
    text: Path, tokenizer_dir: Path, corpus_dir: Path, tmp_path: Path
):
    first = pretrain(tiny_config(text, tmp_path / "first", tokenizer_dir, corpus_dir, steps=3), resume=False)
    before = json.loads((first / "pretraining.json").read_text(encoding="utf-8"))
    assert before["steps"] == 3 and before["tokens_seen"] > 0 and len(before["runs"]) == 1

    config = load_pretrain_config(
        TINY,
        [f"text_paths=[{tmp_path / 'gone.txt.gz'}]",  # packed already: the text need not be here
         f"output_dir={tmp_path / 'second'}", f"encoder.pretrained={first}", f"packed_dir={corpus_dir}",
         "encoder.hidden_size=64", "max_length=40", "max_tokens=320", "max_steps=2", "checkpoint_every=0",
         "log_every=1"],
    )  # fmt: skip
    model = build_model(config, load_tokenizer(first), torch.device("cpu"))
    exported = load_file(str(first / "model.safetensors"))
    assert model.config.hidden_size == AlbertModel.from_pretrained(str(first)).config.hidden_size != 64
    for name, tensor in model.state_dict().items():  # every weight, the MLM and SOP heads too
        if name in exported:
            assert torch.equal(tensor, exported[name].float()), name
    assert {"predictions.dense.weight", "sop_classifier.classifier.weight"} <= exported.keys()

    second = pretrain(config, resume=False)
    assert (second / "spiece.model").read_bytes() == (first / "spiece.model").read_bytes()
    trained = load_file(str(second / "model.safetensors"))  # the continued weights, not the start's
    assert not torch.equal(trained["albert.pooler.weight"], exported["albert.pooler.weight"])
    checkpoint = load_tensors(latest_checkpoint(second), "model", torch.device("cpu"))
    assert torch.equal(trained["albert.pooler.weight"], checkpoint["albert.pooler.weight"].bfloat16())
    after = json.loads((second / "pretraining.json").read_text(encoding="utf-8"))
    assert after["steps"] == 5 and after["runs"][1]["steps"] == 2
    assert after["tokens_seen"] == before["tokens_seen"] + after["runs"][1]["tokens_seen"]
    assert after["runs"][1]["started_from"] == str(first)
    card = (second / "README.md").read_text(encoding="utf-8")
    assert f"continued from the encoder in `{first}`" in card
    assert f"| tokens seen, in all | {after['tokens_seen']:,} |" in card


def test_an_encoder_without_heads_or_record_continues_with_fresh_heads(
    text: Path, tokenizer_dir: Path, corpus_dir: Path, tmp_path: Path
):
    torch.manual_seed(3)
    tokenizer = load_tokenizer(tokenizer_dir)
    sizes = {"embedding_size": 16, "hidden_size": 32, "num_hidden_layers": 2, "intermediate_size": 64}
    albert = AlbertConfig(vocab_size=len(tokenizer), num_attention_heads=2, **sizes)
    source = export_encoder(AlbertModel(albert), tokenizer, "# another recipe's encoder\n", tmp_path / "enc")
    assert not (source / "pretraining.json").exists()
    assert read_record(source) == {"steps": 0, "tokens_seen": 0, "seconds": 0.0, "runs": []}

    config = tiny_config(text, tmp_path / "run", tokenizer_dir, corpus_dir, steps=2)
    config.encoder.pretrained, config.encoder.tokenizer = str(source), None
    model = build_model(config, tokenizer, torch.device("cpu"))
    embeddings = load_file(str(source / "model.safetensors"))["embeddings.word_embeddings.weight"]
    assert torch.equal(model.albert.embeddings.word_embeddings.weight, embeddings.float())
    output = pretrain(config, resume=False)
    assert json.loads((output / "pretraining.json").read_text(encoding="utf-8"))["steps"] == 2


def test_an_older_card_counts_as_the_record(tmp_path: Path):
    (tmp_path / "README.md").write_text("| optimizer steps | 1,000 |\n| tokens seen | 7,912,345 |\n")
    record = read_record(tmp_path)
    assert (record["steps"], record["tokens_seen"]) == (1000, 7_912_345)
    assert add_run(record, {"steps": 5, "tokens_seen": 10, "seconds": 2.0})["tokens_seen"] == 7_912_355


def test_a_packing_of_another_vocabulary_is_refused(text: Path, corpus_dir: Path, tmp_path: Path):
    lines = (p for doc in read_documents(text, title_lines=True) for p in doc)
    other = train_sentencepiece(lines, tmp_path / "other", vocab_size=150)
    config = load_pretrain_config(
        TINY, [f"text_paths=[{text}]", f"encoder.tokenizer={other}", f"packed_dir={corpus_dir}"]
    )
    with pytest.raises(SRLFormatError, match="another vocabulary"):
        prepare_corpus(config, prepare_tokenizer(config))


def test_config_checks_the_encoder_to_continue(text: Path, tokenizer_dir: Path, tmp_path: Path):
    with pytest.raises(ConfigError, match=r"encoder\.pretrained"):
        load_pretrain_config(TINY, [f"text_paths=[{text}]", f"encoder.pretrained={tmp_path / 'none'}"])
    with pytest.raises(ConfigError, match="keeps its own tokenizer"):
        load_pretrain_config(
            TINY,
            [f"text_paths=[{text}]", f"encoder.pretrained={REPO / 'albert_srl/models/default'}",
             f"encoder.tokenizer={tokenizer_dir}"],
        )  # fmt: skip
    with pytest.raises(ConfigError, match="no such file"):
        load_pretrain_config(TINY, [f"text_paths=[{tmp_path / 'gone.txt.gz'}]"])


def test_the_deadline_schedule_decays_with_the_time_left():
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=1.0)
    config = PretrainConfig(text_paths=["x"], output_dir="x", warmup_steps=2, max_steps=10**6,
                            max_minutes=1.0, deadline_schedule=True)  # fmt: skip
    deadline = Deadline(1.0)
    deadline.end = time.monotonic() + 15  # a quarter of the budget left
    scheduler = learning_rate_schedule(optimizer, config, deadline)
    assert scheduler.get_last_lr() == [0.0]
    for _ in range(5):
        optimizer.step()
        scheduler.step()
    assert 0.2 < scheduler.get_last_lr()[0] <= 0.25
    deadline.end = time.monotonic() - 1
    scheduler.step()
    assert scheduler.get_last_lr() == [0.0]


# ---------------------------------------------------------------------------------------------------
# Self-pretraining: a task's own CoNLL text as pretraining text


def conll_fixture(path: Path) -> list[Sentence]:
    """Two CoNLL-2012 documents of three sentences each (no frames: only the words matter here)."""
    sentences = [
        Sentence(f"{s} {v} {o} .".split(), doc_id=f"doc/{d}", part="0")
        for d in range(2)
        for s, v, o in zip(SUBJECTS[d : d + 3], VERBS[d : d + 3], OBJECTS[d : d + 3], strict=True)
    ]
    write(sentences, path, "conll12")
    return sentences


def test_conll_text_is_packed_a_document_per_conll_document(tokenizer_dir: Path, tmp_path: Path):
    conll = tmp_path / "train.gold_conll"
    sentences = conll_fixture(conll)
    corpus = load_corpus(pack([], tokenizer_dir, tmp_path / "packed", conll_paths=[conll]))
    assert corpus.documents == 2 and len(corpus.sentence_starts) - 1 == len(sentences)
    tokenizer = load_tokenizer(tokenizer_dir)
    first = corpus.ids[corpus.sentence_starts[0] : corpus.sentence_starts[1]]
    assert tokenizer.decode(first.tolist()) == " ".join(sentences[0].words)


def test_self_pretraining_continues_an_encoder_on_conll_text(
    tmp_path: Path, tokenizer_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(REPO)
    start = tmp_path / "start"  # a fresh tiny encoder with the test vocabulary, as a hub directory
    sizes = {"embedding_size": 16, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}
    AlbertForPreTraining(
        AlbertConfig(vocab_size=len(load_tokenizer(tokenizer_dir)), intermediate_size=64, **sizes)
    ).save_pretrained(start)
    load_tokenizer(tokenizer_dir).save_pretrained(start)
    shutil.copy(tokenizer_dir / "spiece.model", start / "spiece.model")
    conll_fixture(tmp_path / "train.gold_conll")
    config = load_pretrain_config(
        REPO / "configs" / "pretrain-ewt-self.yaml",
        [f"text_conll=[{tmp_path / 'train.gold_conll'}]", f"output_dir={tmp_path / 'self'}", "max_steps=2",
         "max_tokens=256", "max_length=64", "eval_documents=1", "checkpoint_every=0", "num_threads=1",
         f"encoder.pretrained={start}"],
    )  # fmt: skip
    assert config.text_paths == []
    output = pretrain(config, resume=False)
    record = json.loads((output / "pretraining.json").read_text(encoding="utf-8"))
    assert record["runs"][-1]["text"] == [str(tmp_path / "train.gold_conll")]
    assert record["steps"] == 2  # the start saw no masked-LM step before
    assert "a document per CoNLL document" in (output / "README.md").read_text(encoding="utf-8")


def test_config_refuses_evaluation_data_as_pretraining_text(tmp_path: Path):
    with pytest.raises(ConfigError, match="text_conll names what looks like a dev or test split"):
        load_pretrain_config(TINY, [f"text_conll=[{tmp_path / 'dev.gold_conll'}]"])
    with pytest.raises(ConfigError, match="no text to learn from"):
        load_pretrain_config(TINY, ["text_paths=[]"])
