"""Package names imported on first use (PEP 562), so importing a package costs nothing.

``explorer.models``, ``explorer.train`` and ``explorer.graph`` re-export names from modules
that import torch; the CLI's snapshot answers, the run list and the window's first screen
import those packages without wanting torch. Each package declares where its names live::

    __getattr__, __dir__ = lazy_names(__name__, {"Trainer": "engine", ...})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_names(package: str, where: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` for ``package``.

    Args:
        package: the package's ``__name__``.
        where: each public name and the submodule (relative to ``package``) defining it.
    """

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module hook's own name
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)  # later lookups skip this hook
        return value

    def __dir__() -> list[str]:  # noqa: N807 - the module hook's own name
        return sorted({*vars(sys.modules[package]), *where})

    return __getattr__, __dir__
