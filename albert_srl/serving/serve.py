"""``albert-srl serve``: the tagger as an HTTP service (FastAPI + uvicorn), with a demo page at ``/``.

Endpoints: ``POST /v1/tag`` (raw text or tokenized sentences in, the jsonl schema out), ``POST /predict``
(AllenNLP's SRL predictor JSON), ``GET /health``, and FastAPI's ``/openapi.json`` and ``/docs``.

Requests are batched on the server, and interleaved so that a small request never waits behind a big
one: each request is cut into units of work (finding one sentence's predicates; tagging one predicate's
arguments), and one worker task builds each batch by taking units from the waiting requests in turn,
one unit per request per round, until ``ServeLimits.batch_words`` words of work (or ``batch_wait_ms``).
A batch is a few hundred milliseconds of work, so a one-sentence request that arrives while a long one
is being tagged joins the next batch. Batches run in a thread (the event loop keeps accepting requests
meanwhile). When a batch fails its units are retried one by one: a request the tagger cannot tag is
answered 500 alone. A request whose client has gone is dropped from the rotation.

Every bad request is answered ``{"error": {"field": ..., "message": ...}}`` with a 4xx status: 400 for
malformed JSON or a body that is not UTF-8, 415 for a body that is not JSON, 422 for wrong types and
empty input, 413 for input over a limit (predicates that ask for too much work included), 503 when the
queue is full, 408 for a body that does not arrive within ``body_timeout_s``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from albert_srl import __version__
from albert_srl.config import ServeAddress
from albert_srl.data import Sentence
from albert_srl.formats.allennlp import sentence_to_allennlp
from albert_srl.formats.jsonl import sentence_to_json
from albert_srl.render import STYLE_TAG, render_fragment, render_legend
from albert_srl.schema import PredictorRecord, SentenceRecord
from albert_srl.serving.batching import Batcher, BatchFailed, Predicates, RequestError, ServeLimits, Tagger
from albert_srl.settings import check_instance
from albert_srl.tagging.text import split_text, tokenize_sentence

logger = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------------ errors


def error_response(status: int, field: str | None, message: str) -> JSONResponse:
    return JSONResponse({"error": {"field": field, "message": message}}, status_code=status)


def field_name(location: Sequence[str | int]) -> str:
    """``("body", "sentences", 1, 2)`` -> ``"sentences[1][2]"``; the whole body is ``"body"``."""
    name = ""
    for part in location[1:] if location and location[0] == "body" else location:
        name += f"[{part}]" if isinstance(part, int) else f".{part}" if name else str(part)
    return name or "body"


async def on_validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    """Pydantic's first complaint as our error: malformed JSON is 400, a wrong shape or type 422."""
    first = error.errors()[0]
    if first["type"] == "json_invalid":
        return error_response(
            400, "body", f"malformed JSON: {first.get('ctx', {}).get('error', first['msg'])}"
        )
    return error_response(422, field_name(first["loc"]), first["msg"])


async def on_request_error(request: Request, error: RequestError) -> JSONResponse:
    return error_response(error.status, error.field, error.message)


async def on_http_error(request: Request, error: HTTPException) -> JSONResponse:
    return error_response(error.status_code, None, str(error.detail))


class RequestGuard:
    """ASGI middleware that refuses, before any parsing, a POST body over ``max_bytes`` (413), one that
    is not declared JSON (415) or one that trickles in slower than ``body_timeout_s`` allows (408), and
    hands the app the body it has read."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, body_timeout_s: float = ServeLimits.body_timeout_s
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            wrong_type = "send the body as JSON, with the header Content-Type: application/json"
            await error_response(415, "body", wrong_type)(scope, receive, send)
            return
        declared = headers.get("content-length", "0")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self.too_large(scope, receive, send)
            return
        body = bytearray()
        more = True
        deadline = asyncio.get_running_loop().time() + self.body_timeout_s
        while more:
            try:
                message = await asyncio.wait_for(receive(), deadline - asyncio.get_running_loop().time())
            except asyncio.TimeoutError:
                message_text = f"the request body did not arrive within {self.body_timeout_s:g} s"
                await error_response(408, "body", message_text)(scope, receive, send)
                return
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:  # a chunked body that did not declare its length
                await self.too_large(scope, receive, send)
                return
        if not is_utf8(body):  # JSON parsers guess UTF-16 and -32 from the bytes; the API is UTF-8
            not_utf8 = "the body is not UTF-8: send JSON encoded as UTF-8"
            await error_response(400, "body", not_utf8)(scope, receive, send)
            return
        await self.app(scope, replay(bytes(body), receive), send)

    async def too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"the request body is over the limit of {self.max_bytes:,} bytes"
        await error_response(413, "body", message)(scope, receive, send)


def is_utf8(body: bytes | bytearray) -> bool:
    """Whether ``body`` can be UTF-8 JSON: UTF-16 or -32 of ASCII text is valid UTF-8 but holds NUL
    bytes, which JSON text never does (a NUL in a string is written ``\\u0000``)."""
    if b"\x00" in body:
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` once, then waits on the real one (for the disconnect)."""
    sent = False

    async def receive_body() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive_body


