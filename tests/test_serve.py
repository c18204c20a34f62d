"""The HTTP service: endpoints, the error for every malformed request, server-side batching, failures.

Most tests serve a stand-in tagger (fast, deterministic, countable); one serves the shipped model.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient
from polling import wait_until

from albert_srl.data import Argument, Frame, Predicate, Sentence
from albert_srl.serving.serve import Batcher, ServeLimits, create_app
from albert_srl.tagging.decoding import in_turn


class StandInTagger:
    """Tags each predicate (given, or the middle word) with ARG0 before it and ARG1 after it.

    Counts its calls; raises on a sentence containing ``boom``; waits for ``gate`` when one is set.
    """

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[int] = []
        self.delay = delay
        self.gate: threading.Event | None = None

    def tag(
        self, sentences: list[Sentence], predicates: list[list[int] | None] | None = None
    ) -> list[Sentence]:
        self.calls.append(len(sentences))
        if self.gate is not None:
            self.gate.wait(10)
        time.sleep(self.delay)
        if any("boom" in sentence.words for sentence in sentences):
            raise RuntimeError("boom")
        given: list[list[int] | None] = (
            list(predicates) if predicates is not None else [None] * len(sentences)
        )
        return [self.tag_one(s, p) for s, p in zip(sentences, given, strict=True)]

    def find_predicates(self, sentences: list[Sentence]) -> list[list[int]]:
        if any("boom" in sentence.words for sentence in sentences):
            raise RuntimeError("boom")
        return [[len(sentence.words) // 2] for sentence in sentences]

    def find_and_tag(
        self, sentences: list[Sentence], frame_words: int | None = None
    ) -> tuple[list[Sentence], list[dict[int, float]]]:
        """As ``SRLTagger.find_and_tag``: the predicates found are tagged in one ``tag`` call as far as
        ``frame_words`` goes, taken in turn as it takes them; the others are returned untagged, each with
        the probability the fake gives every predicate it finds (0.75)."""
        found = self.find_predicates(sentences)
        room = float("inf") if frame_words is None else frame_words
        taken, _ = in_turn(found, [len(s.words) for s in sentences], room)
        tagged = self.tag(sentences, [sorted(t) for t in taken])
        return tagged, [{i: 0.75 for i in f if i not in t} for f, t in zip(found, taken, strict=True)]

    def tag_one(self, source: Sentence, indices: list[int] | None) -> Sentence:
        """As ``SRLTagger.tag``: the input's text and offsets kept, arguments with character offsets."""
        sentence = Sentence(
            list(source.words), text=source.text, offsets=source.offsets, char_start=source.char_start
        )
        n = len(sentence.words)
        frames = []
        for index in [n // 2] if indices is None else indices:
            spans = [("ARG0", 0, index)] if index > 0 else []
            spans += [("V", index, index + 1)] + ([("ARG1", index + 1, n)] if index + 1 < n else [])
            arguments = [Argument(role, s, e, sentence.span_text(s, e)) for role, s, e in spans]
            for argument in arguments if sentence.offsets is not None else ():
                argument.char_start = sentence.offsets[argument.start][0]
                argument.char_end = sentence.offsets[argument.end - 1][1]
            predicate = Predicate(index, sentence.words[index], sense=f"{sentence.words[index].lower()}.01")
            frames.append(Frame(predicate, arguments))
        sentence.frames = frames
        return sentence


LIMITS = ServeLimits(max_body_bytes=4000, max_sentences=3, max_words=6, max_text_chars=200, batch_wait_ms=5)


@pytest.fixture
def tagger() -> StandInTagger:
    return StandInTagger()


@pytest.fixture
def client(tagger: StandInTagger) -> Iterator[TestClient]:
    with TestClient(create_app(tagger, LIMITS)) as client:
        yield client


def error_of(response: Any) -> tuple[int, str | None]:
    body = response.json()
    assert set(body) == {"error"} and body["error"]["message"], body
    return response.status_code, body["error"]["field"]


# ------------------------------------------------------------------------------------------ happy paths


def test_tag_text_splits_sentences_and_keeps_character_offsets(client: TestClient) -> None:
    response = client.post("/v1/tag", json={"text": "The cat sat down. Dogs bark loudly."})
    assert response.status_code == 200
    sentences = response.json()["sentences"]
    assert [s["words"] for s in sentences] == [
        ["The", "cat", "sat", "down", "."],
        ["Dogs", "bark", "loudly", "."],
    ]
    assert [s["text"] for s in sentences] == ["The cat sat down.", "Dogs bark loudly."]
    frame = sentences[0]["frames"][0]
    assert frame["predicate"] == {"index": 2, "text": "sat", "sense": "sat.01"}
    arg0 = {"role": "ARG0", "start": 0, "end": 2, "text": "The cat", "char_start": 0, "char_end": 7}
    assert arg0 in frame["arguments"]
    assert [s["char_start"] for s in sentences] == [0, 18]
    dogs = sentences[1]["frames"][0]["arguments"][0]  # offsets index the request's text
    assert (dogs["text"], dogs["char_start"], dogs["char_end"]) == ("Dogs bark", 18, 27)
    assert len(frame["tags"]) == 5


def test_the_real_tagger_answers_offsets_into_the_request_text() -> None:
    from albert_srl.tagging.tagger import SRLTagger

    text = "The committee met on Monday.  It approved the new budget on Tuesday."
    with TestClient(create_app(SRLTagger.from_pretrained(device="cpu"))) as real:
        response = real.post("/v1/tag", json={"text": text})
    assert response.status_code == 200
    sentences = response.json()["sentences"]
    assert [s["char_start"] for s in sentences] == [0, text.index("It")]
    arguments = [a for s in sentences for f in s["frames"] for a in f["arguments"]]
    assert any(a["char_start"] > text.index("It") for a in arguments)  # the second sentence has frames
    for argument in arguments:
        assert text[argument["char_start"] : argument["char_end"]] == argument["text"]


def test_tag_sentences_with_and_without_given_predicates(client: TestClient, tagger: StandInTagger) -> None:
    body = {"sentences": [["a", "b", "c"], ["d", "e"]], "predicates": [[0, 2], []]}
    sentences = client.post("/v1/tag", json=body).json()["sentences"]
    assert [[f["predicate"]["index"] for f in s["frames"]] for s in sentences] == [[0, 2], []]
    assert "text" not in sentences[0]
    found = client.post("/v1/tag", json={"sentences": [["x", "y", "z"]]}).json()["sentences"]
    assert [f["predicate"]["index"] for f in found[0]["frames"]] == [1]


def test_predict_answers_like_allennlp(client: TestClient) -> None:
    response = client.post("/predict", json={"sentence": "The cat sat down."})
    assert response.status_code == 200
    answer = response.json()
    assert answer["words"] == ["The", "cat", "sat", "down", "."]
    (verb,) = answer["verbs"]
    assert verb["verb"] == "sat"
    assert verb["tags"] == ["B-ARG0", "I-ARG0", "B-V", "B-ARG1", "I-ARG1"]
    assert verb["description"] == "[ARG0: The cat] [V: sat] [ARG1: down .]"


def test_health_openapi_and_demo_page(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    schema = client.get("/openapi.json").json()
    assert {"/v1/tag", "/predict", "/health"} <= set(schema["paths"])
    assert set(schema["components"]["schemas"]["TagRequest"]["properties"]) == {
        "text",
        "sentences",
        "predicates",
    }
    page = client.get("/")
    assert page.status_code == 200 and 'id="text"' in page.text and "v1/tag" in page.text


def test_unknown_path_and_method_answer_json_errors(client: TestClient) -> None:
    assert error_of(client.get("/nope"))[0] == 404
    assert error_of(client.get("/v1/tag"))[0] == 405


# ------------------------------------------------------------------------------------------ bad requests

BAD_TAG_REQUESTS = [
    ({"text": 3}, 422, "text"),
    ({"sentences": "a b"}, 422, "sentences"),
    ({"sentences": [["a", 1]]}, 422, "sentences[0][1]"),
    ({"sentences": [["a"]], "predicates": [[0.5]]}, 422, "predicates[0][0]"),
    ({"sentences": [["a"]], "predicates": [["0"]]}, 422, "predicates[0][0]"),
    ({"text": "a", "lang": "en"}, 422, "lang"),
    ({}, 422, "text"),
    ({"text": "a", "sentences": [["a"]]}, 422, "text"),
    ({"text": ""}, 422, "text"),
    ({"text": " \n\t"}, 422, "text"),
    ({"text": "x" * 201}, 413, "text"),
    ({"text": "one two three four five six seven."}, 413, "text"),
    ({"text": "a b", "predicates": [[0]]}, 422, "predicates"),
    ({"sentences": []}, 422, "sentences"),
    ({"sentences": [["a"], []]}, 422, "sentences[1]"),
    ({"sentences": [["a", " "]]}, 422, "sentences[0][1]"),
    ({"sentences": [["a"]] * 4}, 413, "sentences"),
    ({"sentences": [["a"], ["w"] * 7]}, 413, "sentences[1]"),
    ({"sentences": [["a"], ["b"]], "predicates": [[0]]}, 422, "predicates"),
    ({"sentences": [["a"], ["b", "c"]], "predicates": [[0], [2]]}, 422, "predicates[1][0]"),
    ({"sentences": [["a", "b"]], "predicates": [[-1]]}, 422, "predicates[0][0]"),
    ({"sentences": [["a", "b"]], "predicates": [[1, 1]]}, 422, "predicates[0]"),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD_TAG_REQUESTS)
def test_bad_tag_request_names_the_field(client: TestClient, body: Any, status: int, field: str) -> None:
    assert error_of(client.post("/v1/tag", json=body)) == (status, field)


BAD_PREDICT_REQUESTS = [
    ({}, 422, "sentence"),
    ({"sentence": ["a", "b"]}, 422, "sentence"),
    ({"sentence": ""}, 422, "sentence"),
    ({"sentence": "x" * 201}, 413, "sentence"),
    ({"sentence": "one two three four five six seven"}, 413, "sentence"),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD_PREDICT_REQUESTS)
def test_bad_predict_request_names_the_field(client: TestClient, body: Any, status: int, field: str) -> None:
    assert error_of(client.post("/predict", json=body)) == (status, field)


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        ('{"text": "a"', {"content-type": "application/json"}, 400),  # malformed JSON
        ("[1, 2]", {"content-type": "application/json"}, 422),  # JSON, but not an object
        ('{"text": "a"}', {"content-type": "text/plain"}, 415),
        ('{"text": "a"}', {}, 415),
        ('{"text": "' + "a " * 2500 + '"}', {"content-type": "application/json"}, 413),
    ],
)
def test_bad_body_is_refused_naming_the_body(
    client: TestClient, content: str, headers: dict, status: int
) -> None:
    assert error_of(client.post("/v1/tag", content=content, headers=headers)) == (status, "body")


