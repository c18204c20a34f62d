"""Server throughput against the offline tagger, on the same sentences.

Starts ``albert-srl serve`` in a child process (``--port 0``: the port is read from its log), lets
``--clients`` asyncio + httpx clients post the sentences to ``/v1/tag``, one sentence a request, each
client taking the next sentence not sent yet, until every sentence has been tagged once; reports
sentences (requests) per second, p50/p99 latency and errors. Then it stops the server and tags the same
sentences offline, in one ``SRLTagger.tag`` call, in this process. Both find the predicates themselves.

    python benchmarks/serve_load.py --corpus /work/shared/corpora/ewt/dev.gold_conll.gz --clients 16
    python benchmarks/serve_load.py [MODEL_DIR] --limit 400     # the built-in raw-text sentences

With ``--corpus`` (any format ``albert_srl.formats.read`` reads) the sentences go as tokenized words
(``{"sentences": [words]}``, no predicates); without it the eight built-in sentences, repeated to
``--limit``, go as raw text (``{"text": ...}``). MODEL_DIR defaults to the shipped model.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import islice
from typing import Any

import httpx

from albert_srl.formats import read

TEXTS = [
    "President Bush nominated two judges on Tuesday.",
    "The board approved the merger after a long debate.",
    "She gave her brother a book for his birthday.",
    "Investors sold shares as interest rates rose sharply last week.",
    "I can't believe they finally fixed the bridge near our house.",
    "The company said it would cut 300 jobs by the end of the year.",
    "He wanted to know whether the store opens early on Sundays.",
    "Rain is expected tomorrow.",
]

log = logging.getLogger("serve_load")


@dataclass
class LoadResult:
    sentences: int
    clients: int
    seconds: float
    errors: int
    server_sentences_per_s: float
    p50_ms: float
    p99_ms: float
    offline_sentences_per_s: float
    server_vs_offline: float
    load_before: float
    load_after: float


def start_server(model: str | None, flags: Sequence[str] = ()) -> tuple[subprocess.Popen[str], int]:
    """``albert-srl serve --port 0`` in a child process, and the port it bound (from uvicorn's log line
    ``Uvicorn running on http://127.0.0.1:PORT``: no port is chosen before the server binds it)."""
    command = [sys.executable, "-m", "albert_srl.cli", "serve", "--port", "0", "--device", "cpu", *flags]
    command += ["--model", model] if model else []
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    port: list[int] = []

    def read_log() -> None:  # the port, then drain the log so that the server never blocks on it
        for line in server.stderr or ():
            if not port and (match := re.search(r"running on http://127\.0\.0\.1:(\d+)", line)):
                port.append(int(match.group(1)))

    threading.Thread(target=read_log, daemon=True).start()
    deadline = time.monotonic() + 300
    while not port and server.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    if not port:
        server.kill()
        raise RuntimeError("the server did not come up")
    return server, port[0]


def stop_server(server: subprocess.Popen[str]) -> None:
    server.terminate()
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def bodies(corpus: str | None, limit: int) -> tuple[list[dict[str, Any]], list[Any]]:
    """The request bodies, one sentence each, and the same sentences as ``SRLTagger.tag`` takes them."""
    if corpus is None:
        texts = [TEXTS[i % len(TEXTS)] for i in range(limit)]
        return [{"text": text} for text in texts], texts
    words = [list(sentence.words) for sentence in islice(read(corpus), limit or None)]
    return [{"sentences": [w]} for w in words], words


async def load(
    port: int, clients: int, requests: list[dict[str, Any]]
) -> tuple[float, list[float], list[str]]:
    """Every request posted once by ``clients`` clients in turn; the seconds, latencies and errors."""
    latencies: list[float] = []
    errors: list[str] = []
    pending = iter(requests)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=300) as http:

        async def client() -> None:
            for body in pending:  # one iterator shared: each body goes once
                started = time.perf_counter()
                try:
                    response = await http.post("/v1/tag", json=body)
                    if response.status_code == 200:
                        latencies.append(time.perf_counter() - started)
                    else:
                        errors.append(f"{response.status_code}: {response.text[:200]}")
                except httpx.HTTPError as error:
                    errors.append(repr(error))

        for body in requests[:clients]:  # warm-up: the first calls load the splitter and the kernels
            await http.post("/v1/tag", json=body)
        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return time.perf_counter() - started, latencies, errors


def offline_sentences_per_s(model: str | None, sentences: list[Any]) -> float:
    """Sentences/s of one ``SRLTagger.tag`` call over ``sentences`` (the model finds the predicates)."""
    from albert_srl.tagging.tagger import SRLTagger

    tagger = SRLTagger.from_pretrained(model, device="cpu")
    tagger.tag(sentences[:64])  # warm-up
    started = time.perf_counter()
    tagger.tag(sentences)
    return len(sentences) / (time.perf_counter() - started)


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def run(model: str | None, corpus: str | None, limit: int, clients: int, flags: list[str]) -> LoadResult:
    requests, sentences = bodies(corpus, limit)
    load_before = os.getloadavg()[0]
    server, port = start_server(model, flags)
    try:
        seconds, latencies, errors = asyncio.run(load(port, clients, requests))
    finally:
        stop_server(server)
    for error in errors[:5]:
        log.error("request failed: %s", error)
    offline = offline_sentences_per_s(model, sentences)
    served = len(latencies) / seconds
    return LoadResult(
        sentences=len(requests),
        clients=clients,
        seconds=round(seconds, 1),
        errors=len(errors),
        server_sentences_per_s=round(served, 1),
        p50_ms=round(1000 * percentile(latencies, 50), 1) if latencies else float("nan"),
        p99_ms=round(1000 * percentile(latencies, 99), 1) if latencies else float("nan"),
        offline_sentences_per_s=round(offline, 1),
        server_vs_offline=round(served / offline, 2),
        load_before=round(load_before, 2),
        load_after=round(os.getloadavg()[0], 2),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", nargs="?", help="model directory (default: the shipped model)")
    parser.add_argument("--corpus", help="sentences from this corpus (default: the built-in texts)")
    parser.add_argument("--limit", type=int, default=0, help="the first N sentences (0: all; texts: 400)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--serve-flag", action="append", default=[], help="a flag for serve, e.g. --batch-ms=100"
    )
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    limit = args.limit or (0 if args.corpus else 400)
    result = run(args.model, args.corpus, limit, args.clients, args.serve_flag)
    if args.json:
        print(json.dumps(asdict(result)))
        return
    print("| " + " | ".join(asdict(result)) + " |")
    print("|" + " ---: |" * len(asdict(result)))
    print("| " + " | ".join(str(value) for value in asdict(result).values()) + " |")


if __name__ == "__main__":
    main()
