"""The documentation runs as written: every ```python block of README.md and docs/*.md, and the README's
cheap shell commands (tag, predict, evaluate, convert on the corpora/ samples).

Python blocks run from the repository root, the blocks of one file in order in one namespace (as a
reader pastes them into one session). Shell commands run in a scratch directory that links
``corpora/`` and ``configs/`` so that the files they write do not land in the repository.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"  # the corpora beside the checkout; a block that needs them skips without
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
# Sub-commands cheap enough for every test run; train, pretrain and serve are shown, not run here.
CHEAP = {"tag", "predict", "evaluate", "convert"}
TOP_LEVEL = set(os.listdir(REPO))  # what the repository root holds before any block runs
# Written there by the test tools themselves while the suite runs (hypothesis's example database and
# Unicode cache, pytest's cache), not by a doc block.
TOOL_CACHES = {".hypothesis", ".pytest_cache"}


def blocks(path: Path, language: str) -> list[str]:
    return [code for lang, code in BLOCK.findall(path.read_text(encoding="utf-8")) if lang == language]


def documents_with_python() -> list[Path]:
    return [path for path in DOCS if blocks(path, "python")]


def test_the_readme_has_the_quick_start_in_python() -> None:
    assert "from albert_srl import SRLTagger" in blocks(REPO / "README.md", "python")[0]


@pytest.mark.parametrize("path", documents_with_python(), ids=lambda p: p.name)
def test_python_blocks_run_as_written(
    path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    namespace: dict[str, object] = {"__name__": "__main__"}
    for number, code in enumerate(blocks(path, "python"), start=1):
        try:
            exec(compile(code, f"{path.name}, python block {number}", "exec"), namespace)
        except Exception as error:  # name the block, then fail with the block's own traceback
            if reads_absent_shared(error):
                pytest.skip(f"{path.name}: python block {number} reads ../shared, which is absent")
            raise AssertionError(f"{path.name}: python block {number} failed: {error!r}") from error
    left = set(os.listdir(REPO)) - TOP_LEVEL - TOOL_CACHES
    assert not left, f"a doc block left {sorted(left)} in the repository root"
    if path.name == "README.md":
        assert "nominate.01" in capsys.readouterr().out  # the quick start prints frames


def reads_absent_shared(error: Exception) -> bool:
    """Whether ``error`` is a block's reading ``../shared`` (a corpus, or a config that names one) where it
    is absent: the README promises a skip there, as the corpus tests do."""
    return not SHARED.exists() and "../shared" in str(error)


def test_only_an_error_that_names_absent_corpora_skips_a_block() -> None:
    from albert_srl.config import ConfigError

    missing = "train_path: no such file or directory: ../shared/corpora/ewt/train.gold_conll.gz"
    assert reads_absent_shared(ConfigError("configs/tiny.yaml", None, missing)) == (not SHARED.exists())
    assert not reads_absent_shared(ConfigError("configs/tiny.yaml", 3, "epochs is 0: allowed 1 or more"))


def cheap_commands(path: Path) -> list[str]:
    """The README's ``albert-srl`` commands whose sub-command is cheap; ``pip install ... &&`` prefixes and
    trailing comments are dropped."""
    commands = []
    for code in blocks(path, "bash"):
        for line in code.splitlines():
            line = line.split("  #")[0].strip()
            parts = [p.strip() for p in line.split("&&") if not p.strip().startswith("pip ")]
            for part in parts:
                words = shlex.split(part.split("|")[-1])
                if words[:1] == ["albert-srl"] and words[1:2] and words[1] in CHEAP:
                    commands.append(part)
    return commands


@pytest.mark.slow
def test_readme_shell_commands_run(tmp_path: Path) -> None:
    commands = cheap_commands(REPO / "README.md")
    assert {shlex.split(c.split("|")[-1])[1] for c in commands} == CHEAP, commands
    for name in ("corpora", "configs"):
        (tmp_path / name).symlink_to(REPO / name)
    # On PATH, or beside this Python: a virtual environment used without activating it.
    albert_srl = shutil.which("albert-srl") or shutil.which(
        "albert-srl", path=str(Path(sys.executable).parent)
    )
    assert albert_srl is not None, "the albert-srl command is not installed (pip install -e .)"
    env = {**os.environ, "PATH": f"{Path(albert_srl).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for command in commands:  # in order: evaluate reads what predict wrote
        done = subprocess.run(
            command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"{command}\n{done.stderr}"
        assert done.stdout.strip() or "-o " in command or "convert" in command, command


def test_the_shipped_models_scores_live_in_one_place() -> None:
    """Figures that change with the model are written once, in docs/model.md or docs/benchmarks.md with
    the command, commit and date that produced them; the rest of the docs link there (issue 33: a README
    and a guide quoted scores of a model replaced since). Code blocks (sample outputs) are not prose."""
    card = (REPO / "albert_srl" / "models" / "default" / "README.md").read_text(encoding="utf-8")
    headline = set(re.findall(r"\*\*(\d+\.\d\d)\*\*", card))  # the card's scores in bold
    assert headline, "the model card states its scores in bold"
    for path in [*DOCS, REPO / "albert_srl" / "cli.py"]:
        if path.name in ("model.md", "benchmarks.md"):
            continue
        prose = BLOCK.sub("", path.read_text(encoding="utf-8"))
        restated = headline & set(re.findall(r"\d+\.\d\d", prose))
        assert not restated, f"{path.name} restates {sorted(restated)}: link to docs/model.md instead"


def test_the_silver_guides_commands_parse_and_its_section_is_a_silver_config() -> None:
    """docs/silver.md shows the real commands (a teacher, your text: not run here; its Python block runs
    the same at toy scale above) and a ``silver`` section: the commands' flags and the section's keys and
    values must be what the command line and the config take."""
    import yaml

    from albert_srl.cli import build_parser
    from albert_srl.config import SilverConfig
    from albert_srl.settings import build

    guide = REPO / "docs" / "silver.md"
    commands = [
        shlex.split(line)[1:]
        for code in blocks(guide, "bash")
        for line in code.replace("\\\n", " ").splitlines()
        if line.startswith("albert-srl ")
    ]
    assert [words[0] for words in commands] == ["label", "train"]
    for words in commands:
        build_parser().parse_args(words)
    (section,) = blocks(guide, "yaml")
    silver = build(SilverConfig, yaml.safe_load(section)["silver"], str(guide))
    assert silver.path and silver.weight > 0 and silver.min_confidence is not None