def test_oversized_chunked_body_without_a_length_is_refused(client: TestClient) -> None:
    chunks = (b'{"text": "' + b"a " * 500 for _ in range(10))
    response = client.post("/v1/tag", content=chunks, headers={"content-type": "application/json"})
    assert error_of(response) == (413, "body")


# ------------------------------------------------------------------------------------------ batching


def post_concurrently(client: TestClient, bodies: list[dict]) -> list[Any]:
    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(lambda body: client.post("/v1/tag", json=body), bodies))


def test_concurrent_requests_share_tagger_calls_and_get_their_own_sentences() -> None:
    tagger = StandInTagger(delay=0.05)
    limits = ServeLimits(batch_wait_ms=20)
    with TestClient(create_app(tagger, limits)) as client:
        bodies = [{"sentences": [[f"w{i}", f"x{i}", f"y{i}"]] * (1 + i % 2)} for i in range(8)]
        responses = post_concurrently(client, bodies)
    assert [r.status_code for r in responses] == [200] * 8
    for body, response in zip(bodies, responses, strict=True):
        assert [s["words"] for s in response.json()["sentences"]] == body["sentences"]
    assert len(tagger.calls) < 8
    assert sum(tagger.calls) == sum(len(body["sentences"]) for body in bodies)


def test_a_batch_of_found_and_given_predicates_tags_each_right() -> None:
    tagger = StandInTagger(delay=0.05)
    with TestClient(create_app(tagger, ServeLimits(batch_wait_ms=50))) as client:
        given = {"sentences": [["a", "b", "c"]], "predicates": [[0]]}
        responses = post_concurrently(client, [given, {"sentences": [["d", "e", "f"]]}] * 3)
    indices = [[f["predicate"]["index"] for f in r.json()["sentences"][0]["frames"]] for r in responses]
    assert indices == [[0], [1]] * 3
    assert len(tagger.calls) < 6


