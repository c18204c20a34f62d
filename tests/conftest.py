"""Shared fixtures: a tiny SentencePiece tokenizer trained here from fixture text, a tiny ALBERT config,
the hand-written sample sentences, and a factory that trains a tiny tagger on them in seconds."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch

from albert_srl.data import Sentence
from albert_srl.formats import read
from albert_srl.model.encoding import collate, encode, instances_from_sentences, label_set, sense_set
from albert_srl.model.network import ModelConfig, SRLModel
from albert_srl.model.tokenizer import load_tokenizer, train_sentencepiece
from albert_srl.tagging.tagger import SRLTagger
from albert_srl.training.checkpoints import saved_checkpoints

SAMPLE = Path(__file__).resolve().parents[1] / "corpora" / "sample.gold_conll"
TINY_VOCAB = 300
TRAINED_STEPS = 150  # full-batch steps; the default model knows the tiny sentences after ~50

# Hand-written English for the tokenizer; the generator below recombines halves of these lines into a
# few hundred, enough for a unigram vocabulary of a few hundred pieces.
FIXTURE_TEXT = """President Bush nominated two judges on Tuesday .
The judges , who were appointed , picked up the case .
She said the court , she thinks , will rule soon .
Thanks !
The board approved the merger after a long meeting.
Thanks for your quick reply to my question about the schedule.
We visited the museum in the morning and walked along the river in the afternoon.
My brother bought a second-hand bicycle from a neighbour down the street.
The restaurant was closed, so we ordered pizza and watched a movie at home.
Could you send me the report before Friday?
The company announced that profits rose by ten percent last quarter.
Children were playing football in the park while their parents talked.
I would recommend this hotel to anyone travelling with a family.
The teacher explained the problem twice, but nobody understood it.
Heavy rain flooded several roads near the airport yesterday.
Our manager wants everyone to attend the training next week.
The doctor told him to drink more water and sleep longer.
They built a small wooden house beside the lake.
He forgot his keys at the office and had to wait outside.
The government will publish new rules for banks in March.
Please call the front desk if you need anything else.
The scientists measured the temperature of the ocean every hour.
A dog chased the cat across the garden and over the fence.
Prices of fresh vegetables increased sharply during the winter.
She has worked at the library for almost twenty years.
The students asked whether the exam would include history questions.
We should leave early because traffic is terrible on Mondays.
The police arrested a man who had stolen three cars.
My grandmother grows tomatoes, beans and potatoes in her yard.
The committee rejected the proposal without any explanation.
It took them four hours to repair the broken engine.
The new phone has a larger screen and a better camera.
Nobody expected the small team to win the championship.
Customers complained that the delivery arrived very late.
The author signed copies of her latest novel at the bookstore.
The service was friendly and the food tasted wonderful.
Farmers hope the weather improves before the harvest begins.
He apologized for the mistake and promised to fix it quickly.
The city plans to open a hospital in the northern district.
I received your message but could not open the attachment.
The pilot landed the plane safely despite the strong wind.""".splitlines()


def latest_checkpoint(output: Path) -> Path | None:
    """The newest complete checkpoint directory of a run in ``output``."""
    done = saved_checkpoints(output)
    return done[0] if done else None


def fixture_text_lines(count: int = 400, seed: int = 0) -> list[str]:
    """The fixture text plus ``count`` deterministic recombinations of the first half of one line and
    the second half of another."""
    rng = random.Random(seed)
    mixed = []
    for _ in range(count):
        first, second = (line.split() for line in rng.sample(FIXTURE_TEXT, 2))
        mixed.append(" ".join(first[: len(first) // 2] + second[len(second) // 2 :]))
    return FIXTURE_TEXT + mixed


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ALBERT tokenizer directory with a SentencePiece vocabulary of ``TINY_VOCAB`` pieces."""
    return train_sentencepiece(fixture_text_lines(), tmp_path_factory.mktemp("tiny_tokenizer"), TINY_VOCAB)


