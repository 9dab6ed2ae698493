"""The package's import graph, read from the source: no cycles (TYPE_CHECKING and function-level
imports included), dependencies pointing one way, no private names borrowed across modules."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "telemetry"


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[str, str]]:
    """Every ``(module, imported name)`` of ``telemetry`` that ``name`` imports, at any depth."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            found += [(base, alias.name) for alias in node.names]
    return [(module, alias) for module, alias in found if module == "telemetry" or module.startswith("telemetry.")]


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        targets = set()
        for module, alias in _imports(name, path):
            submodule = f"{module}.{alias}"
            targets.add(submodule if submodule in MODULES else module)
        graph[name] = {target for target in targets if target in MODULES and target != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.add(item)
                if item == node:
                    break
            if len(component) > 1:
                found.add(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_imports(name: str) -> None:
    """Each module imports on its own (a runtime cycle would fail here with a partial module)."""
    assert importlib.import_module(name).__name__ == name


def test_no_import_cycle() -> None:
    """No two modules import each other, directly or round a loop, even under TYPE_CHECKING or
    inside a function."""
    assert _cycles(_graph()) == set()


def test_cycle_finder_sees_a_cycle() -> None:
    """The checker itself: a loop through three modules is one cycle, a tail into it is not."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == {frozenset({"a", "b", "c"})}


def test_dependencies_point_one_way() -> None:
    """Only integrations (and the package's one-call facade) import integrations; outbox,
    dead-letter queues, messaging and the test doubles never do."""
    offenders = {
        name: sorted(target for target in targets if target.startswith("telemetry.integrations"))
        for name, targets in _graph().items()
        if not name.startswith("telemetry.integrations") and name != "telemetry"
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_no_private_names_across_modules() -> None:
    """``from telemetry.x import _name`` is not used outside ``telemetry.x`` itself."""
    borrowed = {
        (name, module, alias)
        for name, path in MODULES.items()
        for module, alias in _imports(name, path)
        if alias.startswith("_") and f"{module}.{alias}" not in MODULES and module != name
    }
    assert borrowed == set()


def test_runtime_packages_hold_no_test_doubles() -> None:
    """The in-memory broker lives in ``telemetry.testing``; the old runtime module is gone."""
    assert "telemetry.outbox.memory" not in MODULES
    assert "telemetry.testing.broker" in MODULES
