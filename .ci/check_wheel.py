"""Run by ``.ci/wheel`` with the fresh environment's Python, in a scratch directory: the installed wheel
(not the checkout) tags the README's sentence with ``albert-srl tag --format html`` and with the spaCy
component, using the model, the demo page and the component registration that the wheel carries."""

from __future__ import annotations

import ast
import subprocess
import sys
import sysconfig
from importlib.resources import files
from pathlib import Path

SENTENCE = "The committee approved the new budget on Tuesday."  # the README's set-up command tags it
EXPECTED = {("ARG0", "The committee"), ("ARG1", "the new budget"), ("ARGM-TMP", "on Tuesday")}
SPACY = (
    'import spacy; nlp = spacy.blank("en"); nlp.add_pipe("sentencizer"); nlp.add_pipe("albert_srl"); '
    f"doc = nlp({SENTENCE!r}); "
    "print([(f.roleset, [(a.label_, a.text) for a in f.arguments]) for f in doc._.albert_srl_frames])"
)


def run(command: list[str], stdin: str = "") -> str:
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        sys.exit(f"{command[:2]} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def main() -> None:
    import albert_srl

    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    package = Path(albert_srl.__file__).resolve().parent
    assert package.is_relative_to(site), f"albert_srl imported from {package}, not the wheel in {site}"
    assert (files("albert_srl") / "static" / "index.html").is_file(), "the demo page is not in the wheel"
    assert (package / "models" / "default" / "config.json").is_file(), "the shipped model is not in the wheel"

    bin_dir = Path(sys.executable).parent
    printed = run([sys.executable, "-c", SPACY]).strip().splitlines()[-1]  # the component by entry point
    print(printed)
    frames = dict(ast.literal_eval(printed))
    assert set(frames.get("approve.01", ())) >= EXPECTED, frames

    run([str(bin_dir / "albert-srl"), "tag", "--format", "html", "-o", "frames.html"], SENTENCE + "\n")
    page = Path("frames.html").read_text(encoding="utf-8")
    assert "approve.01" in page and all(f"{text}</span>" in page for _, text in EXPECTED), page
    print(f"ok: the wheel installed in {site} tags from {Path.cwd()}")


if __name__ == "__main__":
    main()
