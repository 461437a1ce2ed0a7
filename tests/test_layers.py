"""The package keeps its layers (docs/architecture.md, "Layers"): no import cycle among
the modules of ``src/strangers``, and no module importing from a layer above its own.

Layers, bottom to top (a module may import from its own layer and those below):

0. ``core``: pure, sans-I/O; it imports nothing else of the package;
1. the package root and its plain utilities (``logs``, ``runtime``);
2. the adapters: ``safety`` and ``brokers``;
3. ``moderation`` (the records, the console) and the records' ``migrations``;
4. ``gateway``, the app that wires everything;
5. the commands and the protocol client: ``cli``, ``__main__``, ``client``.

Every import statement counts, wherever it is: at module level, inside a function,
and under ``if TYPE_CHECKING:``. A cycle that only a type checker follows is still two
modules that cannot be understood, changed or tested apart. The modules are read with
``ast``, never imported, so the check costs nothing and sees code no test runs."""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = "strangers"

#: The layer of each top-level name in the package ("" is the package's __init__).
LAYER_OF_TOP: Mapping[str, int] = {
    "core": 0,
    "": 1,
    "logs": 1,
    "runtime": 1,
    "safety": 2,
    "brokers": 2,
    "moderation": 3,
    "migrations": 3,
    "gateway": 4,
    "cli": 5,
    "supervisor": 5,
    "__main__": 5,
    "client": 5,
}
LAYER_NAMES = ("core", "utilities", "safety/brokers", "moderation", "gateway", "commands")


@dataclass(frozen=True)
class Import:
    """One import of one package module by another, where it is written."""

    importer: str
    imported: str
    line: int

    def __str__(self) -> str:
        return f"{self.importer} (line {self.line}) imports {self.imported}"


def modules(src: Path) -> dict[str, Path]:
    """Every module of the package under ``src``, by dotted name."""
    found = {}
    for path in sorted((src / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _named(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> Iterator[str]:
    """The dotted names an import statement in ``module`` asks for: each module, or
    each name inside a module (resolved against ``module`` when relative)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, *([node.module] if node.module else [])])
    for alias in node.names:
        yield f"{base}.{alias.name}"


def imports(src: Path) -> list[Import]:
    """Every import of a package module by another, all statements included (module
    level, function bodies, ``if TYPE_CHECKING:``); ``from a import b`` counts as an
    import of ``a.b`` when that is a module, else of ``a``."""
    known = modules(src)
    found: dict[Import, None] = {}  # in order, each once
    for module, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for name in _named(node, module, path.name == "__init__.py"):
                target = name
                while target not in known and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in known and target != module:
                    found[Import(module, target, node.lineno)] = None
    return list(found)


def layer(module: str) -> int | None:
    """The module's layer (see the module's docstring); None if it has none yet."""
    top = module.split(".")[1] if "." in module else ""
    return LAYER_OF_TOP.get(top)


@dataclass(frozen=True)
class Cycle:
    """Modules that all reach each other through imports (a strongly connected
    component), and one closed path through them as an example."""

    modules: tuple[str, ...]
    path: tuple[str, ...]

    def __str__(self) -> str:
        return f"{', '.join(self.modules)}; for one: {' -> '.join(self.path)}"


def cycles(edges: list[Import]) -> list[Cycle]:
    """The import cycles: one per group of modules that reach each other (Tarjan's
    algorithm for strongly connected components)."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.importer, set()).add(edge.imported)
        graph.setdefault(edge.imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [Cycle(tuple(sorted(group)), _closed_path(graph, group)) for group in groups]


def _closed_path(graph: Mapping[str, set[str]], group: set[str]) -> tuple[str, ...]:
    """A shortest path from the group's first module back to itself, within the group."""
    start = min(group)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph[node] & group):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return (*reversed(path), start)
            if nxt not in came_from:
                came_from[nxt] = node
                queue.append(nxt)
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def upward(edges: list[Import]) -> list[Import]:
    """The imports from a layer above the importer's own."""
    return [
        edge
        for edge in edges
        if (low := layer(edge.importer)) is not None
        and (high := layer(edge.imported)) is not None
        and high > low
    ]


@pytest.fixture(scope="module")
def package_imports() -> list[Import]:
    return imports(SRC)


def test_every_module_of_the_package_has_a_layer() -> None:
    """A new top-level module must be placed in a layer before the rules can hold it."""
    unplaced = sorted(module for module in modules(SRC) if layer(module) is None)
    assert not unplaced, f"give these a layer in LAYER_OF_TOP: {unplaced}"


def test_no_import_cycle_among_the_packages_modules(package_imports: list[Import]) -> None:
    found = cycles(package_imports)
    assert not found, "import cycles:\n" + "\n".join(map(str, found))


def test_no_module_imports_from_a_layer_above_its_own(package_imports: list[Import]) -> None:
    found = upward(package_imports)
    assert not found, "imports from a higher layer:\n" + "\n".join(
        f"{edge} ({LAYER_NAMES[layer(edge.importer) or 0]} < "
        f"{LAYER_NAMES[layer(edge.imported) or 0]})"
        for edge in found
    )


def test_core_imports_nothing_of_the_package_outside_core(
    package_imports: list[Import],
) -> None:
    outside = [
        edge for edge in package_imports if layer(edge.importer) == 0 and layer(edge.imported) != 0
    ]
    assert not outside, "core reaches out:\n" + "\n".join(map(str, outside))


@pytest.fixture
def tangled(tmp_path: Path) -> Path:
    """A small package with a cycle made only of imports a quick look would miss (one
    under ``TYPE_CHECKING``, one inside a function, one relative) and an upward import
    only inside a function."""
    package = tmp_path / PACKAGE
    files = {
        "__init__.py": "",
        "core/__init__.py": "",
        "core/rules.py": "def late():\n    from strangers.gateway import app\n",
        "gateway/__init__.py": "",
        "gateway/app.py": "from . import node\n",
        "gateway/node.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n"
            "    from .metrics import Counter\n"
        ),
        "gateway/metrics.py": "def count():\n    from strangers.gateway.node import Node\n",
    }
    for name, text in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_the_check_sees_imports_in_functions_and_under_type_checking(tangled: Path) -> None:
    edges = imports(tangled)
    assert [cycle.path for cycle in cycles(edges)] == [
        ("strangers.gateway.metrics", "strangers.gateway.node", "strangers.gateway.metrics")
    ]
    assert [str(edge) for edge in upward(edges)] == [
        "strangers.core.rules (line 2) imports strangers.gateway.app"
    ]
