"""The one HTML renderer: a notebook's ``Sentence._repr_html_``, a spaCy ``Doc``'s sentences,
``tag --format html`` and the served demo page all draw what the tagger answered, read back from the
markup's data attributes (and, in Chromium, from what the page shows)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from albert_srl import cli
from albert_srl.data import Argument, Frame, Predicate, Sentence
from albert_srl.render import STYLE_TAG, render_html, render_page
from albert_srl.tagging.tagger import SRLTagger

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
TEXT = "President Bush nominated two judges on Tuesday. The board approved the merger."

DrawnFrame = tuple[int, str, list[tuple[str, int, int, str]]]


class FrameReader(HTMLParser):
    """Collects each ``.sentence``'s frames: (predicate index, sense, [(role, start, end, span text)])."""

    def __init__(self) -> None:
        super().__init__()
        self.sentences: list[list[DrawnFrame]] = []
        self.legend: list[str] = []
        self.scripts = 0
        self.stack: list[str] = []  # the class of each open element

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        classes = values.get("class", "").split()
        self.scripts += tag == "script"
        if "sentence" in classes:
            self.sentences.append([])
        elif "frame" in classes:
            self.sentences[-1].append((int(values["data-predicate"]), values["data-sense"], []))
        elif "arg" in classes:
            span = (values["data-role"], int(values["data-start"]), int(values["data-end"]), "")
            self.sentences[-1][-1][2].append(span)
        if tag != "br":
            self.stack.append(" ".join(classes))

    def handle_endtag(self, tag: str) -> None:
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] == "span-text":
            spans = self.sentences[-1][-1][2]
            role, start, end, text = spans[-1]
            spans[-1] = (role, start, end, text + data)
        elif len(self.stack) >= 2 and self.stack[-2] == "legend":
            self.legend.append(data)


def read_frames(html: str) -> FrameReader:
    reader = FrameReader()
    reader.feed(html)
    reader.close()
    return reader


def expected(sentences: list[Sentence]) -> list[list[DrawnFrame]]:
    return [
        [
            (
                f.predicate.index,
                f.predicate.sense or "",
                [(a.role, a.start, a.end, s.span_text(a.start, a.end)) for a in f.arguments],
            )
            for f in s.frames
        ]
        for s in sentences
    ]


def readme_sentence() -> str:
    """The sentence the README's quick start tags."""
    match = re.search(r'tagger\.tag\("([^"]+)"\)', (REPO / "README.md").read_text(encoding="utf-8"))
    assert match, "the README's quick start tags no sentence"
    return match.group(1)


def test_the_readme_sentence_in_a_notebook_shows_every_argument() -> None:
    """``tagger.tag(text)[0]._repr_html_()`` with the shipped model: every argument span is drawn."""
    sentence = SRLTagger.from_pretrained().tag(readme_sentence())[0]
    assert sentence.frames, "the shipped model finds no predicate in the README's sentence"
    html = sentence._repr_html_()
    assert html.startswith(STYLE_TAG)  # a notebook output styles itself
    drawn = read_frames(html)
    assert drawn.sentences == expected([sentence])
    assert drawn.scripts == 0


def test_text_is_escaped_and_unknown_roles_drawn() -> None:
    words = ["<script>alert(1)</script>", "said", '"hi"', "&", "more"]
    frame = Frame(
        Predicate(1, "said", sense="say.01"),
        [Argument("ARG0", 0, 1), Argument("V", 1, 2), Argument("C-ARG1", 2, 4), Argument("XYZ", 4, 5)],
    )
    html = render_html(Sentence(words, [frame]))
    assert "<script>" not in html
    drawn = read_frames(html)
    spans = [(a.role, a.start, a.end, " ".join(words[a.start : a.end])) for a in frame.arguments]
    assert drawn.sentences == [[(1, "say.01", spans)]]
    assert drawn.scripts == 0


def test_a_sentence_without_frames_says_so() -> None:
    html = render_html([Sentence(["Thanks", "!"])])
    assert read_frames(html).sentences == [[]] and "no predicate found" in html


