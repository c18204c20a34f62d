"""The server under hostile input: lone surrogates, requests over the word limits, slow bodies, clients
that leave, small requests behind a long one, and SIGTERM during work."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import serving
from fastapi.testclient import TestClient
from polling import wait_until
from test_serve import StandInTagger

from albert_srl.data import Sentence
from albert_srl.serving.serve import Batcher, RequestGuard, ServeLimits, create_app

LIMITS = ServeLimits(max_sentences=8, max_words=10, max_request_words=20, batch_wait_ms=1)


@pytest.fixture
def client() -> Any:
    with TestClient(create_app(StandInTagger(), LIMITS)) as client:
        yield client


def post_raw(client: TestClient, path: str, body: str) -> Any:
    return client.post(path, content=body.encode(), headers={"content-type": "application/json"})


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/tag", '{"text": "It rained \\ud800 today."}', "text"),
        ("/v1/tag", '{"sentences": [["It", "rai\\udfffned"]]}', "sentences[0][1]"),
        ("/predict", '{"sentence": "\\udc80"}', "sentence"),
    ],
)
def test_a_lone_surrogate_is_422_naming_the_field(
    client: TestClient, path: str, body: str, field: str
) -> None:
    response = post_raw(client, path, body)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field
    assert "surrogate" in response.json()["error"]["message"]


def test_words_are_bounded_per_sentence_and_per_request(client: TestClient) -> None:
    long = client.post("/v1/tag", json={"sentences": [["w"] * 11]})
    assert long.status_code == 413 and long.json()["error"]["field"] == "sentences[0]"
    many = client.post("/v1/tag", json={"sentences": [["w"] * 10] * 3})
    assert many.status_code == 413 and "30 words is over the limit of 20" in many.json()["error"]["message"]
    assert client.post("/v1/tag", json={"sentences": [["w"] * 10] * 2}).status_code == 200


def test_a_body_that_trickles_in_is_408() -> None:
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the app must not be reached")

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0.05)
        return {"type": "http.request", "body": b" ", "more_body": True}  # one byte at a time, forever

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "headers": [(b"content-type", b"application/json")]}
    asyncio.run(RequestGuard(app, max_bytes=10_000, body_timeout_s=0.3)(scope, receive, send))
    assert sent[0]["status"] == 408
    assert b"did not arrive within" in sent[1]["body"]


def read_until_closed(sock: socket.socket, limit_s: float) -> tuple[bytes, float]:
    """What the server sends until it closes the connection, and how long that took; fails after
    ``limit_s``."""
    sock.settimeout(limit_s)
    started, answer = time.monotonic(), b""
    while chunk := sock.recv(4096):
        answer += chunk
    return answer, time.monotonic() - started


def test_headers_that_do_not_arrive_in_time_close_the_connection() -> None:
    """A half-sent header, a connection that sends nothing, and a kept-alive connection whose next
    request stops halfway are each closed at ``header_timeout_s`` (the half requests answered 408);
    a whole request in time is answered as usual."""
    limits = ServeLimits(header_timeout_s=0.5)
    with serving(create_app(StandInTagger(), limits), limits) as url:
        address = ("127.0.0.1", int(url.rsplit(":", 1)[1]))
        with socket.create_connection(address) as half, socket.create_connection(address) as idle:
            half.sendall(b"POST /v1/tag HTTP/1.1\r\nHost: x\r\nContent-Ty")
            answer, waited = read_until_closed(half, 10)
            assert answer.startswith(b"HTTP/1.1 408") and b"did not arrive within 0.5 s" in answer
            assert 0.4 < waited < 3.0
            assert read_until_closed(idle, 10)[0] == b""
        with socket.create_connection(address) as kept:
            kept.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            kept.settimeout(10)
            first = b""
            while not first.endswith(b"}"):  # the whole JSON answer
                first += kept.recv(4096)
            assert first.startswith(b"HTTP/1.1 200")
            kept.sendall(b"GET /health HTTP/1.1\r\nHo")
            answer, waited = read_until_closed(kept, 10)
            assert answer.startswith(b"HTTP/1.1 408") and waited < 3.0
        assert httpx.get(f"{url}/health").status_code == 200


class CountingTagger(StandInTagger):
    """Finds every word as a predicate, so a sentence is many units of work; records each unit."""

    def find_predicates(self, sentences: list[Sentence]) -> list[list[int]]:
        time.sleep(self.delay)
        return [list(range(len(s.words))) for s in sentences]

    def tag(self, sentences: list[Sentence], predicates: Any = None) -> list[Sentence]:
        self.calls.extend(len(s.words) for s in sentences)
        return super().tag(sentences, predicates)


def test_a_small_request_is_answered_before_a_long_one_ends() -> None:
    tagger = CountingTagger(delay=0.02)
    limits = ServeLimits(batch_words=10, batch_wait_ms=1, max_words=10, max_request_words=400)
    finished: dict[str, float] = {}
    with TestClient(create_app(tagger, limits)) as client, ThreadPoolExecutor(2) as pool:

        def post(name: str, body: dict[str, Any]) -> int:
            status = client.post("/v1/tag", json=body).status_code
            finished[name] = time.perf_counter()
            return status

        long = pool.submit(post, "long", {"sentences": [[f"w{i}" for i in range(10)]] * 40})  # 400 units
        wait_until(lambda: len(tagger.calls) >= 20, what="the long request being tagged")
        small = pool.submit(post, "small", {"sentences": [["It", "rained"]]})
        assert small.result() == 200 and long.result() == 200
    assert finished["small"] < finished["long"]  # interleaved, not queued behind all 400 units


def test_the_worst_request_is_tagged_in_slices_and_a_new_request_is_the_next_batch() -> None:
    """The worst request the default limits let through (one 256-word sentence, 160 predicates given)
    is tagged one predicate a batch once the time budget (``batch_ms``) says a predicate fills it. A
    small request queued while one of those batches runs is the next batch, alone; while small requests
    keep arriving, the worst one still gets a slice every other batch."""
    seconds_per_word = 2e-5  # the stand-in's speed: a 256-word predicate is 5 ms, the batch budget
    limits = ServeLimits(batch_ms=256 * seconds_per_word * 1000, batch_wait_ms=0)
    batches: list[list[Any]] = []
    smalls: list[concurrent.futures.Future[list[Sentence]]] = []

    async def scenario() -> None:
        batcher = Batcher(StandInTagger(), limits)
        run_units = batcher.run_units
        loop = asyncio.get_running_loop()

        def recorded(units: list[Any], room: int) -> list[Any]:
            batches.append([unit.predicate for unit in units])
            if 5 <= len(batches) <= 12:  # a small request arrives while this batch is tagged
                small = batcher.tag([Sentence(words=["It", "rained", "."])], [None])
                smalls.append(asyncio.run_coroutine_threadsafe(small, loop))
            time.sleep(seconds_per_word * sum(unit.words for unit in units))
            return run_units(units, room)

        batcher.run_units = recorded  # type: ignore[method-assign]
        worker = asyncio.create_task(batcher.run())
        await asyncio.wait_for(batcher.tag([Sentence(words=["w"] * 256)], [list(range(160))]), 60)
        worker.cancel()

    asyncio.run(scenario())
    assert [[f.predicate.index for f in small.result(0)[0].frames] for small in smalls] == [[1]] * 8
    big = [[p for p in batch if p is not None] for batch in batches]
    assert all(len(slice_) <= 1 for slice_ in big[1:]), big  # after the first, measured batch
    assert sum(len(slice_) for slice_ in big) == 160
    assert batches[5] == [None]  # the first small request (its find unit): the next batch, alone
    assert all(big[i] or big[i + 1] for i in range(len(big) - 1)), big  # never passed over twice


def test_the_work_of_a_client_that_left_is_dropped() -> None:
    tagger = CountingTagger(delay=0.01)
    limits = ServeLimits(batch_words=10, batch_wait_ms=1)

    async def scenario() -> None:
        batcher = Batcher(tagger, limits)
        worker = asyncio.create_task(batcher.run())
        checks = 0

        async def gone() -> bool:
            nonlocal checks
            checks += 1
            return checks >= 2

        sentences = [Sentence(words=[f"w{i}" for i in range(10)]) for _ in range(50)]  # 500 units
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(batcher.tag(sentences, [None] * 50, gone), 30)
        done = len(tagger.calls)
        # A request after the cancel is answered once the worker has passed the cancelled one's units by.
        await asyncio.wait_for(batcher.tag([Sentence(words=["It", "rained"])], [[1]]), 30)
        assert len(tagger.calls) <= done + 10 + 1  # the batch in flight (10 words), and the new request
        worker.cancel()

    asyncio.run(scenario())
    assert len(tagger.calls) < 500


def serve_on_a_free_port(env: dict[str, str]) -> tuple[subprocess.Popen[str], int, Callable[[], str]]:
    """``albert-srl serve --port 0`` in a child process: the process, the port uvicorn bound (read from
    its log, so no port is chosen before the server binds it), and a function that returns its whole log
    once it has exited."""
    command = [sys.executable, "-m", "albert_srl.cli", "serve", "--port", "0", "--device", "cpu"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []

    def collect() -> None:
        for line in server.stderr or ():
            lines.append(line)

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()

    def port() -> int | None:
        found = (re.search(r"running on http://127\.0\.0\.1:(\d+)", line) for line in list(lines))
        return next((int(match.group(1)) for match in found if match), None)

    def log() -> str:
        reader.join(30)
        return "".join(lines)

    wait_until(lambda: port() or server.poll() is not None, 120, "the server starting")
    bound = port()
    assert bound is not None, log()
    return server, bound, log


def health(port: int) -> dict[str, Any]:
    """The server's ``/health``, or ``{}`` while it does not answer."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json()
    except httpx.HTTPError:
        return {}