def test_the_predicates_of_one_sentence_reach_the_tagger_as_one_sentence() -> None:
    """A sentence and its predicates are the tagger's unit of work: its lower layers run once for all."""
    tagger = StandInTagger()
    with TestClient(create_app(tagger, ServeLimits(batch_wait_ms=50))) as client:
        body = {"sentences": [["a", "b", "c", "d"]], "predicates": [[3, 0, 2]]}
        response = client.post("/v1/tag", json=body)
    assert response.status_code == 200
    assert [f["predicate"]["index"] for f in response.json()["sentences"][0]["frames"]] == [0, 2, 3]
    assert tagger.calls == [1]  # one sentence with its three predicates, not three sentences


def lower_rows_of_served_text(
    tokenizer_dir: Path, text: str, limits: ServeLimits
) -> tuple[list[int], list[list[dict[str, Any]]]]:
    """Serve ``text`` with a late-fusion tagger that finds every word a predicate; the rows (windows)
    of each pass of its lower layers, and the frames answered."""
    from test_encoder import every_word_a_predicate

    from albert_srl.formats.jsonl import sentence_to_json
    from albert_srl.model.tokenizer import load_tokenizer
    from albert_srl.tagging.tagger import SRLTagger

    tokenizer = load_tokenizer(tokenizer_dir)
    model = every_word_a_predicate(tokenizer, 3)
    tagger = SRLTagger(model, tokenizer)
    offline = [sentence_to_json(sentence)["frames"] for sentence in tagger.tag(text)]
    rows: list[int] = []
    lower = model.encoder.blocks()[0]  # the first of the lower layers: its rows are the windows
    lower.register_forward_hook(lambda _m, args, _o: rows.append(len(args[1].mask)))  # args[1]: its Rows
    with TestClient(create_app(tagger, limits)) as client:
        response = client.post("/v1/tag", json={"text": text})
    assert response.status_code == 200, response.text
    frames = [s["frames"] for s in response.json()["sentences"]]
    assert frames == offline  # the server's frames are the offline tagger's
    return rows, frames


