"""The package's imports flow one way, down the layers of docs/design.md: a module imports only from its
own layer or a lower one, and no module imports one that imports it back, directly or through others.
Every import statement counts, wherever it is: at the top, inside ``if TYPE_CHECKING:`` and inside a
function (a lazy import still runs, and still ties the two modules together)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "albert_srl"

# Lowest first: the tree tells the data flow text -> tokens -> encoder -> CRF -> frames (docs/design.md).
# A package stands for every module in it; the root package (``albert_srl``, its lazy re-exports) is outer.
LAYERS = {
    "foundations": {"data", "errors", "files", "settings", "config", "quiet", "bio", "render"},
    "formats, scorer and the output schema": {"formats", "scorer", "schema"},
    "the network": {"model"},
    "tagging": {"tagging"},
    "training": {"training", "pretraining", "tuning"},
    "outer layers": {"serving", "conversion", "spacy_component", "cli", "reference", ""},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def layer_of(name: str) -> int | None:
    """The index in ``LAYERS`` of the module ``name`` (``albert_srl.model.crf`` is in ``model``'s)."""
    parts = name.split(".")[1:]
    for depth in range(len(parts), -1, -1):
        prefix = ".".join(parts[:depth])
        for index, members in enumerate(LAYERS.values()):
            if prefix in members:
                return index
    return None


def imports(name: str, source: str | None = None) -> dict[str, int]:
    """The package modules ``name`` imports anywhere in its source (``source``, else its file), each with
    the line of its first import; a package does not count as importing its own submodules (it
    re-exports them)."""
    text = source if source is not None else MODULES[name].read_text(encoding="utf-8")
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{name}:{node.lineno}: a relative import (import absolutely)"
            module = node.module or ""
            if module.startswith("albert_srl"):
                for alias in node.names:
                    full = f"{module}.{alias.name}"
                    found.setdefault(full if full in MODULES else module, node.lineno)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("albert_srl"):
                    found.setdefault(alias.name, node.lineno)
    return {
        module: line
        for module, line in found.items()
        if module in MODULES and module != name and not module.startswith(f"{name}.")
    }


def upward(graph: dict[str, dict[str, int]]) -> list[str]:
    """Every import in ``graph`` of a module in a higher layer than the importer's, with its line."""
    names = list(LAYERS)
    return [
        f"{name}:{line} ({names[layer_of(name) or 0]}) imports {imported} ({names[layer_of(imported) or 0]})"
        for name, imported_lines in sorted(graph.items())
        for imported, line in sorted(imported_lines.items())
        if (layer_of(imported) or 0) > (layer_of(name) or 0)
    ]


GRAPH = {name: imports(name) for name in MODULES}


def test_every_module_has_a_layer() -> None:
    assert [name for name in sorted(MODULES) if layer_of(name) is None] == []


def test_no_import_runs_up_the_layers() -> None:
    assert upward(GRAPH) == []


def test_imports_in_functions_and_type_checking_blocks_count() -> None:
    """What ``Sentence._repr_html_`` once did (a lazy import of the renderer, which imported the spaCy
    component, which imported the tagger, which imported ``data``) is caught, as a type-only import is."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from albert_srl.model import network\n"
        "class Sentence:\n"
        "    def _repr_html_(self):\n"
        "        from albert_srl.spacy_component import doc_sentences\n"
        "        import albert_srl.bio\n"
    )
    found = imports("albert_srl.data", source)
    assert found == {"albert_srl.model.network": 3, "albert_srl.spacy_component": 6, "albert_srl.bio": 7}
    assert upward({"albert_srl.data": found}) == [
        "albert_srl.data:3 (foundations) imports albert_srl.model.network (the network)",
        "albert_srl.data:6 (foundations) imports albert_srl.spacy_component (outer layers)",
    ]


def test_the_import_graph_has_no_circle() -> None:
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = "open"
        path.append(name)
        for imported in sorted(GRAPH[name]):
            assert state.get(imported) != "open", " -> ".join([*path[path.index(imported) :], imported])
            if imported not in state:
                visit(imported)
        path.pop()
        state[name] = "done"

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)
    assert "albert_srl.pretraining.run" not in GRAPH["albert_srl.pretraining.export"]


def test_the_readme_layout_table_names_everything_in_the_package() -> None:
    """Each module and folder of ``albert_srl/`` has a row (its first column) in the README's Layout table,
    and each row names something that exists."""
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    named = {
        path.removeprefix("albert_srl/").strip("/").split("/")[0]
        for row in table.splitlines()
        if row.startswith("| `albert_srl/")
        for path in re.findall(r"`([^`]+)`", row.split(" | ")[0])
    }
    present = {
        path.name
        for path in PACKAGE.iterdir()
        if path.name not in ("__init__.py", "__pycache__") and (path.suffix == ".py" or path.is_dir())
    }
    assert sorted(named) == sorted(present)