@pytest.mark.slow
def test_sigterm_stops_the_server_promptly_during_a_long_request(tmp_path: Path) -> None:
    server, port, read_log = serve_on_a_free_port({**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        words = ["The", "board", "said", "that", "the", "company", "will", "sell"]
        body = {"sentences": [words * 14] * 30}  # 3,360 words: minutes of work on a CPU
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(httpx.post, f"http://127.0.0.1:{port}/v1/tag", json=body, timeout=300)
            wait_until(lambda: health(port).get("unanswered", 0) >= 1, 60, "the long request arriving")
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)  # a request of minutes must not hold the shutdown
            try:
                status = pending.result().status_code
            except httpx.HTTPError:  # the connection closed unanswered
                status = None
        assert status != 200, "the long request was not cut short"
        log = read_log()
        assert server.returncode in (0, -signal.SIGTERM), log  # uvicorn re-raises the signal it caught
        assert "Traceback" not in log and "Application shutdown complete" in log, log
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


# A batcher under every kind of bad limit: each case must answer a small request. Run in a child process,
# because a spinning event loop never reaches an ``asyncio`` timeout: only killing the process ends it.
SPIN_CHECK = """
import asyncio, sys
from albert_srl.data import Frame, Predicate, Sentence
from albert_srl.serving.batching import Batcher, ServeLimits

class Echo:
    def find_and_tag(self, sentences, frame_words=None):
        return self.tag(sentences, [[0] for _ in sentences]), [{} for _ in sentences]

    def tag(self, sentences, predicates):
        return [
            Sentence(s.words, frames=[Frame(Predicate(i, s.words[i]), []) for i in indices])
            for s, indices in zip(sentences, predicates)
        ]

async def answer(limits):
    batcher = Batcher(Echo(), limits)
    worker = asyncio.create_task(batcher.run())
    tagged = await asyncio.wait_for(batcher.tag([Sentence(words=["It", "rained"])], [None]), 10)
    worker.cancel()
    return len(tagged)

for case in sys.argv[1:]:
    name, value = case.split("=")
    print(case, asyncio.run(answer(ServeLimits(**{name: float(value)}))), flush=True)
"""

BAD_LIMITS = [
    "batch_words=0", "batch_words=-5", "batch_words=nan", "batch_ms=0", "batch_ms=-1", "batch_ms=nan",
    "batch_ms=inf", "batch_wait_ms=-1", "batch_wait_ms=nan", "max_queued_requests=0",
]  # fmt: skip


def test_no_limit_makes_the_batcher_spin_or_hang() -> None:
    command = [sys.executable, "-c", SPIN_CHECK, *BAD_LIMITS]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:-1] == [f"{case} 1" for case in BAD_LIMITS]