def test_raw_text_runs_the_lower_layers_once_a_sentence(tiny_tokenizer_dir: Path) -> None:
    """The server finds a sentence's predicates and tags them on the same lower layers' states (one
    ``find_and_tag`` pass), as the offline tagger does: three sentences, three lower rows, in one pass."""
    text = "The board met. She said so. Thanks!"
    rows, frames = lower_rows_of_served_text(tiny_tokenizer_dir, text, ServeLimits(batch_wait_ms=50))
    assert [len(f) for f in frames] == [4, 4, 2]  # every word a predicate, each tagged
    assert rows == [3]


def test_found_predicates_beyond_a_batch_are_tagged_in_later_batches(tiny_tokenizer_dir: Path) -> None:
    """Batches of 8 words of work: the pass that finds the 4 predicates of ``The board met .`` (4 words)
    has room for one (8 less its finding row); the other three are units of later batches, two and one
    (each of those batches runs the sentence's lower layers again)."""
    rows, frames = lower_rows_of_served_text(
        tiny_tokenizer_dir, "The board met.", ServeLimits(batch_words=8, batch_wait_ms=1)
    )
    assert [len(f) for f in frames] == [4]
    assert [f["predicate"]["index"] for f in frames[0]] == [0, 1, 2, 3]
    assert rows == [1, 1, 1]
    # Found, the spilled ones too: each keeps how sure the model was (its head flags every word, at 1e-9)
    assert [f["predicate"]["probability"] for f in frames[0]] == [1.0] * 4


