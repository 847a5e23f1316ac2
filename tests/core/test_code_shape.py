"""The shape of the code itself: no import cycles, no module over 400 lines without a reason.

Both checks read the source with ``ast`` and import nothing, so they take milliseconds and
hold whatever the installed libraries are.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[2] / "explorer"
MAX_LINES = 400
REASON = "Over 400 lines because"

# Known cycles, each the set of modules on one cycle (a strongly connected component): none.
ALLOWED_CYCLES: list[frozenset[str]] = []

# Modules over the limit without a reason at their top: none.
ALLOWED_LONG: set[str] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module an ``from X import ...`` names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    # In a package's __init__, "." is the package itself; elsewhere, the module's parent.
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """Modules of the package that ``tree`` imports, at module level and inside functions.

    Function-level imports count: a lazy import inside a function is the usual way a
    cycle hides (``models/_api.py`` once imported the architectures that import it), and
    it closes at run time just the same. Imports under ``if TYPE_CHECKING:`` count too,
    as import-linter counts them by default: two modules that need each other's types
    are one design split in two, even when the cycle never closes at run time.
    ``from pkg import name`` is an edge to ``pkg.name`` when that is a
    module, else to ``pkg``; the implicit import of a module's parent packages is not an
    edge (every package ``__init__`` that re-exports its submodules would be a cycle).
    """
    found: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        stack.extend(ast.iter_child_nodes(node))
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    found.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, is_package, node)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in known:
                    found.add(sub)
                elif target in known:
                    found.add(target)
    found.discard(module)
    return found


def import_graph() -> nx.DiGraph:
    modules = _modules()
    known = set(modules)
    graph = nx.DiGraph()
    graph.add_nodes_from(known)
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for target in _imports(tree, module, path.name == "__init__.py", known):
            graph.add_edge(module, target)
    return graph


def _cycles(graph: nx.DiGraph) -> list[frozenset[str]]:
    # One entry per strongly connected component: every module that sits on some cycle
    # with the others (listing elementary cycles instead can explode combinatorially).
    return [frozenset(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]


def test_the_import_walker_sees_relative_absolute_function_level_and_typing_imports():
    source = (
        "from . import sibling\n"
        "from .other import thing\n"
        "import explorer.a.deep\n"
        "def f():\n    from explorer.a import lazy\n"
        "if TYPE_CHECKING:\n    from explorer.a import typing_only\n"
    )
    known = {"explorer.a", "explorer.a.sibling", "explorer.a.other", "explorer.a.deep",
             "explorer.a.lazy", "explorer.a.typing_only", "explorer.a.me"}
    found = _imports(ast.parse(source), "explorer.a.me", False, known)
    assert found == {"explorer.a.sibling", "explorer.a.other", "explorer.a.deep", "explorer.a.lazy",
                     "explorer.a.typing_only"}
    cyclic = nx.DiGraph([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])
    assert _cycles(cyclic) == [frozenset("abc")]


def test_the_package_has_no_import_cycles():
    graph = import_graph()
    assert graph.number_of_edges() > 50  # the walker found the imports at all
    found = _cycles(graph)
    new = [c for c in found if c not in ALLOWED_CYCLES]
    stale = [c for c in ALLOWED_CYCLES if c not in found]
    lines = []
    for component in new:
        cycle = nx.find_cycle(graph.subgraph(component))
        lines.append(" -> ".join([u for u, _ in cycle] + [cycle[0][0]]))
    assert not new, "import cycles:\n" + "\n".join(lines)
    assert not stale, f"cycles gone, remove them from ALLOWED_CYCLES: {stale}"


def _first_docstring(path: Path) -> str:
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""


def test_no_module_is_over_400_lines_without_a_reason_at_its_top():
    long = {}
    for module, path in _modules().items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            long[module] = lines
    unexplained = {
        m: n for m, n in long.items()
        if m not in ALLOWED_LONG
        and not any(line.strip().startswith(REASON) for line in _first_docstring(_modules()[m]).splitlines())
    }
    assert not unexplained, (
        f"modules over {MAX_LINES} lines; split them or start a docstring line with "
        f"{REASON!r}: {unexplained}"
    )
    stale = sorted(m for m in ALLOWED_LONG if m not in long)
    assert not stale, f"no longer over {MAX_LINES} lines, remove them from ALLOWED_LONG: {stale}"


# Dataset statistics live in explorer/models/_api.py only (IMAGENET_MEAN/STD,
# FASHION_MNIST_MEAN/STD); everything else reads them from there or from ModelInfo.
STATISTICS = {0.485, 0.456, 0.406, 0.229, 0.224, 0.225, 0.2860, 0.3530}
STATISTICS_HOME = "explorer.models._api"
ALLOWED_STATISTICS_COPIES: set[str] = set()


def test_dataset_statistics_are_written_in_one_place():
    copies = set()
    for module, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        values = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
                  and isinstance(n.value, float)}
        if values & STATISTICS:
            copies.add(module)
    assert STATISTICS_HOME in copies  # the check sees the one real home
    extra = copies - {STATISTICS_HOME} - ALLOWED_STATISTICS_COPIES
    assert not extra, f"dataset statistics copied outside {STATISTICS_HOME}: {sorted(extra)}"
    stale = ALLOWED_STATISTICS_COPIES - copies
    assert not stale, f"no copy left, remove them from ALLOWED_STATISTICS_COPIES: {sorted(stale)}"