def test_the_first_measured_batch_may_take_no_time() -> None:
    batcher = Batcher(StandInTagger(), ServeLimits())
    batcher.measured(100, 0.0)  # a coarse clock
    assert batcher.budget() == ServeLimits().batch_words


def run_batcher(limits: ServeLimits, tagger: Any, sentences: list[Sentence], predicates: Any) -> Any:
    """``Batcher.tag`` with a worker running; an error if it is not answered within 10 s."""

    async def scenario() -> Any:
        batcher = Batcher(tagger, limits)
        worker = asyncio.create_task(batcher.run())
        try:
            return await asyncio.wait_for(batcher.tag(sentences, predicates), 10)
        finally:
            worker.cancel()

    return asyncio.run(scenario())


def test_a_request_with_no_predicate_is_answered_at_once() -> None:
    sentences = [Sentence(words=["It", "rained"]), Sentence(words=["Fine"])]
    tagged = run_batcher(ServeLimits(), StandInTagger(), sentences, [[], []])
    assert [s.words for s in tagged] == [["It", "rained"], ["Fine"]]
    assert [s.frames for s in tagged] == [[], []]


def work_limits() -> ServeLimits:
    return ServeLimits(max_words=10, max_request_words=40, max_frame_words=50, batch_wait_ms=1)