def test_a_turn_takes_a_slice_of_one_sentence_s_predicates() -> None:
    """Two requests of a 4-word sentence with 4 given predicates, in batches of 8 words: after their
    first units, each turn takes as many predicates of the request's sentence as fit (one lower pass),
    not one predicate of each sentence (two)."""
    tagger = StandInTagger()
    limits = ServeLimits(batch_wait_ms=50, batch_words=8, batch_ms=60_000)

    async def two_requests() -> list[list[Sentence]]:
        batcher = Batcher(tagger, limits)
        worker = asyncio.create_task(batcher.run())
        sentence = Sentence(words=["a", "b", "c", "d"])
        answers = await asyncio.wait_for(
            asyncio.gather(*(batcher.tag([sentence], [[0, 1, 2, 3]]) for _ in range(2))), 30
        )
        worker.cancel()
        return list(answers)

    answers = asyncio.run(two_requests())
    assert [len(answer[0].frames) for answer in answers] == [4, 4]
    assert tagger.calls == [2, 1, 1, 2]  # sentences a tagger call: both, one, the other, both


def test_batch_word_budget_closes_a_batch_early() -> None:
    # A wait (and a time budget) far longer than the test: only the word budget can close these batches
    # (a broken one shows as one batch of four, after half a minute). The predicates are given, so every
    # unit of work is a tagger call's sentence (no predicate-finding units mixed into the batches).
    tagger = StandInTagger(delay=0.05)
    limits = ServeLimits(batch_wait_ms=30_000, batch_words=6, batch_ms=60_000)
    with TestClient(create_app(tagger, limits)) as client:
        body = {"sentences": [["a", "b", "c"]], "predicates": [[1]]}
        responses = post_concurrently(client, [body] * 4)
    assert all(r.status_code == 200 for r in responses)
    assert tagger.calls == [2, 2]  # two batches, each full at 6 words


def test_a_failing_request_fails_alone_and_the_server_goes_on() -> None:
    tagger = StandInTagger(delay=0.05)
    with TestClient(create_app(tagger, ServeLimits(batch_wait_ms=20))) as client:
        bodies = [{"sentences": [["a", "b"]]}] * 7 + [{"sentences": [["a", "boom"]]}]
        responses = post_concurrently(client, bodies)
        assert [r.status_code for r in responses] == [200] * 7 + [500]
        assert "boom" in responses[-1].json()["error"]["message"]
        assert client.post("/v1/tag", json={"text": "It works again."}).status_code == 200
        assert client.get("/health").json()["status"] == "ok"


def test_a_full_queue_answers_503() -> None:
    tagger = StandInTagger()
    tagger.gate = threading.Event()
    app = create_app(tagger, ServeLimits(max_queued_requests=1, batch_wait_ms=0))
    with TestClient(app) as client, ThreadPoolExecutor(2) as pool:
        first = pool.submit(client.post, "/v1/tag", json={"sentences": [["a"]]})
        wait_until(lambda: tagger.calls, what="the worker tagging the first request")
        second = pool.submit(client.post, "/v1/tag", json={"sentences": [["b"]]})
        wait_until(lambda: client.get("/health").json()["queued"] >= 1, what="a second request queued")
        assert error_of(client.post("/v1/tag", json={"sentences": [["c"]]}))[0] == 503
        tagger.gate.set()
        assert first.result().status_code == second.result().status_code == 200
