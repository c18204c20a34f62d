"""Call a running `albert-srl serve` from Python, with nothing but the standard library.

    albert-srl serve &                      # the shipped model on http://127.0.0.1:8000
    python examples/call_server.py "The board approved the merger." [http://127.0.0.1:8000]

POST /v1/tag takes {"text": ...} (split into sentences by the server) or pre-tokenized
{"sentences": [[...]], "predicates": [[...]]}; a refused request answers a JSON error naming the field.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import Any


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:  # 4xx/5xx: the body says which field and why
        raise SystemExit(f"{error.code}: {json.load(error)['error']}") from None


def main() -> None:
    text = sys.argv[1] if len(sys.argv) > 1 else "President Bush nominated two judges on Tuesday."
    server = sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:8000"
    for sentence in post(f"{server}/v1/tag", {"text": text})["sentences"]:
        for frame in sentence["frames"]:
            arguments = [(a["role"], a["text"]) for a in frame["arguments"] if a["role"] != "V"]
            print(frame["predicate"]["sense"] or frame["predicate"]["text"], arguments)
    # Pre-tokenized, with the predicate given: no predicate identification.
    words = ["The", "board", "approved", "the", "merger", "."]
    answer = post(f"{server}/v1/tag", {"sentences": [words], "predicates": [[2]]})
    print(json.dumps(answer["sentences"][0]["frames"][0]["tags"]))


if __name__ == "__main__":
    main()
