"""Hostile load on ``albert-srl serve``: good and bad requests mixed, and small requests behind a long one.

Starts the server (the shipped model unless MODEL_DIR) in a child process, then

1. idle: the latency of one-sentence requests sent one at a time;
2. fairness (``long``, ``worst``): the same requests, one after the other, while a long request is
   being tagged; ``long`` is 128 sentences of 32 words (4,096 words, every limit reached), ``worst`` the
   most work the default limits let through in one request, one 256-word sentence with 160 predicates
   (40,960 words of tagging); the figures are their p50 and max, and how much longer than idle;
3. mixed: ``--clients`` clients for ``--seconds``, a ``--bad`` share of bad requests (bad JSON, lone
   surrogates, over-long sentences, wrong types, not JSON, empty text): throughput, p50/p99 of the good
   requests, and unexpected answers (a 5xx, or a bad request not answered with its 4xx);

and reports the server's memory (VmRSS) before and after, and the load average, as JSON.

    python benchmarks/serve_hostile.py [MODEL_DIR] --clients 16 --seconds 20 --bad 0.4
    python benchmarks/serve_hostile.py --parts worst       # the fairness figure of docs/reliability.md
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
from serve_load import start_server, stop_server

SMALL = {"sentences": [["The", "board", "approved", "the", "plan", "."]]}
WORDS = ["The", "company", "said", "it", "would", "sell", "its", "shares", "to", "investors", "next", "year"]
LONG = {"sentences": [(WORDS * 3)[:32]] * 128}  # 4,096 words: every limit reached, none passed
# The most work one request may ask for at the default limits: 160 x 256 = 40,960 words of tagging.
WORST = {"sentences": [(WORDS * 22)[:256]], "predicates": [list(range(160))]}
BAD: list[tuple[bytes, str, int]] = [  # body, content type, expected status
    (b'{"text": ', "application/json", 400),
    (b'{"text": "It rained \\ud800 today."}', "application/json", 422),
    (json.dumps({"sentences": [["w"] * 300]}).encode(), "application/json", 413),
    (b'{"sentences": "not a list"}', "application/json", 422),
    (b"text=hello", "application/x-www-form-urlencoded", 415),
    (b'{"text": "   "}', "application/json", 422),
    (b'{"sentences": [["a"]], "predicates": [[5]]}', "application/json", 422),
]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def timed(client: httpx.AsyncClient, url: str, body: Any = SMALL) -> tuple[float, int]:
    started = time.perf_counter()
    response = await client.post(url, json=body)
    return time.perf_counter() - started, response.status_code


async def small_latencies(client: httpx.AsyncClient, url: str, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        latency, status = await timed(client, url)
        assert status == 200, status
        latencies.append(latency)
    return latencies


async def starvation(
    client: httpx.AsyncClient, url: str, long_body: Any, most: int, idle: list[float]
) -> dict[str, Any]:
    """Small requests one after the other (at most ``most``) from 1 s after ``long_body`` was sent until
    it is answered: their p50 and max, and how much longer than ``idle``."""
    long = asyncio.create_task(timed(client, url, long_body))
    await asyncio.sleep(1.0)  # the long request is being tagged
    behind: list[float] = []
    while not long.done() and len(behind) < most:
        behind.extend(await small_latencies(client, url, 1))
    long_s, long_status = await long
    return {
        "behind_long_p50_s": round(statistics.median(behind), 3),
        "behind_long_max_s": round(max(behind), 3),
        "added_delay_p50_s": round(statistics.median(behind) - statistics.median(idle), 3),
        "added_delay_max_s": round(max(behind) - statistics.median(idle), 3),
        "small_requests_during_long": len(behind),
        "long_request_s": round(long_s, 1),
        "long_status": long_status,
    }


async def mixed(url: str, clients: int, seconds: float, bad_share: float) -> dict[str, Any]:
    good: list[float] = []
    counts = {"good": 0, "bad": 0, "unexpected": 0}
    deadline = time.perf_counter() + seconds
    rng = random.Random(0)

    async def client_loop(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            if rng.random() < bad_share:
                body, content_type, expected = rng.choice(BAD)
                response = await client.post(url, content=body, headers={"content-type": content_type})
                counts["bad"] += 1
                counts["unexpected"] += response.status_code != expected
            else:
                latency, status = await timed(client, url)
                counts["good"] += 1
                counts["unexpected"] += status != 200
                good.append(latency)

    async with httpx.AsyncClient(timeout=120) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    good.sort()
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": counts["good"] + counts["bad"],
        "bad_requests": counts["bad"],
        "unexpected_answers": counts["unexpected"],
        "requests_per_s": round((counts["good"] + counts["bad"]) / elapsed, 1),
        "good_p50_ms": round(1000 * good[len(good) // 2], 1) if good else None,
        "good_p99_ms": round(1000 * good[min(len(good) - 1, int(len(good) * 0.99))], 1) if good else None,
    }


async def measure(port: int, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/v1/tag"
    parts = args.parts.split(",")
    result: dict[str, Any] = {"load_average_before": round(os.getloadavg()[0], 2)}
    async with httpx.AsyncClient(timeout=600) as client:
        await small_latencies(client, url, 3)  # warm up
        before = rss_mib(pid)
        idle = await small_latencies(client, url, 10)
        result["idle_p50_s"] = round(statistics.median(idle), 3)
        if "long" in parts:
            result["starvation"] = await starvation(client, url, LONG, 20, idle)
        if "worst" in parts:
            result["worst"] = await starvation(client, url, WORST, 1000, idle)
    if "mixed" in parts:
        result["mixed"] = await mixed(url, args.clients, args.seconds, args.bad)
    result["memory_mib"] = {"before": round(before, 1), "after": round(rss_mib(pid), 1)}
    result["load_average_after"] = round(os.getloadavg()[0], 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--bad", type=float, default=0.4, help="share of bad requests")
    parser.add_argument(
        "--parts", default="long,worst,mixed", help="which of long, worst, mixed to run (comma-separated)"
    )
    args = parser.parse_args()
    server, port = start_server(args.model)
    try:
        result = asyncio.run(measure(port, server.pid, args))
        started = time.perf_counter()
        server.terminate()
        server.wait(timeout=60)
        result["sigterm_to_exit_s"] = round(time.perf_counter() - started, 2)
        print(json.dumps(result, indent=2))
    finally:
        if server.poll() is None:
            stop_server(server)


if __name__ == "__main__":
    main()
