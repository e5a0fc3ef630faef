"""The layers of DESIGN.md, checked on the import graph of src/riskatlas.

Every import counts: at the top of a module, inside a function, under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# What the views (web/, cli/) may use besides their own modules: the Python API, i.e. the
# package's top-level modules (riskatlas.api's Atlas, importer, export, errors, i18n…),
# the values the API takes and returns (model/, analysis.scope, analysis.results, the
# assessment), the services, and the renderers of report/. Not the internals: store/,
# sources/, the other analysis/ and advice/ modules.
PYTHON_API = ("riskatlas.services", "riskatlas.analysis.scope", "riskatlas.analysis.results",
              "riskatlas.assessment", "riskatlas.model", "riskatlas.report")
# `riskatlas serve` starts the web app: the one edge from one view to the other.
VIEW_EXCEPTIONS = {("riskatlas.cli.serve", "riskatlas.web.app")}


@cache
def modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imported(name: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The modules ``name`` imports: ``from p import m`` is p.m when m is a module, else p
    (a package's own __init__ is not counted for each of its modules)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            for alias in node.names:
                yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base


@cache
def graph() -> dict[str, frozenset[str]]:
    """Module → the project modules it imports."""
    known = modules()
    edges = {}
    for name, path in known.items():
        targets = set()
        for target in _imported(name, path, known):
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                targets.add(target)
        edges[name] = frozenset(targets)
    return edges


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _top_level(module: str) -> bool:
    """The package itself or one of its top-level modules (not a subpackage)."""
    return module == "riskatlas" or (module.count(".") == 1 and
                                     modules()[module].name != "__init__.py")


def test_the_graph_is_read() -> None:
    edges = graph()
    assert len(edges) > 60
    assert sum("riskatlas.errors" in targets for targets in edges.values()) > 20


def test_no_cycle_anywhere() -> None:
    edges = graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt])  # nxt is on the path
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("view", ["riskatlas.web", "riskatlas.cli"])
def test_views_use_only_the_python_api(view: str) -> None:
    wrong = sorted(f"{m} -> {t}" for m, targets in graph().items() if _within(m, (view,))
                   for t in targets
                   if not _top_level(t) and not _within(t, (view, *PYTHON_API))
                   and (m, t) not in VIEW_EXCEPTIONS)
    assert not wrong, "\n".join(wrong)


def test_analysis_imports_neither_reports_nor_web() -> None:
    wrong = sorted(f"{m} -> {t}" for m, targets in graph().items()
                   if _within(m, ("riskatlas.analysis",)) for t in targets
                   if _within(t, ("riskatlas.report", "riskatlas.web", "riskatlas.cli")))
    assert not wrong, "\n".join(wrong)


def test_reports_render_only() -> None:
    """report/ renders values: it calls neither the Python API nor the views."""
    wrong = sorted(f"{m} -> {t}" for m, targets in graph().items()
                   if _within(m, ("riskatlas.report",)) for t in targets
                   if t == "riskatlas.api"
                   or _within(t, ("riskatlas.web", "riskatlas.cli")))
    assert not wrong, "\n".join(wrong)
