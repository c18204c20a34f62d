"""The package's imports flow one way: no module imports, at its top (``TYPE_CHECKING`` blocks included),
a module that imports it back, directly or through others."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "albert_srl"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def top_imports(name: str) -> set[str]:
    """The package modules ``name`` imports at its top, ``if TYPE_CHECKING:`` included; a package does not
    count as importing its own submodules (it re-exports them)."""
    nodes = list(ast.parse(MODULES[name].read_text(encoding="utf-8")).body)
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.If):
            nodes.extend(node.body)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("albert_srl"):
            module = node.module or ""
            found |= {f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("albert_srl")}
    return {m for m in found if m in MODULES and m != name and not m.startswith(f"{name}.")}


def test_the_import_graph_has_no_circle() -> None:
    graph = {name: top_imports(name) for name in MODULES}
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = "open"
        path.append(name)
        for imported in sorted(graph[name]):
            assert state.get(imported) != "open", " -> ".join([*path[path.index(imported) :], imported])
            if imported not in state:
                visit(imported)
        path.pop()
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert "albert_srl.pretraining.run" not in graph["albert_srl.pretraining.export"]
