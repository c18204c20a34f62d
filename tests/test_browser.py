"""The demo page in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

Serves a model on a free loopback port, types text into the page, submits, and checks that the frames
drawn (read from the spans' data attributes) are the API's answer for the same text. The model is the
tiny untrained one, or ``$ALBERT_SRL_SERVE_MODEL`` when set; ``ALBERT_SRL_SCREENSHOT=docs/demo.png``
saves a screenshot there. Skipped when Playwright or ``/usr/bin/chromium`` is absent.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Only the browser tooling may be missing; the project's own modules must import, or the test fails.
sync_api = pytest.importorskip("playwright.sync_api")

import httpx  # noqa: E402
from conftest import serving  # noqa: E402

from albert_srl.bio import bio_from_spans  # noqa: E402
from albert_srl.data import Sentence  # noqa: E402
from albert_srl.model import network as model_module  # noqa: E402
from albert_srl.model.tokenizer import load_tokenizer  # noqa: E402
from albert_srl.serving.serve import create_app  # noqa: E402
from albert_srl.tagging import tagger as tagger_module  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
TEXT = "President Bush nominated two judges on Tuesday. The board approved the merger."

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed at /usr/bin/chromium", allow_module_level=True)


@pytest.fixture
def model_dir(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """``$ALBERT_SRL_SERVE_MODEL``, or a tiny untrained model saved from the conftest fixtures."""
    if "ALBERT_SRL_SERVE_MODEL" in os.environ:
        return Path(os.environ["ALBERT_SRL_SERVE_MODEL"])
    sentences: list[Sentence] = request.getfixturevalue("tiny_sentences")
    encoder = request.getfixturevalue("tiny_encoder_config")
    tags = {
        tag
        for sentence in sentences
        for frame in sentence.frames
        for tag in bio_from_spans([(a.role, a.start, a.end) for a in frame.arguments], len(sentence.words))
    }
    labels = ["O", *sorted(tags - {"O"} | {"B-V"})]
    senses = sorted({frame.predicate.sense or "-" for sentence in sentences for frame in sentence.frames})
    config = model_module.ModelConfig(
        labels=labels, senses=senses, encoder=encoder if isinstance(encoder, dict) else encoder.to_dict()
    )
    tokenizer = load_tokenizer(request.getfixturevalue("tiny_tokenizer_dir"))
    tagger_module.SRLTagger(model_module.SRLModel(config), tokenizer).save_pretrained(tmp_path / "model")
    return tmp_path / "model"


@pytest.fixture
def server_url(model_dir: Path) -> Iterator[str]:
    """A real uvicorn server in a thread, serving the model of ``model_dir``."""
    with serving(create_app(tagger_module.SRLTagger.from_pretrained(str(model_dir)))) as url:
        yield url


DRAWN_FRAMES = """sentences => sentences.map(s => [...s.querySelectorAll('.frame')].map(f => ({
    index: Number(f.dataset.predicate),
    sense: f.dataset.sense,
    spans: [...f.querySelectorAll('.arg')].map(a =>
        [a.dataset.role, Number(a.dataset.start), Number(a.dataset.end)]),
})))"""


def api_frames(answer: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return [
        [
            {
                "index": frame["predicate"]["index"],
                "sense": frame["predicate"]["sense"] or "",
                "spans": [[a["role"], a["start"], a["end"]] for a in frame["arguments"]],
            }
            for frame in sentence["frames"]
        ]
        for sentence in answer["sentences"]
    ]


def test_demo_page_draws_the_frames_the_api_answers(server_url: str) -> None:
    answer = httpx.post(f"{server_url}/v1/tag", json={"text": TEXT}, timeout=60).json()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_page(viewport={"width": 375, "height": 800})  # a phone's width
            page.goto(server_url)
            assert page.locator("#legend span").count() >= 5
            page.fill("#text", TEXT)
            page.click("#submit")
            page.wait_for_selector("body[data-state=done]", timeout=60_000)

            drawn = page.eval_on_selector_all(".sentence", DRAWN_FRAMES)
            assert drawn == api_frames(answer)
            assert len(drawn) == 2
            labels = page.locator(".arg .label").all_inner_texts()
            assert labels == [span[0] for sentence in drawn for frame in sentence for span in frame["spans"]]
            arguments = [a for s in answer["sentences"] for f in s["frames"] for a in f["arguments"]]
            assert page.locator(".arg .span-text").all_inner_texts() == [a["text"] for a in arguments]
            assert all(box.is_visible() for box in page.locator(".arg").all())
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

            screenshot = os.environ.get("ALBERT_SRL_SCREENSHOT")
            if screenshot:
                page.set_viewport_size({"width": 900, "height": 700})
                page.screenshot(path=screenshot, full_page=True)
        finally:
            browser.close()


def test_demo_page_shows_the_api_error(server_url: str) -> None:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_page()
            page.goto(server_url)
            page.fill("#text", "   ")
            page.click("#submit")
            page.wait_for_selector("body[data-state=error]", timeout=30_000)
            assert "empty" in page.inner_text("#status")
        finally:
            browser.close()
