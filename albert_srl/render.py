"""The one HTML renderer of frames: a notebook (``Sentence._repr_html_``), ``albert-srl tag --format html``
and the demo page of ``albert-srl serve`` all draw sentences with it.

Each sentence is a box holding its text and one row per frame: the predicate and its roleset, then the
sentence's words with every argument span boxed, labelled with its role and coloured by it (the
predicate's own ``V`` span too). The markup carries the data it shows, so a browser test (or a script)
reads the frames back: a ``.frame`` has ``data-predicate`` (word index) and ``data-sense``; an ``.arg``
has ``data-role``, ``data-start`` and ``data-end`` (word indices, half-open).

All CSS is scoped under ``.albert-srl``, so a fragment dropped into a notebook or another page styles
only itself. Only the standard library is used, and nothing of this package: ``data`` imports this
module for ``Sentence._repr_html_``, and a ``Sentence`` hands its own fields to ``frame_html`` and
``sentence_html`` (``Sentence.html``); the rest draws anything ``Drawable``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html import escape
from io import StringIO
from typing import Protocol, TextIO, runtime_checkable

ROLE_COLOURS = {
    "ARG0": "#2563eb",
    "ARG1": "#dc2626",
    "ARG2": "#16a34a",
    "ARG3": "#9333ea",
    "ARG4": "#b45309",
    "ARG5": "#0891b2",
    "ARGM-TMP": "#0d9488",
    "ARGM-LOC": "#ca8a04",
    "V": "#111827",
}
MODIFIER_COLOUR = "#64748b"  # every other ARGM-*
OTHER_COLOUR = "#db2777"  # a label outside PropBank's core set (another corpus's roles)
REFERENCE_OR_CONTINUATION = re.compile(r"^[RC]-")
LEGEND = [
    ("ARG0", "agent"),
    ("ARG1", "patient, theme"),
    ("ARG2", ""),
    ("ARG3", ""),
    ("ARG4", ""),
    ("ARGM-TMP", "time"),
    ("ARGM-LOC", "place"),
    ("ARGM", "other modifiers"),
    ("V", "predicate"),
]

STYLE = """
.albert-srl { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111827; }
.albert-srl .sentence {
  background: white; border: 1px solid #e2e8f0; border-radius: .5rem; padding: .75rem; margin-bottom: 1rem;
}
.albert-srl .sentence > .text { color: #475569; font-size: .9rem; margin-bottom: .5rem; }
.albert-srl .frame { border-top: 1px solid #e2e8f0; padding: .6rem 0 .2rem; }
.albert-srl .frame:first-of-type { border-top: 0; }
.albert-srl .frame .head { font-size: .85rem; margin-bottom: .35rem; }
.albert-srl .roleset {
  font-family: ui-monospace, SFMono-Regular, Menlo, monospace; background: #f1f5f9;
  padding: .05rem .35rem; border-radius: .25rem;
}
.albert-srl .words {
  display: flex; flex-wrap: wrap; gap: .35rem .25rem; align-items: flex-end; line-height: 1.3;
}
.albert-srl .word { padding: .15rem .1rem; }
.albert-srl .arg {
  display: inline-flex; flex-direction: column; border: 2px solid var(--c); border-radius: .35rem;
  overflow: hidden; background: color-mix(in srgb, var(--c) 10%, white);
}
.albert-srl .arg > .label {
  background: var(--c); color: white; font-size: .7rem; font-weight: 600; padding: 0 .3rem;
}
.albert-srl .arg > .span-text { padding: .1rem .3rem; }
.albert-srl .arg.reference { border-style: dashed; }
.albert-srl .predicate > .span-text, .albert-srl .word.predicate { font-weight: 700; }
.albert-srl .none { color: #64748b; font-style: italic; font-size: .9rem; }
.albert-srl .legend { display: flex; flex-wrap: wrap; gap: .4rem; margin-bottom: 1rem; font-size: .8rem; }
.albert-srl .legend span { padding: .1rem .45rem; border-radius: .3rem; color: white; }
"""
STYLE_TAG = f"<style>{STYLE}</style>"


def role_colour(role: str) -> str:
    """The colour of a role: ``R-``/``C-`` take their base role's; ``ARGM-*`` share one but TMP and LOC."""
    base = REFERENCE_OR_CONTINUATION.sub("", role)
    if base in ROLE_COLOURS:
        return ROLE_COLOURS[base]
    return MODIFIER_COLOUR if base.startswith("ARGM") else OTHER_COLOUR


def render_legend() -> str:
    """The roles and their colours, as one ``.legend`` row."""
    items = "".join(
        f'<span style="background:{role_colour("ARGM-MNR" if role == "ARGM" else role)}">'
        f"{escape(f'{role} {meaning}' if meaning else role)}</span>"
        for role, meaning in LEGEND
    )
    return f'<div class="legend" aria-label="legend">{items}</div>'


Span = tuple[str, int, int, str]  # an argument: role, first word, end word (exclusive), its text


@runtime_checkable
class Drawable(Protocol):
    """What the renderer draws: a ``Sentence`` (``data.Sentence.html``)."""

    def html(self) -> str: ...


def frame_html(
    words: list[str], predicate: int, predicate_text: str, sense: str | None, spans: list[Span]
) -> str:
    """One ``.frame`` row: the predicate and its roleset, then the words with each argument span boxed
    (``spans`` within the words, none overlapping another)."""
    head = (
        f'<div class="head"><strong>{escape(predicate_text)}</strong> '
        f'<span class="roleset">{escape(sense or "(no roleset)")}</span></div>'
    )
    starts = {start: (role, end, text) for role, start, end, text in spans}
    parts = []
    i = 0
    while i < len(words):
        if i not in starts:
            marked = " predicate" if i == predicate else ""
            parts.append(f'<span class="word{marked}">{escape(words[i])}</span>')
            i += 1
            continue
        role, end, text = starts[i]
        classes = "arg"
        if role.startswith("R-"):
            classes += " reference"
        if i <= predicate < end:
            classes += " predicate"
        parts.append(
            f'<span class="{classes}" data-role="{escape(role)}" data-start="{i}" data-end="{end}" '
            f'title="{escape(role)}" style="--c:{role_colour(role)}">'
            f'<span class="label">{escape(role)}</span><span class="span-text">{escape(text)}</span></span>'
        )
        i = end
    return (
        f'<div class="frame" data-predicate="{predicate}" data-sense="{escape(sense or "")}">'
        f'{head}<div class="words">{"".join(parts)}</div></div>'
    )


def sentence_html(text: str, frames: list[str]) -> str:
    """One ``.sentence`` box: the text, then its ``frame_html`` rows (no CSS)."""
    body = "".join(frames) or '<div class="none">no predicate found</div>'
    return f'<div class="sentence"><div class="text">{escape(text)}</div>{body}</div>'


def render_fragment(sentences: Iterable[Drawable]) -> str:
    """The sentences' boxes inside one ``.albert-srl`` element, without CSS (for a page that has it)."""
    return f'<div class="albert-srl">{"".join(box(s) for s in sentences)}</div>'


def render_html(item: Drawable | Iterable[Drawable]) -> str:
    """A self-styled HTML fragment (CSS included) of a ``Sentence`` or of several: what a notebook shows
    (``Sentence._repr_html_``). A spaCy ``Doc``'s: ``render_html(spacy_component.doc_sentences(doc))``."""
    return STYLE_TAG + render_fragment([item] if isinstance(item, Drawable) else item)


def box(sentence: Drawable) -> str:
    """A sentence's box; anything else is a ``TypeError`` saying what the renderer draws."""
    if not isinstance(sentence, Drawable):
        raise TypeError(
            f"the renderer draws Sentences, not {type(sentence).__name__} (a spaCy Doc's: "
            "albert_srl.spacy_component.doc_sentences(doc))"
        )
    return sentence.html()


PAGE_STYLE = "body { margin: 0 auto; max-width: 60rem; padding: 1rem; background: #f8fafc; }"


def page_start(title: str = "albert-srl frames") -> str:
    """The head of a standalone page (CSS and the legend); the sentences and ``page_end()`` follow, so a
    long page is written sentence by sentence (``box``)."""
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{PAGE_STYLE}{STYLE}</style>\n</head>\n<body>\n"
        f'<div class="albert-srl">\n{render_legend()}\n'
    )


def page_end() -> str:
    return "</div>\n</body>\n</html>\n"


def render_page(sentences: Iterable[Drawable], title: str = "albert-srl frames") -> str:
    """A standalone HTML page (no scripts, no external files) of the sentences and a legend."""
    stream = StringIO()
    write_html(sentences, stream, title)
    return stream.getvalue()


def write_html(sentences: Iterable[Drawable], stream: TextIO, title: str = "albert-srl frames") -> int:
    """Write ``render_page`` sentence by sentence (the ``html`` writer of ``albert_srl.write``). Returns
    the number of sentences written."""
    stream.write(page_start(title))
    count = 0
    for sentence in sentences:
        stream.write(box(sentence) + "\n")
        count += 1
    stream.write(page_end())
    return count