def test_a_spacy_doc_is_drawn_with_its_frames(trained_tiny_tagger: SRLTagger) -> None:
    spacy = pytest.importorskip("spacy")
    from albert_srl.spacy_component import doc_sentences

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("albert_srl").tagger = trained_tiny_tagger
    doc = nlp(TEXT)
    sentences = list(doc.sents)
    tagged = trained_tiny_tagger.tag([[t.text for t in s] for s in sentences])
    drawn = read_frames(render_html(doc_sentences(doc))).sentences
    assert drawn == [
        [(i, sense, [(r, s, e, sentence[s:e].text) for r, s, e, _ in spans]) for i, sense, spans in frames]
        for sentence, frames in zip(sentences, expected(tagged), strict=True)
    ]
    assert any(drawn), "the tiny model finds the sample's predicates"
    with pytest.raises(TypeError, match=r"draws Sentences, not Token .*doc_sentences\(doc\)"):
        render_html(doc)  # the component converts its Docs; the renderer takes Sentences only


def tiny_model_dir(tagger: SRLTagger, tmp_path: Path) -> Path:
    return tagger.save_pretrained(tmp_path / "model")


def test_tag_format_html_writes_a_standalone_page(trained_tiny_tagger: SRLTagger, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text(TEXT + "\n", encoding="utf-8")
    model = tiny_model_dir(trained_tiny_tagger, tmp_path)
    page_path = tmp_path / "frames.html"
    args = ["tag", str(tmp_path / "in.txt"), "--format", "html", "-o", str(page_path), "--model", str(model)]
    assert cli.main([*args, "--device", "cpu", "-q"]) == 0
    page = page_path.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "http" not in page.replace('name="viewport"', "")  # nothing to fetch: it works offline
    drawn = read_frames(page)
    assert drawn.sentences == expected(trained_tiny_tagger.tag(TEXT))
    assert any(drawn.sentences)
    assert "ARG0 agent" in drawn.legend and drawn.scripts == 0


def drawn_in_chromium(url: str) -> list[list[dict[str, Any]]]:
    """The frames a page shows in Chromium: every ``.arg`` with its role, label and text as displayed,
    and whether it is visible (a box of non-zero size)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.goto(url)
            return page.eval_on_selector_all(
                ".sentence",
                """sentences => sentences.map(s => [...s.querySelectorAll('.arg')].map(a => ({
                    role: a.dataset.role,
                    label: a.querySelector('.label').innerText,
                    text: a.querySelector('.span-text').innerText,
                    visible: a.getBoundingClientRect().width > 0 && a.getBoundingClientRect().height > 0,
                })))""",
            )
        finally:
            browser.close()


def test_the_standalone_page_shows_the_spans_in_chromium(
    trained_tiny_tagger: SRLTagger, tmp_path: Path
) -> None:
    sentences = trained_tiny_tagger.tag(TEXT)
    path = tmp_path / "frames.html"
    path.write_text(render_page(sentences), encoding="utf-8")
    shown = drawn_in_chromium(path.as_uri())
    assert shown == [
        [
            {"role": a.role, "label": a.role, "text": s.span_text(a.start, a.end), "visible": True}
            for f in s.frames
            for a in f.arguments
        ]
        for s in sentences
    ]
    assert any(shown)


def test_the_server_answers_html_from_the_same_renderer(trained_tiny_tagger: SRLTagger) -> None:
    testclient = pytest.importorskip("fastapi.testclient")
    from albert_srl.serving.serve import create_app

    with testclient.TestClient(create_app(trained_tiny_tagger)) as client:
        answer = client.post("/v1/tag", json={"text": TEXT}).json()
        html = client.post("/v1/tag?format=html", json={"text": TEXT})
        page = client.get("/").text
        bad = client.post("/v1/tag?format=xml", json={"text": TEXT})
    assert html.headers["content-type"].startswith("text/html")
    drawn = read_frames(html.text).sentences
    assert drawn == [
        [
            (
                frame["predicate"]["index"],
                frame["predicate"]["sense"] or "",
                [(a["role"], a["start"], a["end"], a["text"]) for a in frame["arguments"]],
            )
            for frame in sentence["frames"]
        ]
        for sentence in answer["sentences"]
    ]
    assert any(drawn)
    assert STYLE_TAG in page and "ARG0 agent" in read_frames(page).legend
    assert "createElement" not in page  # the page draws nothing itself
    assert bad.status_code == 422