# ------------------------------------------------------------------------------------------ requests


class TagRequest(BaseModel):
    """Either raw ``text`` (split into sentences and words by the server) or tokenized ``sentences``,
    with, optionally, the predicate word indices of each sentence (found by the model when left out)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    text: str | None = Field(None, examples=["President Bush nominated two judges on Tuesday."])
    sentences: list[list[str]] | None = Field(None, examples=[[["The", "board", "approved", "it", "."]]])
    predicates: list[list[int]] | None = Field(None, examples=[[[2]]])


class PredictRequest(BaseModel):
    """AllenNLP's predictor input: one sentence of raw text (tokenized, not split)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    sentence: str = Field(examples=["President Bush nominated two judges on Tuesday."])


# The answers are records of the one output schema (albert_srl.schema), which the OpenAPI schema describes.
# A key the server leaves out (a lemma it does not know) stays out: ``response_model_exclude_unset``.


class TagResponse(BaseModel):
    """One ``SentenceRecord`` (the jsonl schema: ``text``, ``words``, ``frames``) per input sentence."""

    sentences: list[SentenceRecord]


AnswerFormat = Literal["json", "html"]
SURROGATE = re.compile("[\ud800-\udfff]")  # a lone surrogate: JSON can say it, UTF-8 cannot


def check_text(text: str, field: str, limits: ServeLimits) -> None:
    if not text.strip():
        raise RequestError(422, field, "the text is empty")
    check_characters(text, field)
    if len(text) > limits.max_text_chars:
        raise RequestError(
            413, field, f"{len(text):,} characters is over the limit of {limits.max_text_chars:,}"
        )


def check_characters(text: str, field: str) -> None:
    bad = SURROGATE.search(text)
    if bad is not None:
        message = f"a lone surrogate U+{ord(bad.group()):04X} at character {bad.start() + 1} is not text"
        raise RequestError(422, field, message)


def check_sentences(
    sentences: list[Sentence], field: str, limits: ServeLimits, index_field: bool = True
) -> None:
    """Sentence count and length limits; with ``index_field`` the errors name a sentence ``field[i]``."""
    if not sentences:
        raise RequestError(422, field, "no sentences to tag")
    if len(sentences) > limits.max_sentences:
        message = f"{len(sentences)} sentences is over the limit of {limits.max_sentences} a request"
        raise RequestError(413, field, message)
    for i, sentence in enumerate(sentences):
        item = f"{field}[{i}]" if index_field else field
        if not sentence.words:
            raise RequestError(422, item, "the sentence has no words")
        if len(sentence.words) > limits.max_words:
            message = f"sentence {i} has {len(sentence.words)} words, over the limit of {limits.max_words}"
            raise RequestError(413, item, message)
        for j, word in enumerate(sentence.words):
            if not word.strip():
                raise RequestError(422, f"{item}[{j}]", "a word must not be empty or blank")
            check_characters(word, f"{item}[{j}]" if index_field else field)
    words = sum(len(sentence.words) for sentence in sentences)
    if words > limits.max_request_words:
        message = f"{words:,} words is over the limit of {limits.max_request_words:,} a request"
        raise RequestError(413, field, message)


def check_predicates(predicates: list[list[int]], sentences: list[Sentence]) -> None:
    if len(predicates) != len(sentences):
        message = f"{len(predicates)} predicate lists for {len(sentences)} sentences"
        raise RequestError(422, "predicates", message)
    for i, (indices, sentence) in enumerate(zip(predicates, sentences, strict=True)):
        if len(set(indices)) != len(indices):
            raise RequestError(422, f"predicates[{i}]", "a predicate index is given twice")
        for j, index in enumerate(indices):
            if not 0 <= index < len(sentence.words):
                message = f"{index} is not a word index of sentence {i} ({len(sentence.words)} words)"
                raise RequestError(422, f"predicates[{i}][{j}]", message)


