"""The wheel that ``python -m build`` makes carries what an installed package needs: every file of the
shipped models (whatever their names), the demo page, and the spaCy component's entry point.

Built without build isolation from a copy of the package (so nothing is written into the checkout); the
install into a fresh virtual environment and the tagging from outside it are ``.ci/wheel``'s job.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from configparser import ConfigParser
from pathlib import Path

import pytest

pytest.importorskip("build")
pytestmark = pytest.mark.slow  # builds the wheel: about 12 s on two shared cores

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "albert_srl"


def shipped_files() -> set[str]:
    """The package's data files: everything under ``models/`` and ``static/``, as paths in the wheel."""
    found = {p for folder in ("models", "static") for p in (PACKAGE / folder).rglob("*") if p.is_file()}
    return {p.relative_to(REPO).as_posix() for p in found}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(PACKAGE, source / "albert_srl", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    command = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(source)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (path,) = out.glob("albert_srl-*.whl")
    return path


def test_the_wheel_carries_the_models_and_the_page(wheel: Path) -> None:
    expected = shipped_files()
    assert any(name.startswith("albert_srl/models/default/") for name in expected)
    assert "albert_srl/static/index.html" in expected
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert expected <= names, sorted(expected - names)
    assert {"albert_srl/render.py", "albert_srl/spacy_component.py"} <= names


def test_the_wheel_registers_the_command_and_the_spacy_component(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (entry_points,) = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        config = ConfigParser()
        config.read_string(archive.read(entry_points).decode("utf-8"))
    assert config["spacy_factories"]["albert_srl"] == "albert_srl.spacy_component:make_albert_srl"
    assert config["console_scripts"]["albert-srl"] == "albert_srl.cli:main"
    module, function = config["spacy_factories"]["albert_srl"].split(":")
    assert callable(getattr(__import__(module, fromlist=[function]), function))


def test_the_readme_installs_the_wheel_that_the_build_makes(wheel: Path) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    installs = [line for line in readme.splitlines() if line.startswith("pip install") and ".whl" in line]
    assert installs, "the README shows no pip install of the wheel"
    assert all(f"dist/{wheel.name}" in line for line in installs), (installs, wheel.name)
