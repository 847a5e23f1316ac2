"""The core packages must run without Qt (STYLE.md rule 1): import every module of
models, graph, activations, train and explain in a process where PySide6, pyqtgraph and superqt cannot
be imported, and check explorer.ui was never pulled in."""

import subprocess
import sys
import textwrap

CHECK = textwrap.dedent(
    """
    import importlib, importlib.abc, pkgutil, sys

    BLOCKED = ("PySide6", "pyqtgraph", "superqt", "shiboken6")

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"Qt is blocked in the core: {name}")
            return None

    sys.meta_path.insert(0, Block())
    import explorer
    count = 0
    for package in ("explorer.models", "explorer.graph", "explorer.activations", "explorer.train", "explorer.metrics",
                    "explorer.explain"):
        module = importlib.import_module(package)
        count += 1
        for info in pkgutil.walk_packages(module.__path__, package + "."):
            importlib.import_module(info.name)
            count += 1
    leaked = sorted(m for m in sys.modules if m.startswith("explorer.ui") or m.split(".")[0] in BLOCKED)
    assert not leaked, leaked
    print(count)
    """
)


def test_core_imports_without_qt():
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout.split()[-1]) >= 8  # the four packages and their modules


def test_importing_explorer_is_light():
    """`import explorer` (and the CLI module) must not import torch or Qt: the window
    appears before the heavy libraries load."""
    code = "import sys, explorer, explorer.cli, explorer.settings; " \
           "print(sorted(m for m in ('torch', 'PySide6', 'torchvision') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
