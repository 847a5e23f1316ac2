"""The package's layers (issue 19), checked on the source as import-linter's layers contract
would check them: a module imports only from its own layer or the layers below, Qt only in
the UI and the benchmarks, and the packages form no cycle.

Every import counts: at module level, inside functions (a lazy import is still a
dependency, and the usual way a cycle hides), under ``if TYPE_CHECKING:``, relative ones
resolved, and ``importlib.import_module`` with a literal name. The check reads the source
with ``ast`` and imports nothing, so it takes milliseconds.

Layers, top to bottom (docs/architecture.md, "Layers"):

- entry: ``explorer.app``, ``explorer.cli``, ``explorer.__main__``;
- ``explorer.bench``: the benchmarks measure the window too;
- ``explorer.ui``: the Qt front end;
- ``explorer.commands``: the subcommands (the entry layer hands them what they need of the
  UI, e.g. the graph command's renderer);
- ``explorer.session``: what the window shows;
- the core, itself ordered bottom to top: the base modules < ``models`` < ``train`` <
  ``graph`` < ``activations`` < ``loading`` < ``explain`` < ``metrics``, ``compare`` <
  ``lessons`` (issue 18: each lesson measures on the layers below it).
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "explorer"

# Bottom to top: (layer name, the top-level modules and packages of ``explorer`` in it).
LAYERS: list[tuple[str, frozenset[str]]] = [
    ("base", frozenset({
        "explorer",  # the package itself: __version__
        "explorer.errors", "explorer.files", "explorer.numbers", "explorer.json_output",
        "explorer.resources", "explorer.lazy", "explorer.devices", "explorer.settings",
        "explorer.platform_check", "explorer.snapshots", "explorer.exports", "explorer.weights_choice",
    })),
    ("models", frozenset({"explorer.models"})),
    ("train", frozenset({"explorer.train"})),
    ("graph", frozenset({"explorer.graph"})),
    ("activations", frozenset({"explorer.activations"})),
    ("loading", frozenset({"explorer.loading"})),
    ("explain", frozenset({"explorer.explain"})),
    ("metrics, compare", frozenset({"explorer.metrics", "explorer.compare"})),
    ("lessons", frozenset({"explorer.lessons"})),
    ("session", frozenset({"explorer.session"})),
    ("commands", frozenset({"explorer.commands"})),
    ("ui", frozenset({"explorer.ui"})),
    ("bench", frozenset({"explorer.bench"})),
    ("entry", frozenset({"explorer.app", "explorer.cli", "explorer.__main__"})),
]
LAYER_OF = {unit: (index, name) for index, (name, units) in enumerate(LAYERS) for unit in units}

QT = ("PySide6", "pyqtgraph", "shiboken6", "superqt")
QT_HOMES = frozenset({"explorer.ui", "explorer.bench"})  # the bench measures the window

# Imports that break the rules, (importing file, imported unit) -> why. Keep it tiny.
ALLOWED: dict[tuple[str, str], str] = {
    ("explorer/bench/startup.py", "explorer.app"):
        "the start-up bench's child process opens the window through the real entry point "
        "(explorer.app.main), as a user does: what it measures is the entry layer itself",
}


@dataclasses.dataclass(frozen=True)
class Import:
    file: str  # relative to the repository, e.g. explorer/ui/main_window.py
    line: int
    target: str  # the absolute module imported, e.g. explorer.graph.trace or PySide6.QtCore


def unit_of(module: str) -> str:
    """The top-level module or package of ``explorer`` that ``module`` belongs to."""
    parts = module.split(".")
    return ".".join(parts[:2])


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _exists(module: str) -> bool:
    path = ROOT.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _literal_prefix(node: ast.expr) -> str | None:
    """The name an ``import_module`` call imports: a literal, or an f-string's literal start."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return str(node.values[0].value).rstrip(".") or None
    return None