@pytest.fixture(scope="session")
def tiny_encoder_config(tiny_tokenizer_dir: Path) -> dict[str, Any]:
    """``AlbertConfig`` keyword arguments of a tiny encoder over the tiny tokenizer's vocabulary."""
    return {
        "vocab_size": len(load_tokenizer(tiny_tokenizer_dir)),
        "embedding_size": 16,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 128,
    }


@pytest.fixture(scope="session")
def tiny_sentences() -> list[Sentence]:
    """The four hand-written sentences of ``corpora/sample.gold_conll`` (six frames, one sentence with
    none; ``R-``, ``C-V`` and a discontinuous ``C-ARG1``). Shared by the session: do not mutate."""
    return list(read(SAMPLE))


def tiny_model_config(sentences: list[Sentence], encoder: dict[str, Any], **choices: Any) -> ModelConfig:
    """The label and sense sets of ``sentences``, their predicate lemmas, and ``choices``
    (``predicate_awareness``, ``head``, ``max_length`` ...)."""
    instances = instances_from_sentences(sentences)
    lemmas = {f.predicate.text.lower(): f.predicate.lemma for s in sentences for f in s.frames}
    return ModelConfig(
        labels=label_set(instances),
        senses=sense_set(instances),
        encoder=dict(encoder),
        dropout=0.0,
        lemmas={form: lemma for form, lemma in lemmas.items() if lemma},
        **choices,
    )


def train_steps(tagger: SRLTagger, sentences: list[Sentence], steps: int, lr: float = 3e-3) -> list[float]:
    """Full-batch AdamW on every instance of ``sentences`` for ``steps`` steps; returns the losses."""
    config = tagger.config
    instances = instances_from_sentences(sentences)
    labels = {label: i for i, label in enumerate(config.labels)}
    senses = {sense: i for i, sense in enumerate(config.senses)}
    batch = collate(encode(tagger.tokenizer, instances), tagger.tokenizer, config, labels, senses)
    optimizer = torch.optim.AdamW(tagger.model.parameters(), lr=lr)
    tagger.model.train()
    losses = []
    with one_thread():
        for _ in range(steps):
            optimizer.zero_grad()
            loss = tagger.model(batch).loss
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    tagger.model.eval()
    return losses


@contextmanager
def one_thread() -> Iterator[None]:
    """Tiny matrices train many times faster on one thread than on cores shared with other test runs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


TinyTaggerFactory = Callable[..., tuple[SRLTagger, list[float]]]


@pytest.fixture(scope="session")
def make_tiny_tagger(
    tiny_tokenizer_dir: Path, tiny_encoder_config: dict[str, Any], tiny_sentences: list[Sentence]
) -> TinyTaggerFactory:
    """``make(steps=0, seed=0, **choices) -> (tagger, losses)``: a fresh tiny tagger trained ``steps``
    full-batch steps on the tiny sentences."""
    tokenizer = load_tokenizer(tiny_tokenizer_dir)

    def make(steps: int = 0, seed: int = 0, **choices: Any) -> tuple[SRLTagger, list[float]]:
        torch.manual_seed(seed)
        config = tiny_model_config(tiny_sentences, tiny_encoder_config, **choices)
        tagger = SRLTagger(SRLModel(config).eval(), tokenizer)
        return tagger, train_steps(tagger, tiny_sentences, steps) if steps else []

    return make


@pytest.fixture(scope="session")
def trained_tiny_tagger(make_tiny_tagger: TinyTaggerFactory) -> SRLTagger:
    """The default model (segment awareness + CRF) trained until it knows the tiny sentences."""
    tagger, _ = make_tiny_tagger(steps=TRAINED_STEPS)
    return tagger


@contextmanager
def serving(app: Any, limits: Any = None) -> Iterator[str]:
    """``app`` served by a real uvicorn server in a thread, configured as ``albert-srl serve`` configures
    it (uvicorn installs no signal handlers off the main thread); yields its base URL and stops it
    afterwards. The server is handed a socket bound here to a free port: no other process can take the
    port between choosing it and listening on it."""
    import uvicorn

    from albert_srl.serving.serve import ServeLimits, uvicorn_config

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(app, limits or ServeLimits(), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
