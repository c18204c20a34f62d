"""Load test for ``albert-srl serve``: N concurrent clients on loopback for T seconds.

Starts the server in a child process, lets ``--clients`` asyncio + httpx clients post one sentence each
to ``/v1/tag`` in a loop for ``--seconds``, and reports requests/s, p50/p99 latency and errors; then
stops the server and tags the same sentences offline (one batched ``tagger.tag`` call) for comparison.

    python benchmarks/serve_load.py [MODEL_DIR] --clients 16 --seconds 20

MODEL_DIR defaults to the shipped model.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import socket
import statistics
import time
from dataclasses import asdict, dataclass

import httpx

from albert_srl.serving.serve import ServeLimits, serve, text_sentences

SENTENCES = [
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
    clients: int
    seconds: float
    requests: int
    errors: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    offline_sentences_per_s: float


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(model: str | None, port: int, limits: ServeLimits) -> multiprocessing.Process:
    """The server in a child process (spawned, so it has its own interpreter and torch threads)."""
    options = {"model_path": model, "port": port, "limits": limits, "device": "cpu", "access_log": False}
    process = multiprocessing.get_context("spawn").Process(target=serve, kwargs=options, daemon=True)
    process.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
        if not process.is_alive():
            break
    process.terminate()
    raise RuntimeError("the server did not come up")


async def client(
    http: httpx.AsyncClient, first: int, deadline: float, latencies: list[float], errors: list[str]
) -> None:
    """Post sentences round-robin until ``deadline``, recording each latency (s) or error."""
    i = first
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            response = await http.post("/v1/tag", json={"text": SENTENCES[i % len(SENTENCES)]})
            if response.status_code == 200 and response.json()["sentences"]:
                latencies.append(time.perf_counter() - started)
            else:
                errors.append(f"{response.status_code}: {response.text[:200]}")
        except httpx.HTTPError as error:
            errors.append(repr(error))
        i += 1


async def load(port: int, clients: int, seconds: float) -> tuple[list[float], list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60) as http:
        await http.post("/v1/tag", json={"text": SENTENCES[0]})  # warm-up: the first call loads spaCy
        deadline = time.perf_counter() + seconds
        await asyncio.gather(*(client(http, i, deadline, latencies, errors) for i in range(clients)))
    return latencies, errors


def offline_sentences_per_s(model: str | None, count: int) -> float:
    """Sentences/s of one batched ``tagger.tag`` call over ``count`` of the same sentences, in-process."""
    from albert_srl.inference.tagger import SRLTagger

    tagger = SRLTagger.from_pretrained(model, device="cpu")
    sentences = [text_sentences(SENTENCES[i % len(SENTENCES)])[0] for i in range(count)]
    tagger.tag(sentences[: len(SENTENCES)])  # warm-up
    started = time.perf_counter()
    tagger.tag(sentences)
    return count / (time.perf_counter() - started)


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def run(model: str | None, clients: int, seconds: float, limits: ServeLimits) -> LoadResult:
    port = free_port()
    server = start_server(model, port, limits)
    try:
        latencies, errors = asyncio.run(load(port, clients, seconds))
    finally:
        server.terminate()
        server.join(10)
    for error in errors[:5]:
        log.error("request failed: %s", error)
    return LoadResult(
        clients=clients,
        seconds=seconds,
        requests=len(latencies) + len(errors),
        errors=len(errors),
        requests_per_s=round(len(latencies) / seconds, 1),
        p50_ms=round(1000 * percentile(latencies, 50), 1) if latencies else float("nan"),
        p99_ms=round(1000 * percentile(latencies, 99), 1) if latencies else float("nan"),
        offline_sentences_per_s=round(offline_sentences_per_s(model, max(64, len(latencies) // 4)), 1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", nargs="?", help="model directory (default: the shipped model)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--batch-wait-ms", type=float, default=ServeLimits.batch_wait_ms)
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    result = run(args.model, args.clients, args.seconds, ServeLimits(batch_wait_ms=args.batch_wait_ms))
    if args.json:
        print(json.dumps(asdict(result)))
        return
    print("| clients | seconds | requests | errors | requests/s | p50 ms | p99 ms | offline sentences/s |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(" | ".join(["", *(str(value) for value in asdict(result).values()), ""]).strip())


if __name__ == "__main__":
    main()
