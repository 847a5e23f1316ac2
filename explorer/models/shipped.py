"""Fashion-MNIST weights shipped with the package (placeholder on this branch).

The shipped-weights branch replaces this module with the real one; until then no model
has shipped weights, and the rest of the app is written against these two functions.
"""

from __future__ import annotations

from typing import Any

from explorer.errors import ModelError


def shipped_entry(name: str) -> Any | None:
    """The shipped entry for ``name`` (with ``.test_accuracy``), or None when none ships."""
    return None


def load_shipped(model: Any, name: str) -> Any:
    """Load ``name``'s shipped weights into ``model``.

    Raises:
        ModelError: no weights ship for ``name``.
    """
    raise ModelError(f"no shipped weights for {name}")