async def on_batch_failed(request: Request, error: BatchFailed) -> JSONResponse:
    return error_response(500, None, f"tagging failed: {error}")


# ------------------------------------------------------------------------------------------ the app


def create_app(tagger: Tagger, limits: ServeLimits | None = None) -> FastAPI:
    """The FastAPI app serving ``tagger`` within ``limits``; its batching worker lives as long as the app."""
    limits = limits or ServeLimits()
    batcher = Batcher(tagger, limits)
    # spaCy's tokenizer is not promised to be thread-safe: one thread splits all requests' text.
    splitter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="albert-srl-split")
    page = demo_page_html()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = asyncio.create_task(batcher.run(), name="albert-srl-batcher")
        try:
            yield
        finally:
            worker.cancel()
            splitter.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="albert-srl", version=__version__, lifespan=lifespan,
                  description="PropBank semantic role labelling.")  # fmt: skip
    app.state.batcher = batcher
    app.add_middleware(RequestGuard, max_bytes=limits.max_body_bytes, body_timeout_s=limits.body_timeout_s)
    app.exception_handler(RequestValidationError)(on_validation_error)
    app.exception_handler(RequestError)(on_request_error)
    app.exception_handler(BatchFailed)(on_batch_failed)
    app.exception_handler(HTTPException)(on_http_error)

    async def split(function: Any, text: str) -> list[Sentence]:
        return await asyncio.get_running_loop().run_in_executor(splitter, function, text)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def demo_page() -> str:
        return page

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness: ``ok`` while the batching worker runs, how many requests wait for it (``queued``)
        and how many are not answered yet (``unanswered``: those queued and those being tagged)."""
        return {
            "status": "ok",
            "version": __version__,
            "queued": batcher.queue.qsize(),
            "unanswered": len(batcher.jobs),
        }

    @app.post("/v1/tag", response_model=TagResponse, response_model_exclude_unset=True)
    async def tag(request: TagRequest, connection: Request, format: AnswerFormat = "json") -> Any:
        """Tag raw ``text`` or tokenized ``sentences``; one jsonl-schema object per sentence, or with
        ``?format=html`` the frames drawn as HTML by ``albert_srl.render`` (what the demo page shows)."""
        if (request.text is None) == (request.sentences is None):
            raise RequestError(422, "text", "give either 'text' or 'sentences' (not both)")
        if request.text is not None:
            if request.predicates is not None:
                raise RequestError(422, "predicates", "predicates go with 'sentences', not with 'text'")
            check_text(request.text, "text", limits)
            sentences = await split(text_sentences, request.text)
            check_sentences(sentences, "text", limits, index_field=False)
        else:
            sentences = [Sentence(words=list(words)) for words in request.sentences or []]
            check_sentences(sentences, "sentences", limits)
        predicates: Predicates = [None] * len(sentences)
        source = "text" if request.text is not None else "sentences"
        if request.predicates is not None:
            check_predicates(request.predicates, sentences)
            predicates = list(request.predicates)
            source = "predicates"
        tagged = await batcher.tag(sentences, predicates, connection.is_disconnected, source)
        if format == "html":
            return HTMLResponse(render_fragment(tagged))
        return {"sentences": [sentence_to_json(sentence) for sentence in tagged]}

    @app.post("/predict", response_model=PredictorRecord, response_model_exclude_unset=True)
    async def predict(request: PredictRequest, connection: Request) -> dict[str, Any]:
        """AllenNLP's SRL predictor: the ``sentence`` is tokenized as one sentence, predicates found."""
        check_text(request.sentence, "sentence", limits)
        sentences = await split(one_sentence, request.sentence)
        check_sentences(sentences, "sentence", limits, index_field=False)
        tagged = await batcher.tag(sentences, [None], connection.is_disconnected, "sentence")
        return sentence_to_allennlp(tagged[0])

    return app


def demo_page_html() -> str:
    """``static/index.html`` with the renderer's CSS and legend in it, so the page draws frames as a
    notebook and ``tag --format html`` do."""
    page = (files("albert_srl") / "static" / "index.html").read_text(encoding="utf-8")
    return page.replace("<!-- albert-srl:style -->", STYLE_TAG).replace(
        "<!-- albert-srl:legend -->", render_legend()
    )