def imports_of(source: str, module: str, is_package: bool, file: str) -> list[Import]:
    """Every import in ``source`` (module ``module``): module level, in functions, under
    TYPE_CHECKING, relative ones resolved; ``from pkg import name`` imports ``pkg.name``
    when that is a module, else ``pkg``."""
    found = []
    for node in ast.walk(ast.parse(source, filename=file)):
        if isinstance(node, ast.Import):
            found += [Import(file, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append(Import(file, node.lineno, sub if _exists(sub) else target))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__"):
                target = _literal_prefix(node.args[0])
                if target:
                    found.append(Import(file, node.lineno, target))
    return found


def all_imports() -> list[Import]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        found += imports_of(path.read_text(encoding="utf-8"), _module_name(path), path.name == "__init__.py",
                            path.relative_to(ROOT).as_posix())
    return found


def _unit_of_file(file: str) -> str:
    return unit_of(_module_name(ROOT / file))


def _internal(imports: list[Import]) -> list[tuple[Import, str, str]]:
    """(import, importing unit, imported unit) for the imports of ``explorer`` itself."""
    return [(i, _unit_of_file(i.file), unit_of(i.target)) for i in imports
            if i.target == "explorer" or i.target.startswith("explorer.")]


def layer_violations(imports: list[Import]) -> list[str]:
    lines = []
    for imp, source, target in _internal(imports):
        if source == target or (imp.file, target) in ALLOWED or not {source, target} <= LAYER_OF.keys():
            continue  # a module without a layer fails test_every_module_has_a_layer
        (low, low_name), (high, high_name) = LAYER_OF[source], LAYER_OF[target]
        if high > low:
            lines.append(f"{imp.file}:{imp.line} imports {imp.target} ({high_name} is above {low_name})")
    for imp in imports:
        if imp.target.split(".")[0] in QT and _unit_of_file(imp.file) not in QT_HOMES \
                and (imp.file, imp.target.split(".")[0]) not in ALLOWED:
            lines.append(f"{imp.file}:{imp.line} imports {imp.target} (Qt only in explorer.ui and explorer.bench)")
    return list(dict.fromkeys(lines))  # `from x import a, b` is one line, said once


def unit_graph(imports: list[Import]) -> nx.DiGraph:
    graph = nx.DiGraph()
    for _imp, source, target in _internal(imports):
        graph.add_node(source)
        if source != target:
            graph.add_edge(source, target)
    return graph


def cycles(graph: nx.DiGraph) -> list[str]:
    lines = []
    for component in nx.strongly_connected_components(graph):
        if len(component) > 1:
            cycle = nx.find_cycle(graph.subgraph(component))
            lines.append(" -> ".join([u for u, _ in cycle] + [cycle[0][0]]))
    return lines


# ----------------------------------------------------------------------------- the checks

IMPORTS = all_imports()


def test_the_walker_sees_every_kind_of_import():
    source = (
        "import explorer.ui.theme\n"
        "from . import sibling\n"
        "from ..graph import trace\n"
        "def f():\n    from explorer.session import Session\n    import PySide6.QtCore\n"
        "if TYPE_CHECKING:\n    from explorer.commands import options\n"
        "importlib.import_module('explorer.bench.graph')\n"
        "importlib.import_module(f'explorer.app.{name}')\n"
    )
    found = imports_of(source, "explorer.explain.me", False, "explorer/explain/me.py")
    assert sorted((i.line, i.target) for i in found) == [
        (1, "explorer.ui.theme"), (2, "explorer.explain"), (3, "explorer.graph.trace"),
        (5, "explorer.session"), (6, "PySide6.QtCore"), (8, "explorer.commands.options"),
        (9, "explorer.bench.graph"), (10, "explorer.app"),
    ]
    lines = layer_violations(found)
    assert [line.split(" (")[0] for line in sorted(lines, key=lambda s: int(s.split(":")[1].split()[0]))] == [
        "explorer/explain/me.py:1 imports explorer.ui.theme",
        "explorer/explain/me.py:5 imports explorer.session",
        "explorer/explain/me.py:6 imports PySide6.QtCore",
        "explorer/explain/me.py:8 imports explorer.commands.options",
        "explorer/explain/me.py:9 imports explorer.bench.graph",
        "explorer/explain/me.py:10 imports explorer.app",
    ]
    (found_cycle,) = cycles(nx.DiGraph([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]))
    assert sorted(found_cycle.split(" -> ")[:-1]) == ["a", "b", "c"]


def test_every_module_has_a_layer():
    units = {_unit_of_file(i.file) for i in IMPORTS} | {unit_of(_module_name(p)) for p in PACKAGE.rglob("*.py")}
    missing = sorted(units - set(LAYER_OF))
    assert not missing, f"place these in LAYERS (tests/core/test_import_layers.py): {missing}"
    assert len(IMPORTS) > 500  # the walker found the imports at all


def test_no_module_imports_a_layer_above_its_own_or_qt_outside_the_ui():
    lines = layer_violations(IMPORTS)
    assert not lines, "imports against the layers:\n" + "\n".join(lines)


def test_every_allowed_exception_is_still_needed():
    used = {(i.file, unit_of(i.target)) for i in IMPORTS} | {(i.file, i.target.split(".")[0]) for i in IMPORTS}
    stale = sorted(key for key in ALLOWED if key not in used)
    assert not stale, f"these imports are gone: remove them from ALLOWED: {stale}"


def test_the_packages_form_no_cycle():
    graph = unit_graph(IMPORTS)
    assert graph.number_of_edges() > 30
    found = cycles(graph)
    assert not found, "package import cycles:\n" + "\n".join(found)