def test_given_predicates_are_bounded_by_the_work_they_ask_for() -> None:
    tagger = CountingTagger()
    with TestClient(create_app(tagger, work_limits())) as client:
        sentences = [[f"w{i}" for i in range(10)]] * 3
        over = client.post("/v1/tag", json={"sentences": sentences, "predicates": [[0, 1]] * 3})
        assert over.status_code == 413 and over.json()["error"]["field"] == "predicates"
        assert "60 words of tagging" in over.json()["error"]["message"]
        assert tagger.calls == []  # refused before any work
        within = client.post("/v1/tag", json={"sentences": sentences[:2], "predicates": [[0, 1], [2]]})
        assert within.status_code == 200


def test_found_predicates_are_bounded_by_the_work_they_ask_for() -> None:
    tagger = CountingTagger()  # finds every word a predicate: 100 words of work a 10-word sentence
    with TestClient(create_app(tagger, work_limits())) as client:
        body = {"sentences": [[f"w{i}" for i in range(10)]] * 2}
        over = client.post("/v1/tag", json=body)
        assert over.status_code == 413 and over.json()["error"]["field"] == "sentences"
        # One tagger call: the pass that found the predicates (and tagged them, within its batch's
        # budget); refused then, so none of its frames is queued for another batch.
        assert tagger.calls == [10, 10, 2]
        text = client.post("/v1/tag", json={"text": "one two three four five six seven eight"})
        assert text.status_code == 413 and text.json()["error"]["field"] == "text"
        assert client.post("/v1/tag", json={"sentences": [["It", "rained"]]}).status_code == 200


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_a_body_that_is_not_utf8_is_400(client: TestClient, encoding: str) -> None:
    body = '{"text": "It rained."}'.encode(encoding)
    response = client.post("/v1/tag", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]["field"] == "body"
    assert "UTF-8" in response.json()["error"]["message"]
