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


# Every file the app writes goes through explorer/files.py (issue 17): temporary beside the
# file, fsync, rename, so a failure leaves the old file whole and no temporary. Modules that
# must write another way, each with the reason (kept short, and every entry must still write).
FILES_HOME = "explorer.files"
ALLOWED_DIRECT_WRITES: dict[str, str] = {
    "explorer.commands.train": "`train --log` appends one CSV row per epoch as training runs",
    "explorer.models.weights": "a torchvision weights download is streamed to a .part file, "
                               "hash-checked, then renamed into place (too large for memory)",
    "explorer.train.history": "a run record's lock file: os.open + flock, empty, removed on release",
    "explorer.train.checkpoint": "a checkpoint's lock file: os.open + flock, the holder's pid "
                                 "written in place (a held lock cannot be renamed into place)",
    "explorer.bench.open_model": "the bench's own temporary folder: the ResNet-50 program, class and "
                                 "state dict it opens, written once by torch's savers and deleted with it",
}
_MEMORY = ("BytesIO", "StringIO", "QBuffer", "QByteArray")
_MODE = set("rwabxt+U")
_PATHISH = ("path", "file", "name", "out", "target", "dest")


def _dotted(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # noqa: BLE001 - a node unparse cannot handle is no name
        return ""


def _memory_names(tree: ast.AST) -> set[str]:
    """Names bound to an in-memory buffer anywhere in the module (assigned from a
    ``BytesIO``/``QBuffer``/... call, or a parameter annotated with one)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and any(
                _dotted(node.value.func).endswith(m) for m in _MEMORY):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.arg) and node.annotation is not None and any(
                m in _dotted(node.annotation) or "IO[" in _dotted(node.annotation) for m in _MEMORY):
            names.add(node.arg)
    return names


def _in_memory(node: ast.AST | None, memory: set[str]) -> bool:
    if isinstance(node, ast.Name):
        return node.id in memory
    return isinstance(node, ast.Call) and any(_dotted(node.func).endswith(m) for m in _MEMORY)


def _pathish(node: ast.AST) -> bool:
    """An argument that reads as a file name: a string, ``str(x)``, or a name saying so."""
    if isinstance(node, (ast.Constant, ast.JoinedStr)):
        return isinstance(node, ast.JoinedStr) or isinstance(node.value, str)
    if isinstance(node, ast.Call) and _dotted(node.func) in ("str", "os.fspath"):
        return True
    return isinstance(node, (ast.Name, ast.Attribute)) and any(w in _dotted(node).lower() for w in _PATHISH)


def _writing_mode(node: ast.AST | None) -> bool:
    """Whether an ``open`` mode may write: any mode string in it with w, a, x or +, or a
    mode that is no literal at all (cannot be shown to be read-only)."""
    if node is None:
        return False
    modes = [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    return not modes or any(set(m) & set("wax+") for m in modes)


def _arg(call: ast.Call, index: int, keyword: str) -> ast.AST | None:
    if len(call.args) > index:
        return call.args[index]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


def direct_writes(source: str) -> list[str]:
    """``line: call`` for each place ``source`` writes a file without explorer/files.py."""
    tree = ast.parse(source)
    memory = _memory_names(tree)
    found = []
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        name = _dotted(call.func)
        attr = call.func.attr if isinstance(call.func, ast.Attribute) else name
        receiver = _dotted(call.func.value) if isinstance(call.func, ast.Attribute) else ""
        first = call.args[0] if call.args else None
        bad = (
            name in ("os.replace", "os.rename", "os.renames", "tempfile.mkstemp", "tempfile.NamedTemporaryFile",
                     "shutil.copy", "shutil.copy2", "shutil.copyfile", "shutil.copytree", "shutil.move",
                     "mkstemp", "NamedTemporaryFile")
            or attr in ("write_text", "write_bytes", "setFileName")
            or (name in ("open", "io.open", "os.fdopen", "codecs.open") and _writing_mode(_arg(call, 1, "mode")))
            or (attr == "open" and name not in ("open", "io.open", "os.fdopen", "codecs.open", "os.open")
                and isinstance(mode := _arg(call, 0, "mode"), ast.Constant) and isinstance(mode.value, str)
                and set(mode.value) <= _MODE and _writing_mode(mode))
            or (name == "os.open" and any(f in _dotted(_arg(call, 1, "flags") or ast.Constant(0))
                                          for f in ("O_CREAT", "O_TRUNC", "O_APPEND")))
            or (name == "torch.save" and not _in_memory(_arg(call, 1, "f"), memory))
            or (name.split(".")[0] in ("np", "numpy") and attr in ("save", "savez", "savez_compressed", "savetxt")
                and not _in_memory(first, memory))
            or (attr == "save" and name != "torch.save" and first is not None and not _in_memory(first, memory)
                and (_pathish(first) or len(call.args) > 1 or any(k.arg == "format" for k in call.keywords)))
            or (attr == "export" and "exporter" in receiver.lower() and first is not None
                and not _in_memory(first, memory))
            or (name in ("QImageWriter", "QPdfWriter", "QSaveFile") and first is not None
                and not _in_memory(first, memory))
        )
        if bad:
            found.append(f"{call.lineno}: {name}")
    return found


def test_the_write_finder_sees_each_way_of_writing_a_file():
    writes = [
        "os.replace(a, b)", "os.rename(a, b)", "tempfile.mkstemp(dir=d)", "tempfile.NamedTemporaryFile('w')",
        "p.write_text('x')", "p.write_bytes(b'x')", "open(p, 'w')", "open(p, mode='ab')", "open(p, 'x')",
        "open(p, 'a' if append else 'w')", "open(p, mode)", "os.fdopen(fd, 'wb')", "p.open('w')",
        "os.open(p, os.O_RDWR | os.O_CREAT)", "torch.save(obj, path)", "torch.save(obj, 'x.pt')",
        "shutil.copy(a, b)", "shutil.copyfile(a, b)", "shutil.move(a, b)", "image.save(path, 'PNG')",
        "widget.grab().save(str(p))", "pixmap.save(target)", "generator.setFileName(str(p))",
        "exporter.export(str(p))", "np.save(path, x)",
    ]
    reads = [
        "buffer = io.BytesIO()\ntorch.save(obj, buffer)", "torch.save(obj, io.BytesIO())",
        "buffer = QBuffer(data)\nimage.save(buffer, 'PNG')", "def f(buffer: QBuffer):\n    image.save(buffer, 'PNG')",
        "open(p)", "open(p, 'rb')", "p.open()", "buffer.open(QIODevice.OpenModeFlag.WriteOnly)",
        "webbrowser.open('https://example.org/wiki')", "os.open(os.devnull, os.O_WRONLY)",
        "painter.save()", "self.save()", "history.save(record)", "exporter.export(toBytes=True)",
        "files.replace(tmp, path)", "write_atomic(path, data)", "text.replace('a', 'b')",
        "dataclasses.replace(state, x=1)", "view.export(named, confirmed=True)",
    ]
    for line in writes:
        assert direct_writes(line), f"not seen as a write: {line}"
    for snippet in reads:
        assert not direct_writes(snippet), f"seen as a write: {snippet}"


def test_files_are_written_only_through_explorer_files():
    writers = {}
    for module, path in _modules().items():
        if module != FILES_HOME and (found := direct_writes(path.read_text(encoding="utf-8"))):
            writers[module] = found
    assert direct_writes(_modules()[FILES_HOME].read_text(encoding="utf-8"))  # the finder sees the real home
    unexplained = {m: sites for m, sites in writers.items() if m not in ALLOWED_DIRECT_WRITES}
    assert not unexplained, (
        "modules writing files directly; write through explorer.files (write_atomic, write_json, "
        f"exports.write_export) or add them to ALLOWED_DIRECT_WRITES with the reason: {unexplained}"
    )
    stale = sorted(m for m in ALLOWED_DIRECT_WRITES if m not in writers)
    assert not stale, f"no direct write left, remove them from ALLOWED_DIRECT_WRITES: {stale}"
