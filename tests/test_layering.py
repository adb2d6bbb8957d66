"""The rooms of ARCHITECTURE.md, checked in fresh interpreters and on the import graph.

import-linter (in ``make test``) holds the contracts between the rooms statically; these tests
prove the two properties a user feels: a headless command never loads Textual (it starts fast
and runs where no terminal is attached), and the product code has no import circles (a circle
is how rooms start to lean on each other's insides).
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import grimp

import backends
import cli
import drill

ROOMS = ("backends", "tui", "widgets", "themes", "cli", "drill", "controlroom")
UI = ("textual", "rich", "tui", "widgets", "themes")


def _loaded_after_importing(modules: list[str], extra: str = "") -> list[str]:
    """Import ``modules`` (then run ``extra``) in a fresh interpreter; the UI modules loaded."""
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"{extra}"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {UI!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    return [m for m in out.stdout.strip().split(",") if m]


def _walk(package: object) -> list[str]:
    name = package.__name__  # type: ignore[attr-defined]
    return sorted(m.name for m in pkgutil.walk_packages(package.__path__,  # type: ignore[attr-defined]
                                                         f"{name}."))


def test_importing_every_backend_module_never_loads_textual() -> None:
    modules = _walk(backends)
    assert "backends.ops.gate" in modules and "backends.kube.source" in modules
    assert _loaded_after_importing(modules) == []


def test_the_cli_and_the_drill_never_load_textual() -> None:
    """Every module of the pipeline CLI and the drill, and a parse of a headless command as
    the launcher does it, in a fresh interpreter: no Textual, no App."""
    modules = _walk(cli) + _walk(drill) + ["controlroom.launch"]
    assert "cli.headless" in modules and "drill.server" in modules
    parse = ("from cli.main import build_parser\n"
             "build_parser().parse_args(['breaker', 'status'])\n")
    assert _loaded_after_importing(modules, parse) == []


def _cycles(adjacency: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(adjacency):
        if root in index:
            continue
        work = [(root, iter(adjacency[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(adjacency[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": [], "e": ["e2"], "e2": ["e"]}
    assert sorted(_cycles(graph)) == [["a", "b", "c"], ["e", "e2"]]
    assert _cycles({"a": ["b"], "b": []}) == []


def test_no_import_circles_in_the_product_code() -> None:
    """Every import counts, including those inside functions: a lazy import that closes a
    circle is still a circle, only hidden until the function runs."""
    graph = grimp.build_graph(*ROOMS)
    adjacency = {m: sorted(x for x in graph.find_modules_directly_imported_by(m)
                           if x in graph.modules) for m in graph.modules}
    assert len(adjacency) > 100
    assert _cycles(adjacency) == []