def text_sentences(text: str) -> list[Sentence]:
    return [sentence.to_sentence() for sentence in split_text(text)]


def one_sentence(text: str) -> list[Sentence]:
    return [tokenize_sentence(text).to_sentence()]


# ------------------------------------------------------------------------------------------ running


def serve(
    model_path: str | None = None,
    host: str = ServeAddress.host,
    port: int = ServeAddress.port,
    limits: ServeLimits | None = None,
    device: str = "auto",
    access_log: bool = True,
    bf16: bool | None = None,
    int8: bool = False,
) -> None:
    """Load the model (the shipped default when ``model_path`` is None) and serve it until interrupted.

    The address and the limits are checked first: a bad one raises ``ConfigError`` naming it. Port 0
    listens on a free port, which uvicorn's log names."""
    from albert_srl.tagging.tagger import SRLTagger

    limits = limits or ServeLimits()
    check_instance(ServeAddress(host=host, port=port), "serve")
    check_instance(limits, "serve")
    tagger = SRLTagger.from_pretrained(model_path, device=device, bf16=bf16, int8=int8)
    if host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("listening on %s: the API is reachable from other machines", host)
    app = create_app(tagger, limits)
    config = uvicorn_config(app, limits, host=host, port=port, access_log=access_log)
    prompt_shutdown_server_class()(config, app.state.batcher).run()


def uvicorn_config(app: FastAPI, limits: ServeLimits, **options: Any) -> Any:
    """uvicorn's ``Config`` for ``app``: its h11 protocol with the header deadline of ``limits``, 10 s of
    graceful shutdown, and ``options`` (``host``, ``port``, ``access_log``, ``log_level`` ...)."""
    import uvicorn

    protocol = header_deadline_protocol(limits.header_timeout_s)
    return uvicorn.Config(app, http=protocol, timeout_graceful_shutdown=10, **options)


def header_deadline_protocol(timeout_s: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with a deadline on each request's line and headers, which uvicorn lacks (a
    half-sent header held its connection open for as long as the client liked): they must arrive within
    ``timeout_s`` of the connection opening, or of the previous response on a kept-alive connection, or
    the connection is closed, answered 408 first where part of a request had arrived. (h11 rather than
    httptools wherever both are installed: the deadline reads h11's state.)"""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderDeadlineProtocol(H11Protocol):
        deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self.watch_headers()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self.watch_headers()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self.watch_headers()

        def connection_lost(self, exc: Exception | None) -> None:
            self.stop_watching()
            super().connection_lost(exc)

        def watch_headers(self) -> None:
            """The deadline runs while the connection waits for a request's line and headers."""
            waiting = self.conn.their_state is h11.IDLE and not self.transport.is_closing()
            if waiting and self.deadline is None:
                self.deadline = self.loop.call_later(timeout_s, self.headers_too_slow)
            elif not waiting:
                self.stop_watching()

        def stop_watching(self) -> None:
            if self.deadline is not None:
                self.deadline.cancel()
                self.deadline = None

        def headers_too_slow(self) -> None:
            self.deadline = None
            if self.transport.is_closing():
                return
            if self.conn.trailing_data[0]:  # part of a request came: say why it is closed
                message = f"the request line and headers did not arrive within {timeout_s:g} s"
                body = bytes(error_response(408, None, message).body)
                headers = [
                    ("content-type", "application/json"),
                    ("content-length", str(len(body))),
                    ("connection", "close"),
                ]
                for event in (
                    h11.Response(status_code=408, headers=headers, reason=b"Request Timeout"),
                    h11.Data(data=body),
                    h11.EndOfMessage(),
                ):
                    self.transport.write(self.conn.send(event) or b"")
            self.transport.close()

    return HeaderDeadlineProtocol


def prompt_shutdown_server_class() -> type:
    import uvicorn

    class PromptShutdownServer(uvicorn.Server):
        """On SIGTERM or SIGINT, answer every waiting request 503 at once (``Batcher.stop``) instead of
        tagging it, so uvicorn's graceful shutdown waits only for the batch in flight."""

        def __init__(self, config: uvicorn.Config, batcher: Batcher) -> None:
            super().__init__(config)
            self.batcher = batcher

        def handle_exit(self, sig: int, frame: Any) -> None:
            self.batcher.stop_threadsafe()
            super().handle_exit(sig, frame)

    return PromptShutdownServer
